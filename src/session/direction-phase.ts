/**
 * Where one direction of a framed session stands (the framed path keeps one per direction).
 *
 * flowing ⇄ held            frames are pumped as they arrive / a handler's promise holds the direction
 *    │        │ (FIN arrives)
 *    ▼        ▼
 * finishing ⇄ held-finishing  the source sent FIN; the frames before it still go through
 *    │
 *    ├─▶ ending ─▶ ended      every frame went through; handlers' onEnd pending / the FIN was handed on
 *    └───────────▶ ended
 */
export const DirectionPhase = {
  Flowing: 0,
  Finishing: 1,
  Held: 2,
  HeldFinishing: 3,
  Ending: 4,
  Ended: 5,
} as const;
export type DirectionPhase = (typeof DirectionPhase)[keyof typeof DirectionPhase];

const NAMES: readonly string[] = ['flowing', 'finishing', 'held', 'held-finishing', 'ending', 'ended'];

const P = DirectionPhase;
const bit = (...phases: DirectionPhase[]): number => phases.reduce<number>((m, p) => m | (1 << p), 0);
/** EDGES[from] has bit `to` set when from → to is allowed. */
const EDGES: readonly number[] = [
  bit(P.Held, P.Finishing),
  bit(P.HeldFinishing, P.Ending, P.Ended),
  bit(P.Flowing, P.HeldFinishing),
  bit(P.Finishing),
  bit(P.Ended),
  0,
];

export function phaseCanMove(from: DirectionPhase, to: DirectionPhase): boolean {
  return (EDGES[from]! & (1 << to)) !== 0;
}

export function phaseName(phase: DirectionPhase): string {
  return NAMES[phase]!;
}

/** The phase a handler's pending promise puts the direction in, and the one its settling returns it to. */
export function heldPhase(phase: DirectionPhase): DirectionPhase {
  return phase === P.Finishing ? P.HeldFinishing : P.Held;
}
export function releasedPhase(phase: DirectionPhase): DirectionPhase {
  return phase === P.HeldFinishing ? P.Finishing : P.Flowing;
}
