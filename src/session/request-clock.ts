import { performance } from 'node:perf_hooks';
import type { LatencyHistogram } from '../core/latency.js';
import { emptyArray } from '../core/empty-array.js';
import { scalarAttributes, type TrafficTap } from '../core/traffic.js';
import type { Attributes } from '../protocols/protocol.js';

/** Where a protocol session records its sampled requests (the listener's traffic tail). */
export interface SessionTraffic {
  readonly tap: TrafficTap;
  readonly route?: string | undefined;
  readonly cluster?: string | undefined;
  /** The protocol's short text of an answer from its first frame (ProtocolModule.answerSummary). */
  readonly summarize?: ((startFrame: Buffer) => string) | undefined;
}

/** One sampled request on its way (only made for requests the tap sampled). */
interface Sample {
  readonly at: number;
  readonly t0: number;
  readonly request: Attributes | undefined;
  answer: string | undefined;
  error: string | undefined;
}

/**
 * Request durations of one protocol session, for `switchyard_request_duration_seconds`: a FIFO of the start times of
 * the requests still owed an answer (pipelined requests are answered in order), one `performance.now()` when a
 * request starts and one when its answer has been written to the client. No timer, no object per request.
 *
 * With a traffic tap, a parallel FIFO holds the sampled requests (`undefined` for the others: a request the tap does
 * not sample costs the tap's counter check only); a sampled one is recorded when its answer went out.
 */
export class RequestClock {
  readonly #histogram: LatencyHistogram | undefined;
  /**
   * The oldest owed request, when it started while none was owed (every request of a connection whose requests do
   * not overlap): its start time (ms) and sample, kept in two fields instead of the arrays below, whose first push
   * would make a backing store of 17 slots each per connection.
   */
  #hasFirst = false;
  #firstStart = 0;
  #firstSample: Sample | undefined;
  /** Start times (ms) of the requests owed after that one (pipelined), oldest at `#head`; made when first needed. */
  #starts: number[] | undefined;
  #head = 0;
  readonly #traffic: SessionTraffic | undefined;
  /** Parallel to `#starts` (only with a tap). */
  #samples: (Sample | undefined)[] | undefined;
  /**
   * The upstream's address, asked for when the first request is sampled (a getpeername(2) and two strings per
   * connection otherwise, for the few connections whose requests are sampled) and kept.
   */
  #endpoint: string | undefined;
  #endpointOf: (() => string | undefined) | undefined;

  constructor(histogram: LatencyHistogram | undefined, traffic?: SessionTraffic, endpointOf?: () => string | undefined) {
    this.#histogram = histogram;
    this.#traffic = traffic;
    this.#endpointOf = endpointOf;
  }

  /** The upstream's address (host:port), read on first use. */
  get endpoint(): string | undefined {
    this.#readEndpoint();
    return this.#endpoint;
  }

  #readEndpoint(): void {
    const of = this.#endpointOf;
    if (of === undefined) return;
    this.#endpointOf = undefined;
    this.#endpoint = of();
  }

  /** A request's first frame was read from the client; it is owed `answers` answers (0: none, nothing is kept). */
  started(answers: number, attributes?: Attributes): void {
    if (answers <= 0) return;
    const t = performance.now();
    const traffic = this.#traffic;
    for (let i = 0; i < answers; i++) {
      let sample: Sample | undefined;
      if (traffic !== undefined && traffic.tap.sample()) {
        // the upstream is open while a request starts: read its address now, for the record made at the answer
        this.#readEndpoint();
        sample = { at: Date.now(), t0: t, request: attributes, answer: undefined, error: undefined };
      }
      if (this.owed === 0) {
        this.#hasFirst = true;
        this.#firstStart = t;
        this.#firstSample = sample;
        continue;
      }
      (this.#starts ??= []).push(t);
      if (traffic !== undefined) (this.#samples ??= []).push(sample);
    }
  }

  /** The sample of the oldest owed request (undefined when it was not sampled, or none is owed). */
  #oldestSample(): Sample | undefined {
    if (this.#hasFirst) return this.#firstSample;
    return this.#samples?.[this.#head];
  }

  /** The first frame of the answer to the oldest owed request (not an unsolicited message) was read. */
  answerStarted(frame: Buffer): void {
    if (this.#traffic === undefined) return;
    const s = this.#oldestSample();
    if (s !== undefined && s.answer === undefined) s.answer = this.#summary(frame);
  }

  /** The proxy answers the oldest owed request itself (a refusal): `code` is recorded with the reply's summary. */
  refused(code: string, frame: Buffer | undefined): void {
    if (this.#traffic === undefined) return;
    const s = this.#oldestSample();
    if (s === undefined) return;
    s.error = code;
    if (frame !== undefined) s.answer = this.#summary(frame);
    this.answered();
  }

  /** The last byte of the oldest owed answer (the server's response or a reply the proxy made up) went to the client. */
  answered(): void {
    let start: number;
    let sample: Sample | undefined;
    if (this.#hasFirst) {
      start = this.#firstStart;
      sample = this.#firstSample;
      this.#hasFirst = false;
      this.#firstSample = undefined;
    } else {
      const starts = this.#starts;
      if (starts === undefined || this.#head >= starts.length) return;
      start = starts[this.#head]!;
      sample = this.#samples?.[this.#head];
      this.#head++;
      if (this.#head === starts.length) {
        // emptied keeping their backing stores (`length = 0` would make the next pipelined burst allocate them again)
        emptyArray(starts);
        if (this.#samples !== undefined) emptyArray(this.#samples);
        this.#head = 0;
      } else if (this.#head >= 1024) {
        starts.splice(0, this.#head);
        this.#samples?.splice(0, this.#head);
        this.#head = 0;
      }
    }
    const now = performance.now();
    this.#histogram?.observe((now - start) / 1000);
    if (sample !== undefined) this.#record(sample, now);
  }

  /** Requests still owed an answer (for tests and diagnostics). */
  get owed(): number {
    return (this.#hasFirst ? 1 : 0) + (this.#starts === undefined ? 0 : this.#starts.length - this.#head);
  }

  #summary(frame: Buffer): string {
    const f = this.#traffic?.summarize;
    if (f === undefined) return '';
    try {
      return f(frame);
    } catch {
      return '';
    }
  }

  #record(s: Sample, now: number): void {
    const t = this.#traffic!;
    t.tap.record({
      at: s.at,
      durationMs: Math.round((now - s.t0) * 1000) / 1000,
      request: scalarAttributes(s.request),
      answer: s.answer ?? '',
      ...(s.error !== undefined ? { error: s.error } : {}),
      ...(t.route !== undefined ? { route: t.route } : {}),
      ...(t.cluster !== undefined ? { cluster: t.cluster } : {}),
      ...(this.#endpoint !== undefined ? { endpoint: this.#endpoint } : {}),
    });
  }
}
