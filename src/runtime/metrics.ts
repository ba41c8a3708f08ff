import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { FaultSet } from '../faults/fault-set.js';
import type { Metric } from 'prom-client';
import type { DivergenceLog } from '../replication/events.js';
import type { LatencyHistogram } from '../core/latency.js';
import type { Route } from '../routing/director.js';
import type { TrafficStats } from '../core/stats.js';
import type { Cluster } from '../upstream/cluster.js';
import { spliceInfoIfLoaded } from '../net/splice.js';

export interface UdpFlowSource {
  id: string;
  flowStats(): { flowsExpired: number; flowsEvicted: number } | undefined;
}

/** A histogram kept on the data path with the labels its series carry. */
export interface LabelledHistogram {
  labels: Record<string, string>;
  h: LatencyHistogram;
}

export interface StatsSource {
  /** e.g. 'listener', 'cluster', 'route' */
  kind: string;
  entries(): Iterable<{ id: string; stats: TrafficStats; state: string }>;
}

/**
 * Prometheus metrics, read from the live stats objects at scrape time (nothing on the hot path).
 * One registry per Switchyard instance so several proxies can live in one process (tests).
 */
export function createMetricsRegistry(
  sources: readonly StatsSource[],
  options: {
    defaultMetrics?: boolean;
    udpFlows?: () => Iterable<UdpFlowSource>;
    faults?: () => Iterable<[string, FaultSet]>;
    divergences?: DivergenceLog;
    engines?: () => Iterable<Route>;
    /** Every route, for its route decisions (`switchyard_route_requests_total`). */
    routes?: () => Iterable<Route>;
    /** Request durations of protocol listeners' routes: labels listener, route, protocol. */
    requests?: () => Iterable<LabelledHistogram>;
    /** Connection durations of TCP listeners: label listener. */
    connections?: () => Iterable<LabelledHistogram>;
    /** Hot reloads by result (applied, rejected, failed). */
    reloads?: () => Iterable<[string, number]>;
    /** Clusters: endpoint health, outlier ejections, connect retries, panic picks, DNS failures. */
    clusters?: () => Iterable<Cluster>;
  } = {},
): Registry {
  const registry = new Registry();
  if (options.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry, prefix: 'switchyard_' });
    // prom-client's gauges named `..._total` (a counter's suffix, which OpenMetrics parsers refuse on a gauge) are
    // the sums over `type` of the labelled gauges of the same name without it: dropped, nothing is lost.
    for (const m of registry.getMetricsAsArray()) {
      if (m.name.endsWith('_total') && (m as unknown as { type?: string }).type === 'gauge') registry.removeSingleMetric(m.name);
    }
  }

  const each = (fn: (kind: string, id: string, s: TrafficStats, state: string) => void): void => {
    for (const src of sources) for (const e of src.entries()) fn(src.kind, e.id, e.stats, e.state);
  };

  new Gauge({
    name: 'switchyard_connections_active',
    help: 'Connections (UDP: flows) open now, per run-time object.',
    labelNames: ['kind', 'id'],
    registers: [registry],
    collect() {
      this.reset();
      each((kind, id, s) => this.set({ kind, id }, s.active));
    },
  });
  new Counter({
    name: 'switchyard_connections_total',
    help: 'Connections (UDP: flows) accepted since start, per run-time object.',
    labelNames: ['kind', 'id'],
    registers: [registry],
    collect() {
      this.reset();
      each((kind, id, s) => this.inc({ kind, id }, s.total));
    },
  });
  new Counter({
    name: 'switchyard_bytes_total',
    help: 'Bytes forwarded, by direction (to_upstream = client to server).',
    labelNames: ['kind', 'id', 'direction'],
    registers: [registry],
    collect() {
      this.reset();
      each((kind, id, s) => {
        this.inc({ kind, id, direction: 'to_upstream' }, s.bytesToUpstream);
        this.inc({ kind, id, direction: 'to_downstream' }, s.bytesToDownstream);
      });
    },
  });
  new Counter({
    name: 'switchyard_frames_total',
    help: 'Frames decoded, by direction (framed TCP listeners; datagrams on UDP listeners).',
    labelNames: ['kind', 'id', 'direction'],
    registers: [registry],
    collect() {
      this.reset();
      each((kind, id, s) => {
        this.inc({ kind, id, direction: 'to_upstream' }, s.framesToUpstream);
        this.inc({ kind, id, direction: 'to_downstream' }, s.framesToDownstream);
      });
    },
  });
  // the splice(2) addon is one per process: its series carry no object labels (they read 0 until a listener loads it)
  new Counter({
    name: 'switchyard_splice_connections_total',
    help: 'Connections whose bytes the splice(2) addon moved (raw TCP passthrough, or faults with nothing to do), since the process started.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(spliceInfoIfLoaded()?.handedOver ?? 0);
    },
  });
  new Gauge({
    name: 'switchyard_splice_connections_active',
    help: 'Connections the splice(2) addon holds now.',
    registers: [registry],
    collect() {
      this.set(spliceInfoIfLoaded()?.connections ?? 0);
    },
  });
  new Gauge({
    name: 'switchyard_splice_driver',
    help: 'Who waits on the spliced sockets: 1 for the driver in use (worker: a thread of the addon; loop: the event loop thread). No series until a listener loads the addon.',
    labelNames: ['driver'],
    registers: [registry],
    collect() {
      this.reset();
      const driver = spliceInfoIfLoaded()?.driver;
      if (driver !== undefined) this.set({ driver }, 1);
    },
  });
  new Counter({
    name: 'switchyard_splice_copy_fallbacks_total',
    help: 'Times a spliced direction found the pipe pool spent and copied through a buffer instead.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(spliceInfoIfLoaded()?.copyFallbacks ?? 0);
    },
  });
  new Counter({
    name: 'switchyard_errors_total',
    help: 'Errors by stable code (SWY_* or a system code such as ECONNRESET).',
    labelNames: ['kind', 'id', 'code'],
    registers: [registry],
    collect() {
      this.reset();
      each((kind, id, s) => {
        for (const [code, n] of s.errors) this.inc({ kind, id, code }, n);
      });
    },
  });
  new Gauge({
    name: 'switchyard_object_up',
    help: '1 when the run-time object is started, else 0 (one series per object: no state label that would churn).',
    labelNames: ['kind', 'id'],
    registers: [registry],
    collect() {
      this.reset();
      each((kind, id, _s, state) => this.set({ kind, id }, state === 'started' ? 1 : 0));
    },
  });
  const faults = options.faults;
  if (faults) {
    new Counter({
      name: 'switchyard_faults_injected_total',
      help: 'Fault effects applied (per request/frame/connection as the fault counts them), by listener, fault, type and stream.',
      labelNames: ['listener', 'fault', 'type', 'stream'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [listener, set] of faults()) {
          for (const f of set.list()) this.inc({ listener, fault: f.name, type: f.type, stream: f.stream }, f.injected);
        }
      },
    });
  }
  const divergences = options.divergences;
  if (divergences) {
    new Counter({
      name: 'switchyard_divergences_total',
      help: 'Exchanges whose variants (or shadow) disagreed after normalisation, by route and decision (blocked, outvoted, reported).',
      labelNames: ['route', 'decision'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [route, byDecision] of divergences.counts) for (const [decision, n] of byDecision) this.inc({ route, decision }, n);
      },
    });
  }
  const requests = options.requests;
  if (requests) {
    registry.registerMetric(
      new HistogramFromCounters(
        'switchyard_request_duration_seconds',
        "Protocol listeners: time from a request's first frame read from the client to the last byte of its answer (the server's response or an injected error reply) written to the client, by listener, route and protocol.",
        () => [...requests()],
      ) as unknown as Metric,
    );
  }
  const connections = options.connections;
  if (connections) {
    registry.registerMetric(
      new HistogramFromCounters(
        'switchyard_connection_duration_seconds',
        'TCP listeners: time from accepting a client connection to its close, by listener.',
        () => [...connections()],
      ) as unknown as Metric,
    );
  }
  const routes = options.routes;
  if (routes) {
    new Counter({
      name: 'switchyard_route_requests_total',
      help: 'Route decisions that picked the route: connections on listeners routed per connection or startup (and with one catch-all route), requests/commands on listeners routed per request.',
      labelNames: ['listener', 'route'],
      registers: [registry],
      collect() {
        this.reset();
        for (const r of routes()) this.inc({ listener: r.config.listener, route: r.id }, r.requests);
      },
    });
  }
  const engines = options.engines;
  if (engines) {
    registry.registerMetric(
      new HistogramFromCounters(
        'switchyard_variant_response_seconds',
        'Time from a request reaching a variant (replicate), the backend (merge) or the shadow (mirror) to its complete answer, by route and variant.',
        () => {
          const out: LabelledHistogram[] = [];
          for (const r of engines()) for (const v of r.latencies()) out.push({ labels: { route: r.id, variant: v.variant }, h: v.histogram });
          return out;
        },
      ) as unknown as Metric,
    );
    new Counter({
      name: 'switchyard_mirror_requests_total',
      help: 'Requests of mirror routes by result: mirrored (sent to the shadow), dropped (shadow queue full or shadow down), sampled_out (not in the fraction).',
      labelNames: ['route', 'result'],
      registers: [registry],
      collect() {
        this.reset();
        for (const r of engines()) {
          const m = r.mirrorStats;
          if (!m) continue;
          this.inc({ route: r.id, result: 'mirrored' }, m.mirrored);
          this.inc({ route: r.id, result: 'dropped' }, m.dropped);
          this.inc({ route: r.id, result: 'sampled_out' }, m.sampledOut);
        }
      },
    });
  }
  const reloads = options.reloads;
  if (reloads) {
    new Counter({
      name: 'switchyard_config_reloads_total',
      help: 'Config reloads (SIGHUP, --watch, PUT /api/v1/config) by result: applied, rejected (invalid config, nothing changed), failed (a step threw part-way).',
      labelNames: ['result'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [result, n] of reloads()) this.inc({ result }, n);
      },
    });
  }
  const clusters = options.clusters;
  if (clusters) {
    const perCluster = (name: string, help: string, read: (c: Cluster) => number): void => {
      new Counter({
        name,
        help,
        labelNames: ['cluster'],
        registers: [registry],
        collect() {
          this.reset();
          for (const c of clusters()) this.inc({ cluster: c.id }, read(c));
        },
      });
    };
    new Gauge({
      name: 'switchyard_endpoint_health',
      help: 'Active health of each cluster endpoint: 1 healthy, 0 unhealthy, -1 unknown (no health check, or thresholds not reached yet).',
      labelNames: ['cluster', 'endpoint'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of clusters()) {
          for (const e of c.endpoints) this.set({ cluster: c.id, endpoint: e.key }, e.health === 'healthy' ? 1 : e.health === 'unhealthy' ? 0 : -1);
        }
      },
    });
    new Gauge({
      name: 'switchyard_endpoint_ejected',
      help: 'Outlier ejection of each cluster endpoint: 1 while ejected, else 0.',
      labelNames: ['cluster', 'endpoint'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of clusters()) for (const e of c.endpoints) this.set({ cluster: c.id, endpoint: e.key }, e.ejected ? 1 : 0);
      },
    });
    perCluster('switchyard_outlier_ejections_total', 'Endpoints ejected by passive outlier detection, per cluster.', (c) => c.counters.ejections);
    perCluster('switchyard_upstream_retries_total', 'Upstream connects retried on another endpoint after a failed connect, per cluster.', (c) => c.counters.retries);
    perCluster('switchyard_cluster_panic_total', 'Endpoint picks made in panic mode (no endpoint healthy and not ejected: all of them used), per cluster.', (c) => c.counters.panics);
    perCluster('switchyard_dns_failures_total', 'Failed DNS resolutions of host-name endpoints (the last good answer is kept), per cluster.', (c) => c.counters.dnsFailures);
  }
  const udpFlows = options.udpFlows;
  if (udpFlows) {
    new Counter({
      name: 'switchyard_udp_flows_closed_total',
      help: 'UDP flows removed from the flow table, by reason (idle = expired after flowIdleTimeout, evicted = table full).',
      labelNames: ['id', 'reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const l of udpFlows()) {
          const f = l.flowStats();
          if (!f) continue;
          this.inc({ id: l.id, reason: 'idle' }, f.flowsExpired);
          this.inc({ id: l.id, reason: 'evicted' }, f.flowsEvicted);
        }
      },
    });
  }
  return registry;
}

/** A Prometheus histogram whose samples are plain counters kept on the data path (read at scrape time). */
class HistogramFromCounters {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly source: () => LabelledHistogram[],
  ) {}
  get(): Promise<unknown> {
    const values: Array<{ value: number; labels: Record<string, string | number>; metricName: string }> = [];
    for (const { labels, h } of this.source()) {
      let cumulative = 0;
      h.buckets.forEach((le, i) => {
        cumulative += h.counts[i]!;
        values.push({ value: cumulative, labels: { ...labels, le }, metricName: `${this.name}_bucket` });
      });
      values.push({ value: h.count, labels: { ...labels, le: '+Inf' }, metricName: `${this.name}_bucket` });
      values.push({ value: h.sum, labels, metricName: `${this.name}_sum` });
      values.push({ value: h.count, labels, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }
  reset(): void {}
}

/** One Toxiproxy proxy as its `-proxy-metrics` series label it, with the listener stats they are read from. */
export interface ToxiproxyMetricSource {
  proxy: string;
  /** The listen address as the API shows it (the bound address). */
  listener: string;
  upstream: string;
  stats: TrafficStats;
}

/**
 * Toxiproxy's proxy series (`toxiproxy -proxy-metrics`): `toxiproxy_proxy_received_bytes_total` and
 * `toxiproxy_proxy_sent_bytes_total`, labels direction (upstream = client to server, downstream = server to client),
 * proxy, listener, upstream. Read at scrape time from the listener's byte counters, which count what switchyard read
 * in each direction: received is exact; sent is the same number (bytes a toxic holds back or drops are not
 * subtracted). Unlike Toxiproxy, which adds a connection's bytes when it closes, the counters move while it is open.
 */
export function createToxiproxyMetricsRegistry(proxies: () => Iterable<ToxiproxyMetricSource>): Registry {
  const registry = new Registry();
  const labelNames = ['direction', 'proxy', 'listener', 'upstream'];
  const fill = (counter: Counter): void => {
    counter.reset();
    for (const p of proxies()) {
      // Toxiproxy's label order: direction, proxy, listener, upstream.
      counter.inc({ direction: 'upstream', proxy: p.proxy, listener: p.listener, upstream: p.upstream }, p.stats.bytesToUpstream);
      counter.inc({ direction: 'downstream', proxy: p.proxy, listener: p.listener, upstream: p.upstream }, p.stats.bytesToDownstream);
    }
  };
  new Counter({
    name: 'toxiproxy_proxy_received_bytes_total',
    help: 'Bytes read by a Toxiproxy-compatible proxy, from the client (direction upstream) or the upstream (direction downstream).',
    labelNames,
    registers: [registry],
    collect() {
      fill(this);
    },
  });
  new Counter({
    name: 'toxiproxy_proxy_sent_bytes_total',
    help: 'Bytes forwarded by a Toxiproxy-compatible proxy, to the upstream (direction upstream) or the client (direction downstream); bytes a toxic drops are not subtracted.',
    labelNames,
    registers: [registry],
    collect() {
      fill(this);
    },
  });
  return registry;
}
