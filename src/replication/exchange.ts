import { performance } from 'node:perf_hooks';
import type { Logger } from '../core/log.js';
import type { Frame } from '../framing/framer.js';
import type { AnswerAfter, Attributes } from '../protocols/protocol.js';
import type { VariantStatus } from './events.js';
import { REQUEST_KEEP, describeRequest, judge, type Judged } from './judge.js';
import { sameBytes } from './peer.js';
import type { ReplicaEnv } from './replicate-env.js';
import { tally } from './vote.js';

/**
 * Where an exchange is, from the client's point of view. The variants' answers run alongside: `pending` counts the
 * ones still owed, and with policy `primary` they may still arrive after the client has the primary's answer.
 *
 *   waiting ───────────────────► decided ──► delivered
 *     │   └──► streaming ──────────┘
 *     │            │
 *     └────────────┴─────────────► blocked     (terminal: the session closes after the error reply)
 *
 * `to()` is the only place the phase changes; it refuses any other edge.
 */
export enum ExchangePhase {
  /** The request is (being) sent; what the client gets is not settled. */
  Waiting,
  /** policy `primary`: part of the primary's answer already reached the client; it is not complete yet. */
  Streaming,
  /** The client's answer is settled (the variant to serve, or the primary's); it leaves in request order. */
  Decided,
  /** Settled as blocked: when its turn comes the client gets the protocol's error and the connection closes. */
  Blocked,
  /** The client has its answer; nothing more is owed to it. Requests that expect no answer start here. */
  Delivered,
}

const PHASE_NAMES = ['waiting', 'streaming', 'decided', 'blocked', 'delivered'] as const;

/** The allowed edges, as a bit mask of next phases per phase. */
const NEXT: readonly number[] = [
  /* Waiting   */ (1 << ExchangePhase.Streaming) | (1 << ExchangePhase.Decided) | (1 << ExchangePhase.Blocked),
  /* Streaming */ (1 << ExchangePhase.Decided) | (1 << ExchangePhase.Blocked),
  /* Decided   */ 1 << ExchangePhase.Delivered,
  /* Blocked   */ 0,
  /* Delivered */ 0,
];

/**
 * The empty frame list a slot's `out` starts with and goes back to, shared (only policy `primary` streams frames
 * through it): no array per slot per request. Never pushed to; a slot that needs frames gets its own array.
 */
export const NO_FRAMES: Frame[] = [];

/** One variant's answer to one exchange. */
export interface Slot {
  frames: Frame[];
  bytes: number;
  /** Responses still expected (a request may get several). */
  left: number;
  done: boolean;
  status: VariantStatus;
  latencyMs: number | undefined;
  /** policy `primary`, the primary's slot: frames not yet written to the client. */
  out: Frame[];
  /** policy `primary`: the answer outgrew maxMessageBytes; it streams to the client but is not compared. */
  uncompared: boolean;
  /** How the variant's connection goes on after this answer, when the protocol says (handed to the client's codec). */
  after: AnswerAfter | undefined;
  /**
   * The answer's wire bytes as one Buffer, when they are exactly one read of the variant's socket (the frames cut
   * from it): written to the client as they are instead of joining the frames again. Set by the session.
   */
  wire: Buffer | undefined;
}

/** Two slots hold the same answer bytes (each as one Buffer when both arrived as one read, else frame by frame). */
function sameAnswer(a: Slot, b: Slot): boolean {
  if (a.bytes !== b.bytes) return false;
  const wa = a.wire;
  const wb = b.wire;
  return wa !== undefined && wb !== undefined ? wa.equals(wb) : sameBytes(a.frames, b.frames);
}

/** One request replicated to N variants: its answers, the decision on what the client gets, and its report. */
export class Exchange {
  readonly seq: number;
  readonly slots: Slot[];
  /** The start of the request (REQUEST_KEEP bytes), for the divergence event. */
  readonly request: Frame[] = [];
  #requestBytes = 0;
  readonly attributes: Attributes | undefined;
  sentAt = performance.now();
  /** performance.now() by which every variant must have answered (set when the request was sent). */
  deadline = Infinity;
  /** Decided: which variant's answer the client gets (policy `primary` streams the primary's instead). */
  serve: number | undefined;
  /** Blocked: the divergence event the error reply names, and the reply's HTTP-style status and message. */
  eventId: number | undefined;
  blockedStatus = 502;
  blockedMessage = '';
  /** Blocked after part of the answer went out: only closing the connection tells the client it is incomplete. */
  cutShort = false;
  /** Date.now() when the listener's traffic tail sampled this exchange (recorded once decided); else undefined. */
  trafficAt: number | undefined;
  #phase: ExchangePhase;
  /** Variants whose answer is still owed. */
  #pending: number;
  readonly #trace: Logger | undefined;

  /** `trace`: the session's logger when it logs at debug level (transitions are traced), else undefined. */
  constructor(seq: number, variants: number, responses: number, attributes: Attributes | undefined, trace: Logger | undefined) {
    this.seq = seq;
    this.attributes = attributes;
    this.#trace = trace;
    const answered = responses <= 0;
    this.slots = [];
    for (let i = 0; i < variants; i++) this.slots.push({ frames: [], bytes: 0, left: responses, done: answered, status: 'ok', latencyMs: undefined, out: NO_FRAMES, uncompared: false, after: undefined, wire: undefined });
    this.#pending = answered ? 0 : variants;
    this.#phase = answered ? ExchangePhase.Delivered : ExchangePhase.Waiting;
  }

  get phase(): ExchangePhase {
    return this.#phase;
  }

  /** Variants whose answer is still owed (0: every answer is in, or failed). */
  get pending(): number {
    return this.#pending;
  }

  /** True while the client's answer is not settled. */
  get open(): boolean {
    return this.#phase === ExchangePhase.Waiting || this.#phase === ExchangePhase.Streaming;
  }

  /** Move to `next` if the edge is allowed (false, and no change, otherwise). Traced at debug level. */
  to(next: ExchangePhase): boolean {
    const from = this.#phase;
    if ((NEXT[from]! & (1 << next)) === 0) {
      this.#trace?.debug({ exchange: this.seq, from: PHASE_NAMES[from], to: PHASE_NAMES[next] }, 'exchange transition refused');
      return false;
    }
    this.#phase = next;
    this.#trace?.debug({ exchange: this.seq, from: PHASE_NAMES[from], to: PHASE_NAMES[next] }, 'exchange transition');
    return true;
  }

  /** A frame of the request: its start is kept for the divergence event (the request itself streams on). */
  keep(frame: Frame): void {
    const kept = this.#requestBytes;
    if (kept < REQUEST_KEEP) this.request.push(frame.length + kept > REQUEST_KEEP ? frame.subarray(0, REQUEST_KEEP - kept) : frame);
    this.#requestBytes = kept + frame.length;
  }

  /**
   * A frame of variant `index`'s answer (`end`: it ends a response). `streaming`: the primary's answer under policy
   * `primary`, which also goes to the client and past `maxBytes` is only too large to compare. Says whether the
   * variant's answer is now complete (and settled `ok`), or outgrew `maxBytes`.
   */
  take(index: number, frame: Frame, end: boolean, maxBytes: number, streaming: boolean): 'partial' | 'complete' | 'oversized' {
    const slot = this.slots[index]!;
    slot.bytes += frame.length;
    if (streaming) {
      if (slot.out === NO_FRAMES) slot.out = [frame];
      else slot.out.push(frame);
    }
    if (slot.bytes <= maxBytes) slot.frames.push(frame);
    else if (!streaming) return 'oversized';
    else if (!slot.uncompared) {
      slot.uncompared = true;
      slot.frames = [];
    }
    if (!end || --slot.left > 0) return 'partial';
    slot.latencyMs = performance.now() - this.sentAt;
    return this.settle(index, 'ok') ? 'complete' : 'partial';
  }

  /** Variant `index` has answered (`ok`) or will not (a failure status). False when it was settled already. */
  settle(index: number, status: VariantStatus): boolean {
    const slot = this.slots[index]!;
    if (slot.done) return false;
    slot.done = true;
    slot.status = status;
    if (status !== 'ok') {
      slot.frames = [];
      slot.wire = undefined;
    }
    this.#pending--;
    return true;
  }

  /** Settle the client's answer as blocked; the error reply names the divergence event (its id is reserved now). */
  block(env: ReplicaEnv, status: number, why: string): void {
    const from = this.#phase;
    if (!this.to(ExchangePhase.Blocked)) return;
    this.cutShort = from === ExchangePhase.Streaming;
    const id = env.report.reserveId();
    this.eventId = id;
    this.blockedStatus = status;
    this.blockedMessage = `switchyard blocked this response: ${why} (divergence ${id})`;
  }

  /**
   * Every answer is in: compare them, settle the client's answer if it still is open, and report a divergence.
   * `warming` is the route's noise warm-up (serve the primary, only report).
   */
  judge(env: ReplicaEnv, protocol: string, warming: boolean): void {
    const policy = env.settings.policy;
    const slots = this.slots;
    // Fast path: every variant (quarantined ones aside) answered the very same bytes. No array or closure per call.
    let first = -1;
    let same = true;
    for (let i = 0; same && i < slots.length; i++) {
      const s = slots[i]!;
      if (s.status === 'quarantined') continue;
      if (s.status !== 'ok' || s.uncompared) same = false;
      else if (first < 0) first = i;
      else same = sameAnswer(slots[first]!, s);
    }
    if (same && first >= 0) {
      if (this.open) this.#decide(first);
      return;
    }
    const judged = judge({
      comparator: env.comparator(protocol),
      noise: env.noise,
      filterPair: env.settings.filterPair,
      policy,
      request: this.request,
      answers: slots.map((s) => (s.status === 'ok' && !s.uncompared ? s.frames : undefined)),
    });
    // Quarantined variants are out of the set: they neither vote nor count.
    const active = slots.map((s, i) => (s.status === 'quarantined' ? -1 : i)).filter((i) => i >= 0);
    const counted = warming && active[0] === 0 ? 'primary' : policy === 'primary' && active[0] !== 0 ? 'majority' : policy;
    const sub = tally(counted, active.map((i) => judged.ballots[i]!));
    const serve = sub.serve === undefined ? undefined : active[sub.serve];
    const agreeing = new Set([...sub.agreeing].map((j) => active[j]!));
    if (this.open) {
      if (serve !== undefined) this.#decide(serve);
      else {
        const primaryFailed = policy === 'primary';
        this.block(env, primaryFailed && slots[0]!.status === 'timeout' ? 504 : 502, primaryFailed ? 'the primary variant did not answer' : 'the variants disagreed');
      }
    }
    if (!sub.unanimous) this.#report(env, protocol, judged, serve, agreeing, warming);
    else if (judged.suspects.length > 0) this.#reportSuspects(env, protocol, judged);
  }

  #decide(serve: number): void {
    if (this.to(ExchangePhase.Decided)) this.serve = serve;
  }

  #report(env: ReplicaEnv, protocol: string, judged: Judged, served: number | undefined, agreeing: ReadonlySet<number>, warming: boolean): void {
    const slots = this.slots;
    if (judged.noDifference && slots.every((s) => s.status === 'ok' || s.status === 'quarantined')) return; // equal after normalisation
    const policy = env.settings.policy;
    env.report.record({
      id: this.eventId,
      policy,
      decision: policy === 'primary' || (warming && served !== undefined) ? 'reported' : served === undefined ? 'blocked' : 'outvoted',
      request: describeRequest(env.comparator(protocol), this.request, this.attributes),
      names: env.variants.map((v) => v.name),
      statuses: slots.map((s) => s.status),
      agreed: (i) => agreeing.has(i),
      latencyMs: slots.map((s) => s.latencyMs),
      judged,
      served,
    });
    if (policy === 'majority' && !warming && served !== undefined && env.settings.quarantine) {
      for (let i = 0; i < slots.length; i++) {
        if (!agreeing.has(i) && slots[i]!.status !== 'quarantined') env.quarantine(env.variants[i]!.name, `out-voted on ${this.request.length > 0 ? 'a request' : 'an exchange'}`);
      }
    }
  }

  /** Everyone agreed once noise was set aside, but a noise field differs far more often than the filter pair's. */
  #reportSuspects(env: ReplicaEnv, protocol: string, judged: Judged): void {
    const cmp = env.comparator(protocol);
    const names = env.variants.map((v) => v.name);
    const kept = new Set([...judged.ignored].filter((p) => !judged.suspects.includes(p)));
    const diffs: string[] = [];
    for (let i = 1; i < judged.canons.length; i++) {
      const a = judged.canons[0];
      const b = judged.canons[i];
      if (a && b) diffs.push(cmp.render(a, b, [names[0]!, names[i]!], kept));
    }
    env.report.record({
      policy: env.settings.policy,
      decision: 'reported',
      request: describeRequest(cmp, this.request, this.attributes),
      names,
      statuses: this.slots.map((s) => s.status),
      agreed: () => true,
      judged,
      served: this.serve ?? 0,
      fields: [...judged.suspects].sort(),
      diff: `noise fields that differ clearly more often between variants than within the filter pair:\n${diffs.join('\n')}`,
    });
  }
}
