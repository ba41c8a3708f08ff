import { ErrorCodes, SwitchyardError } from '../core/errors.js';

/**
 * The lifecycle of one proxied connection. Numbered so that "closing or later" is `>= Closing`.
 *
 * connecting ─▶ open ─▶ client-ended ──┬─▶ draining ─▶ (closing) ─▶ closed
 *                  └──▶ upstream-ended ─┘
 * Every state but closed may go to closing (the proxy or a reset ends the session) or straight to closed (both
 * sockets closed).
 */
export const SessionState = {
  /** The upstream connect is in flight; the client socket is paused. */
  Connecting: 0,
  /** Both sockets are wired; bytes flow both ways. */
  Open: 1,
  /** The client's FIN went to the upstream; the server may still answer. */
  ClientEnded: 2,
  /** The upstream's FIN went to the client; the client may still send. */
  UpstreamEnded: 3,
  /** Both FINs were forwarded; the sockets close once what was written is flushed. */
  Draining: 4,
  /** Ended by the proxy (close, destroy, idle timeout, error) or by a peer's reset; the sockets are closing. */
  Closing: 5,
  /** Both sockets closed; stats counted, `onClose` called. */
  Closed: 6,
} as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

const NAMES: readonly string[] = ['connecting', 'open', 'client-ended', 'upstream-ended', 'draining', 'closing', 'closed'];

const S = SessionState;
const bit = (...states: SessionState[]): number => states.reduce<number>((m, s) => m | (1 << s), 0);
/** EDGES[from] has bit `to` set when from → to is allowed. */
const EDGES: readonly number[] = [
  bit(S.Open, S.Closing, S.Closed),
  bit(S.ClientEnded, S.UpstreamEnded, S.Closing, S.Closed),
  bit(S.Draining, S.Closing, S.Closed),
  bit(S.Draining, S.Closing, S.Closed),
  bit(S.Closing, S.Closed),
  bit(S.Closed),
  0,
];

export function sessionCanMove(from: SessionState, to: SessionState): boolean {
  return (EDGES[from]! & (1 << to)) !== 0;
}

export function sessionStateName(state: SessionState): string {
  return NAMES[state]!;
}

/** The state a forwarded FIN in `toUpstream` (the client's) or `toDownstream` (the upstream's) leads to, if any. */
export function afterFin(state: SessionState, clientFin: boolean): SessionState | undefined {
  if (state === S.Open) return clientFin ? S.ClientEnded : S.UpstreamEnded;
  if (state === (clientFin ? S.UpstreamEnded : S.ClientEnded)) return S.Draining;
  return undefined; // already recorded, or the session is closing
}

/** The typed error an illegal transition is reported as (logged and counted; it never throws out of an event). */
export function illegalTransition(what: string, from: string, to: string): SwitchyardError {
  return new SwitchyardError(ErrorCodes.INTERNAL, `${what}: illegal state transition ${from} → ${to}`, { details: { from, to } });
}
