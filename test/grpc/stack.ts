/** A gRPC proxy in front of test servers: listener g → route r → cluster primary (+ secondaries s0, s1, ...). */
import type { Switchyard, SwitchyardOptions } from '../../src/runtime/switchyard.js';
import { startYard } from '../helpers/yard.js';

export interface GrpcStackOptions {
  primary: number;
  secondaries?: number[];
  grpc?: Record<string, unknown>;
  listener?: Record<string, unknown>;
  cluster?: Record<string, unknown>;
  options?: SwitchyardOptions;
}

export async function startGrpcProxy(o: GrpcStackOptions): Promise<{ yard: Switchyard; port: number }> {
  const secondaries = (o.secondaries ?? []).map((p, i) => ({ id: `s${i}`, endpoints: [`127.0.0.1:${p}`], ...o.cluster }));
  const route: Record<string, unknown> = { id: 'r', listener: 'g', cluster: 'primary' };
  if (secondaries.length > 0 || o.grpc) route['grpc'] = { secondaries: secondaries.map((s) => s.id), ...o.grpc };
  const yard = await startYard(
    {
      listeners: [{ id: 'g', listen: '127.0.0.1:0', protocol: 'grpc', ...o.listener }],
      clusters: [{ id: 'primary', endpoints: [`127.0.0.1:${o.primary}`], ...o.cluster }, ...secondaries],
      routes: [route],
    },
    o.options,
  );
  const a = yard.listeners.get('g')!.address!;
  if (a.kind !== 'tcp') throw new Error('expected a tcp address');
  return { yard, port: a.port };
}
