/**
 * Live counters of a run-time object. Plain numbers on the hot path; Prometheus reads them at scrape time
 * (runtime/metrics.ts), so counting costs an addition, not a label lookup.
 */
export class TrafficStats {
  /** Connections (or UDP flows) open now. */
  active = 0;
  /** Connections (or flows) accepted since start. */
  total = 0;
  /** Bytes received from clients and forwarded toward upstreams. */
  bytesToUpstream = 0;
  /** Bytes received from upstreams and forwarded toward clients. */
  bytesToDownstream = 0;
  /** Frames decoded client → upstream (0 for passthrough framing, which has no frame boundaries). */
  framesToUpstream = 0;
  framesToDownstream = 0;
  /** Errors by stable code (SWY_* or a Node system code). */
  readonly errors = new Map<string, number>();

  error(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  toJSON(): Record<string, unknown> {
    return {
      active: this.active,
      total: this.total,
      bytesToUpstream: this.bytesToUpstream,
      bytesToDownstream: this.bytesToDownstream,
      framesToUpstream: this.framesToUpstream,
      framesToDownstream: this.framesToDownstream,
      errors: Object.fromEntries(this.errors),
    };
  }
}
