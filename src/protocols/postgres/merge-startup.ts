/**
 * PostgreSQL startup on a merge route (N variants share one backend connection). The proxy answers each variant's
 * startup itself — SSLRequest/GSSENCRequest refused with 'N', a CancelRequest connection closed (it would cancel
 * every variant's work), the variant authenticated per the merge's `postgres.auth` — and logs into the real server
 * once per group with `postgres.backend`, then greets every variant with the server's ParameterStatus messages, a
 * BackendKeyData of its own and ReadyForQuery.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import type { BackendStartup, BackendStartupStep, MergeStartup, MergeStartupHooks, VariantStartup, VariantStartupStep } from '../protocol.js';
import type { PgAuthMethod } from './auth-messages.js';
import { BackendAuth, type BackendReady } from './backend-auth.js';
import { DEFAULT_SQLSTATE } from './codec.js';
import { FrontendAuth, type FrontendAuthStep } from './frontend-auth.js';
import { BE, CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, SSL_REQUEST_CODE, encodeErrorResponse, encodeMessage, encodeReadyForQuery, parseStartupParameters } from './messages.js';

/** The merge config's `postgres` block (validated by the merge config schema; documented in docs/nvariant.md). */
export interface PostgresMergeOptions {
  /** How variants authenticate to the proxy. */
  readonly auth: { readonly method: PgAuthMethod; readonly users: Readonly<Record<string, string>> };
  /** How the proxy authenticates to the real server; user/database default to what the variants asked for. */
  readonly backend: { readonly user?: string | undefined; readonly password?: string | undefined; readonly database?: string | undefined };
}

/** The answer to SSLRequest / GSSENCRequest: no encryption between the variants and the proxy. */
const REFUSE_ENCRYPTION = Buffer.from('N');
/** Startup parameters the variants of one group must agree on. */
const SESSION_KEYS = ['user', 'database'];

/** One variant's startup: encryption refused, then the StartupMessage and authentication. */
class PgVariantStartup implements VariantStartup {
  readonly #auth: FrontendAuth;
  /** The StartupMessage parameters, once received. */
  params: Record<string, string> | undefined;

  constructor(auth: FrontendAuth) {
    this.#auth = auth;
  }

  next(frame: Buffer): VariantStartupStep {
    if (this.params) return authStep(this.#auth.next(frame));
    const code = frame.length >= 8 ? frame.readUInt32BE(4) : 0;
    if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) return { send: [REFUSE_ENCRYPTION], outcome: 'more' };
    if (code === CANCEL_REQUEST_CODE) return { send: [], outcome: 'close' };
    const params = parseStartupParameters(frame.subarray(8));
    if (!params) {
      return {
        send: [encodeErrorResponse([['S', 'FATAL'], ['V', 'FATAL'], ['C', '08P01'], ['M', 'invalid startup packet']])],
        outcome: 'end',
      };
    }
    this.params = params;
    return authStep(this.#auth.begin(params));
  }
}

function authStep(step: FrontendAuthStep): VariantStartupStep {
  return { send: step.send, outcome: step.error ? 'end' : step.done ? 'done' : 'more' };
}

/** The group's login to the real server. */
class PgBackendStartup implements BackendStartup {
  readonly #auth: BackendAuth;
  #ready: BackendReady | undefined;

  constructor(auth: BackendAuth) {
    this.#auth = auth;
  }

  begin(): Buffer[] {
    return [this.#auth.startup()];
  }

  next(frame: Buffer): BackendStartupStep {
    const step = this.#auth.next(frame);
    if (step.error) return { send: step.send, error: step.error.message };
    if (!step.ready) return { send: step.send };
    this.#ready = step.ready;
    return { send: step.send, done: true };
  }

  /** The backend's ParameterStatus messages, a BackendKeyData of our own (one per variant), ReadyForQuery. */
  welcome(): Buffer[] {
    const ready = this.#ready;
    if (!ready) throw new SwitchyardError(ErrorCodes.INTERNAL, 'postgres merge: welcome() before the backend was ready');
    const key = Buffer.alloc(8);
    key.writeUInt32BE(process.pid & 0x7fffffff, 0);
    randomBytes(4).copy(key, 4);
    return [...ready.parameterMessages, encodeMessage(BE.BackendKeyData, key), encodeReadyForQuery(ready.txStatus)];
  }
}

class PgMergeStartup implements MergeStartup {
  readonly #options: PostgresMergeOptions;

  constructor(options: PostgresMergeOptions) {
    this.#options = options;
  }

  variant(): PgVariantStartup {
    return new PgVariantStartup(new FrontendAuth(this.#options.auth));
  }

  /** The variants must at least ask for the same user and database. */
  mismatch(variants: readonly VariantStartup[], names: readonly string[]): string | undefined {
    const first = paramsOf(variants[0]) ?? {};
    const odd = variants.filter((v) => SESSION_KEYS.some((k) => (paramsOf(v)?.[k] ?? '') !== (first[k] ?? '')));
    if (odd.length === 0) return undefined;
    const asked = variants.map((v, i) => `${names[i] ?? ''}=${String(paramsOf(v)?.['user'])}@${String(paramsOf(v)?.['database'])}`);
    return `startup parameters differ: ${asked.join(', ')}`;
  }

  backend(variants: readonly VariantStartup[]): PgBackendStartup {
    const s = paramsOf(variants[0]) ?? {};
    const b = this.#options.backend;
    return new PgBackendStartup(
      new BackendAuth({ user: b.user ?? s['user'] ?? 'postgres', database: b.database ?? s['database'] ?? s['user'] ?? 'postgres', password: b.password, parameters: pickParams(s) }),
    );
  }

  failure(message: string): Buffer[] {
    return [encodeErrorResponse([['S', 'ERROR'], ['V', 'ERROR'], ['C', DEFAULT_SQLSTATE], ['M', message]]), encodeReadyForQuery('I')];
  }
}

function paramsOf(v: VariantStartup | undefined): Record<string, string> | undefined {
  return v instanceof PgVariantStartup ? v.params : undefined;
}

/** Startup parameters worth passing on to the backend (not user/database, which the config may override). */
function pickParams(s: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s)) if (k !== 'user' && k !== 'database' && k !== 'replication') out[k] = v;
  return out;
}

/** The shape the merge config schema gives the block (its fields are checked there and by {@link FrontendAuth}). */
function isOptions(o: unknown): o is PostgresMergeOptions {
  if (typeof o !== 'object' || o === null) return false;
  const { auth, backend } = o as Record<string, unknown>;
  return typeof auth === 'object' && auth !== null && typeof backend === 'object' && backend !== null;
}

/** The module's merge-startup hook: active on merge routes with a `postgres` block. */
export const postgresMergeStartup: MergeStartupHooks = {
  create(options: unknown): MergeStartup | undefined {
    if (options === undefined) return undefined;
    if (!isOptions(options)) {
      throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, 'merge postgres: expected { auth: { method, users }, backend: { user, password, database } }');
    }
    return new PgMergeStartup(options);
  },
};
