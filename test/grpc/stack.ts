/** A gRPC proxy in front of test servers: listener g → route r → cluster primary (+ secondaries s0, s1, ...). */
import { test, type TestContext } from 'node:test';
import type { Switchyard, SwitchyardOptions } from '../../src/runtime/switchyard.js';
import { startYard } from '../helpers/yard.js';

export interface GrpcStackOptions {
  primary: number;
  secondaries?: number[];
  grpc?: Record<string, unknown>;
  listener?: Record<string, unknown>;
  cluster?: Record<string, unknown>;
  options?: SwitchyardOptions;
  /** The listener's `engine` (default: the engine of the running {@link eachEngine} test, else the config default). */
  engine?: 'auto' | 'http2' | 'frames';
}

export type GrpcEngine = 'http2' | 'frames';

/** The engine of the {@link eachEngine} test running now. */
let current: GrpcEngine | undefined;

/**
 * One test per engine: `frames` (the frame engine, forced when the stack is plain, else `auto`) and `http2`; the
 * stacks the test starts take that engine.
 */
export function eachEngine(name: string, fn: (t: TestContext, engine: GrpcEngine) => Promise<void>): void {
  for (const engine of ['frames', 'http2'] as const) {
    test(`${name} [${engine}]`, async (t) => {
      current = engine;
      try {
        await fn(t, engine);
      } finally {
        current = undefined;
      }
    });
  }
}

export async function startGrpcProxy(o: GrpcStackOptions): Promise<{ yard: Switchyard; port: number }> {
  const secondaries = (o.secondaries ?? []).map((p, i) => ({ id: `s${i}`, endpoints: [`127.0.0.1:${p}`], ...o.cluster }));
  const route: Record<string, unknown> = { id: 'r', listener: 'g', cluster: 'primary' };
  if (secondaries.length > 0 || o.grpc) route['grpc'] = { secondaries: secondaries.map((s) => s.id), ...o.grpc };
  const plain = secondaries.length === 0 && o.grpc === undefined && o.listener?.['tls'] === undefined && o.listener?.['faults'] === undefined && o.cluster?.['tls'] === undefined;
  const engine = o.engine ?? (current === 'frames' ? (plain ? 'frames' : 'auto') : current);
  const listener: Record<string, unknown> = { id: 'g', listen: '127.0.0.1:0', protocol: engine ? { type: 'grpc', engine } : 'grpc', ...o.listener };
  const yard = await startYard(
    {
      listeners: [listener],
      clusters: [{ id: 'primary', endpoints: [`127.0.0.1:${o.primary}`], ...o.cluster }, ...secondaries],
      routes: [route],
    },
    o.options,
  );
  const a = yard.listeners.get('g')!.address!;
  if (a.kind !== 'tcp') throw new Error('expected a tcp address');
  return { yard, port: a.port };
}

/** The listener's live sessions per engine (its admin JSON). */
export function sessionsByEngine(yard: Switchyard): { http2: number; frames: number } {
  return yard.listeners.get('g')!.toJSON()['sessionsByEngine'] as { http2: number; frames: number };
}
