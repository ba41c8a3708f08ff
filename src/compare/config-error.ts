import { ErrorCodes, SwitchyardError } from '../core/errors.js';

/** The error for a bad comparison option (mask, regex, header name): SWY_CONFIG_INVALID with `message`. */
export function configError(message: string): SwitchyardError {
  return new SwitchyardError(ErrorCodes.CONFIG_INVALID, message);
}
