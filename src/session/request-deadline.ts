import type { MessageInfo } from '../protocols/protocol.js';
import { ErrorCodes, type ErrorCode } from '../core/errors.js';

/** A protocol listener's limits on how a request arrives (ms; 0 = off). */
export interface RequestLimits {
  /** From a request's first byte (the first request: from the session being opened) to its head (start frame). */
  readonly headerTimeout: number;
  /** From a request's first byte to its last (end frame). */
  readonly requestTimeout: number;
  /** Least bytes per second of a request in progress, measured once `grace` ms have passed; 0 = off. */
  readonly minBytesPerSecond: number;
  readonly grace: number;
}

export type RequestExpiry = 'header_timeout' | 'request_timeout' | 'too_slow';

/** The code each expiry is counted as (whether or not the client then gets an answer). */
export const EXPIRY_CODES: Readonly<Record<RequestExpiry, ErrorCode>> = {
  header_timeout: ErrorCodes.REQUEST_HEADER_TIMEOUT,
  request_timeout: ErrorCodes.REQUEST_TIMEOUT,
  too_slow: ErrorCodes.REQUEST_TOO_SLOW,
};

/** The message the client's error reply carries, naming the limit. */
export function expiryMessage(kind: RequestExpiry, l: RequestLimits, rate: number): string {
  if (kind === 'header_timeout') return `switchyard: request head not received within requestHeaderTimeout (${l.headerTimeout} ms)`;
  if (kind === 'request_timeout') return `switchyard: request not received within requestTimeout (${l.requestTimeout} ms)`;
  return `switchyard: request arriving at ${rate} bytes/s, below minDataRate (${l.minBytesPerSecond} bytes/s)`;
}

/** True when at least one limit is on (else a session needs no clock at all). */
export function limitsActive(l: RequestLimits): boolean {
  return l.headerTimeout > 0 || l.requestTimeout > 0 || l.minBytesPerSecond > 0;
}

/** How often the data rate of a request in progress is checked once its grace period is over. */
const RATE_CHECK_MS = 1000;

/**
 * When the request in progress on one protocol session must be complete, with one timer per session at most: the
 * timer is armed when a request starts while none is armed, and re-armed by itself (from the current state) when it
 * fires; a request that completes leaves it to fire once and go quiet. Per chunk the cost is a clock read and two
 * additions; per decoded request frame two field checks.
 */
export class RequestDeadline {
  readonly #limits: RequestLimits;
  /** `answerable`: bytes of the request arrived and nothing was answered since it began. */
  readonly #expire: (kind: RequestExpiry, answerable: boolean, rate: number) => void;
  /** Date.now() at the current request's first byte (at open for the first request); 0 = none in progress. */
  #start = 0;
  /** The start of the rate window: the request's first byte, or the last answer byte written since. */
  #windowStart = 0;
  #windowBytes = 0;
  #headDone = false;
  /** A byte of the current request arrived (a silent first request is closed without an answer). */
  #gotBytes = false;
  /** Bytes of an answer went to the client while this request was in progress (a refusal would be a second answer). */
  #answered = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(limits: RequestLimits, expire: (kind: RequestExpiry, answerable: boolean, rate: number) => void) {
    this.#limits = limits;
    this.#expire = expire;
  }

  /** The session is open: the first request must arrive within the header timeout from now. */
  begin(): void {
    this.#start = Date.now();
    this.#headDone = false;
    this.#gotBytes = false;
    this.#arm();
  }

  /** Bytes of a request arrived from the client. */
  onBytes(n: number): void {
    if (this.#stopped) return;
    if (this.#start === 0) {
      this.#start = Date.now();
      this.#headDone = false;
      this.#gotBytes = false;
      this.#answered = false;
      this.#arm();
    }
    if (!this.#gotBytes) {
      this.#gotBytes = true;
      this.#windowStart = Date.now();
      this.#windowBytes = 0;
    }
    this.#windowBytes += n;
  }

  /** A request frame was decoded. */
  onFrame(info: MessageInfo | undefined): void {
    if (info === undefined || this.#stopped) return;
    if (info.opaque === true) {
      // a tunnel (HTTP Upgrade/CONNECT, TLS after SSLRequest): no requests any more
      this.stop();
      return;
    }
    if (info.start) this.#headDone = true;
    if (info.end) this.#start = 0;
  }

  /** After a read was decoded: bytes of a next request already held by the framer start that request now. */
  settle(bufferedBytes: number): void {
    if (this.#stopped || this.#start !== 0 || bufferedBytes === 0) return;
    this.#start = Date.now();
    this.#headDone = false;
    this.#gotBytes = true;
    this.#answered = false;
    this.#windowStart = this.#start;
    this.#windowBytes = bufferedBytes;
    this.#arm();
  }

  /** Bytes of an answer went to the client: the client may be waiting for it (100 Continue), so the rate window restarts. */
  onAnswer(): void {
    // before any byte of the request (a greeting, an answer to the previous one) it answers nothing of this one
    if (this.#start === 0 || !this.#gotBytes) return;
    this.#answered = true;
    if (this.#limits.minBytesPerSecond === 0) return;
    this.#windowStart = Date.now();
    this.#windowBytes = 0;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    const next = this.#nextCheck(Date.now());
    if (next !== undefined) this.#timer = setTimeout(() => this.#check(), next).unref();
  }

  /** ms until the earliest limit of the request in progress falls due, or undefined when none can. */
  #nextCheck(now: number): number | undefined {
    if (this.#start === 0) return undefined;
    const l = this.#limits;
    let at = Infinity;
    if (!this.#headDone && l.headerTimeout > 0) at = Math.min(at, this.#start + l.headerTimeout);
    if (l.requestTimeout > 0) at = Math.min(at, this.#start + l.requestTimeout);
    if (l.minBytesPerSecond > 0) at = Math.min(at, this.#gotBytes ? Math.max(this.#windowStart + l.grace, now + RATE_CHECK_MS) : now + RATE_CHECK_MS);
    return at === Infinity ? undefined : Math.max(1, at - now);
  }

  #check(): void {
    this.#timer = undefined;
    if (this.#stopped || this.#start === 0) return;
    const now = Date.now();
    const l = this.#limits;
    const expired: RequestExpiry | undefined =
      !this.#headDone && l.headerTimeout > 0 && now - this.#start >= l.headerTimeout
        ? 'header_timeout'
        : l.requestTimeout > 0 && now - this.#start >= l.requestTimeout
          ? 'request_timeout'
          : undefined;
    if (expired === undefined && l.minBytesPerSecond > 0 && this.#gotBytes && now - this.#windowStart >= l.grace) {
      const rate = (this.#windowBytes * 1000) / (now - this.#windowStart);
      if (rate < l.minBytesPerSecond) {
        this.stop();
        this.#expire('too_slow', !this.#answered, Math.floor(rate));
        return;
      }
    }
    if (expired !== undefined) {
      this.stop();
      this.#expire(expired, this.#gotBytes && !this.#answered, 0);
      return;
    }
    this.#arm();
  }
}
