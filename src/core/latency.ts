/** Seconds; the same buckets as prom-client's defaults, plus 10 ms steps that matter for in-datacenter variants. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** Seconds, for whole connections (accept to close): from a quick exchange to a pooled connection held for hours. */
export const CONNECTION_BUCKETS = [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400] as const;

/** A histogram kept as plain counters on the data path; the metrics registry reads it at scrape time. */
export class LatencyHistogram {
  /** Upper bounds (seconds) of the buckets, ascending; `+Inf` is implied. */
  readonly buckets: readonly number[];
  readonly counts: number[];
  count = 0;
  sum = 0;

  constructor(buckets: readonly number[] = LATENCY_BUCKETS) {
    this.buckets = buckets;
    this.counts = new Array<number>(buckets.length).fill(0);
  }

  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (seconds <= b[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}
