/** Seconds; the same buckets as prom-client's defaults, plus 10 ms steps that matter for in-datacenter variants. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** A histogram kept as plain counters on the data path; the metrics registry reads it at scrape time. */
export class LatencyHistogram {
  readonly counts = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  count = 0;
  sum = 0;

  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}
