/**
 * The one error type of the HTTP servers and the one place that turns any thrown error into an HTTP status. Each
 * server formats the body itself (its own wire format); the status and the extra headers come from here.
 */
import { ErrorCodes, SwitchyardError, errorCode, type ErrorCode } from '../core/errors.js';

/** An error that names its HTTP status (and headers such as `Allow` or `WWW-Authenticate`) itself. */
export class HttpError extends SwitchyardError {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, code: ErrorCode, message: string, options: { headers?: Record<string, string>; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(code, message, { cause: options.cause, details: options.details });
    this.name = 'HttpError';
    this.status = status;
    this.headers = options.headers ?? {};
  }
}

/** The status of a switchyard error code; any other code (a bug, a Node system error) is a 500. */
const STATUS_OF_CODE: Readonly<Record<string, number>> = {
  [ErrorCodes.BAD_REQUEST]: 400,
  [ErrorCodes.CONFIG_INVALID]: 400,
  [ErrorCodes.UNAUTHORIZED]: 401,
  [ErrorCodes.FORBIDDEN]: 403,
  [ErrorCodes.NOT_FOUND]: 404,
  [ErrorCodes.CONFLICT]: 409,
  [ErrorCodes.LISTEN_FAILED]: 409,
};

/** The HTTP status answering `err`: an HttpError's own, else its switchyard code's, else 500. */
export function errorStatus(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  return STATUS_OF_CODE[errorCode(err)] ?? 500;
}

/** The headers an error asks for (`Allow`, `WWW-Authenticate`, ...); none for other errors. */
export function errorHeaders(err: unknown): Readonly<Record<string, string>> {
  return err instanceof HttpError ? err.headers : {};
}

/** The message of anything thrown (its `message`, else its text). */
export function errorMessage(err: unknown): string {
  const message = typeof err === 'object' && err !== null ? (err as { message?: unknown }).message : undefined;
  return typeof message === 'string' ? message : String(err);
}
