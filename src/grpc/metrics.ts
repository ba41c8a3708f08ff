/** `switchyard_grpc_requests_total{route,method,code}`, read from the routes' counters at scrape time. */
import { Counter, type Registry } from 'prom-client';
import type { GrpcRuntime } from './runtime.js';

export function registerGrpcMetrics(registry: Registry, grpc: GrpcRuntime): void {
  new Counter({
    name: 'switchyard_grpc_requests_total',
    help: 'gRPC calls proxied, by route, full method and final status code name (as the client saw it).',
    labelNames: ['route', 'method', 'code'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [route, stats] of grpc.allStats()) for (const [method, code, n] of stats.rows()) this.inc({ route, method, code }, n);
    },
  });
}
