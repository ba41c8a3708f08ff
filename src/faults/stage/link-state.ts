import { ErrorCodes, SwitchyardError } from '../../core/errors.js';

/**
 * Where one direction's fault link stands.
 *
 * idle ⇄ delivering        nothing in flight / an item waits inside a fault (later items queue behind it)
 *   └──────┴─▶ ending ─▶ ended   end of stream accepted: queued items, then the FIN, go through / the FIN passed
 * any state ─▶ disposed     the session closed
 */
export const LinkState = {
  Idle: 0,
  Delivering: 1,
  Ending: 2,
  Ended: 3,
  Disposed: 4,
} as const;
export type LinkState = (typeof LinkState)[keyof typeof LinkState];

const NAMES: readonly string[] = ['idle', 'delivering', 'ending', 'ended', 'disposed'];

const L = LinkState;
const bit = (...states: LinkState[]): number => states.reduce<number>((m, s) => m | (1 << s), 0);
/** EDGES[from] has bit `to` set when from → to is allowed. */
const EDGES: readonly number[] = [
  bit(L.Delivering, L.Ending, L.Disposed),
  bit(L.Idle, L.Ending, L.Disposed),
  bit(L.Ended, L.Disposed),
  bit(L.Disposed),
  0,
];

export function linkCanMove(from: LinkState, to: LinkState): boolean {
  return (EDGES[from]! & (1 << to)) !== 0;
}

export function linkStateName(state: LinkState): string {
  return NAMES[state]!;
}

/** The typed error an illegal transition is reported as (logged; it never throws out of a fault's callback). */
export function illegalLinkTransition(what: string, from: LinkState, to: LinkState): SwitchyardError {
  const f = linkStateName(from);
  const t = linkStateName(to);
  return new SwitchyardError(ErrorCodes.INTERNAL, `${what}: illegal state transition ${f} → ${t}`, { details: { from: f, to: t } });
}
