/**
 * Traffic tail of one listener (the dashboard's Traffic view, `GET /api/v1/listeners/:id/traffic`): a bounded ring
 * of the latest request records, sampled by rate. The sampling decision is one counter check when a request starts;
 * nothing is allocated for a request that is not sampled.
 */

export type TrafficScalar = string | number | boolean;

export interface TrafficRecord {
  /** Increases by one per record kept, per listener (never reused while the listener lives). */
  readonly seq: number;
  /** When the request started (epoch ms). */
  readonly at: number;
  /** Request start → its answer written to the client (raw TCP: connection accept → close). */
  readonly durationMs: number;
  /** Scalar attributes of the request (method, path, host, command, key, ...; raw TCP: source, bytesIn, bytesOut). */
  readonly request: Readonly<Record<string, TrafficScalar>>;
  /** Short text of the answer's first message (HTTP "200", Redis "+OK", PostgreSQL "ErrorResponse 42P01"), or "". */
  readonly answer: string;
  /** A SWY_* code when the proxy answered the request itself or it failed. */
  readonly error?: string;
  readonly route?: string;
  readonly cluster?: string;
  readonly endpoint?: string;
}

export interface TrafficSettings {
  readonly enabled: boolean;
  /** At most this many records per second are kept (the rest are not sampled). */
  readonly perSecond: number;
  /** Records kept (the oldest are dropped). */
  readonly keep: number;
}

export const TRAFFIC_DEFAULTS = { perSecond: 50, keep: 200 } as const;
export const TRAFFIC_MAX_KEEP = 10_000;
export const TRAFFIC_MAX_PER_SECOND = 100_000;

/** A record before it gets its `seq` (what the data path builds). */
export type TrafficEntry = Omit<TrafficRecord, 'seq'>;

export class TrafficTap {
  #enabled: boolean;
  #perSecond: number;
  #keep: number;
  #ring: (TrafficRecord | undefined)[];
  /** seq of the newest record (0: none yet). */
  #seq = 0;
  /** Requests sampled in the current second (reset by {@link #tick}). */
  #taken = 0;
  /** Resets `#taken` once a second while requests are sampled; stops itself after a second with none (unref'd). */
  #timer: NodeJS.Timeout | undefined;

  constructor(settings: TrafficSettings) {
    this.#enabled = settings.enabled;
    this.#perSecond = settings.perSecond;
    this.#keep = settings.keep;
    this.#ring = new Array<TrafficRecord | undefined>(settings.keep);
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  settings(): TrafficSettings {
    return { enabled: this.#enabled, perSecond: this.#perSecond, keep: this.#keep };
  }

  /** Change settings at run time; a new `keep` keeps the newest records that fit. */
  configure(next: Partial<TrafficSettings>): void {
    if (next.enabled !== undefined) this.#enabled = next.enabled;
    if (next.perSecond !== undefined) this.#perSecond = next.perSecond;
    if (next.keep !== undefined && next.keep !== this.#keep) {
      const kept = this.since(Math.max(0, this.#seq - next.keep));
      this.#keep = next.keep;
      this.#ring = new Array<TrafficRecord | undefined>(next.keep);
      for (const r of kept) this.#ring[r.seq % next.keep] = r;
    }
  }

  /**
   * Whether the request starting now is sampled: false when disabled or when `perSecond` were already sampled in
   * this second. A request not sampled costs two field reads and a comparison (no clock read, no allocation).
   */
  sample(): boolean {
    if (!this.#enabled || this.#taken >= this.#perSecond) return false;
    this.#taken++;
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tick(), 1000);
      this.#timer.unref();
    }
    return true;
  }

  #tick(): void {
    if (this.#taken === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    this.#taken = 0;
  }

  /** Keep a record (a sampled request ended). Returns its seq. */
  record(entry: TrafficEntry): number {
    const seq = ++this.#seq;
    this.#ring[seq % this.#keep] = { seq, ...entry };
    return seq;
  }

  /** seq of the newest record (0 when none). */
  get last(): number {
    return this.#seq;
  }

  /** Records with seq > `since`, oldest first, at most `limit` (the oldest of them: page on with the last seq). */
  since(since: number, limit: number = this.#keep): TrafficRecord[] {
    const oldest = Math.max(since + 1, this.#seq - this.#keep + 1, 1);
    const newest = Math.min(this.#seq, oldest + Math.max(0, limit) - 1);
    const out: TrafficRecord[] = [];
    for (let s = oldest; s <= newest; s++) {
      const r = this.#ring[s % this.#keep];
      if (r !== undefined && r.seq === s) out.push(r);
    }
    return out;
  }
}

/** Only scalar attributes, strings cut to 200 chars (records stay small and JSON-safe). */
export function scalarAttributes(attrs: Readonly<Record<string, unknown>> | undefined): Record<string, TrafficScalar> {
  const out: Record<string, TrafficScalar> = {};
  if (attrs === undefined) return out;
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'string') out[k] = v.length > 200 ? `${v.slice(0, 199)}…` : v;
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = v;
  }
  return out;
}
