import { Switchyard, type SwitchyardOptions } from '../../src/runtime/switchyard.js';
import { validateConfig } from '../../src/runtime/config.js';
import { createFramerRegistry } from '../../src/framing/builtins.js';

/** Validate a raw config object (as a user would write it) and start a Switchyard in-process. */
export async function startYard(raw: Record<string, unknown>, options: SwitchyardOptions = {}): Promise<Switchyard> {
  const framers = options.framers ?? createFramerRegistry();
  const result = validateConfig(raw, framers);
  if (!result.ok) throw new Error(`test config invalid:\n${result.errors.map((e) => `${e.path}: ${e.message}`).join('\n')}`);
  return Switchyard.start(result.config, { ...options, framers, defaultMetrics: false });
}

/** One listener → one cluster; returns the yard and the proxy port. */
export async function startProxy(opts: {
  upstreams: string[];
  listen?: string;
  listener?: Record<string, unknown>;
  cluster?: Record<string, unknown>;
}): Promise<{ yard: Switchyard; port: number; host: string }> {
  const yard = await startYard({
    listeners: [{ id: 'l1', listen: opts.listen ?? '127.0.0.1:0', ...opts.listener }],
    clusters: [{ id: 'c1', endpoints: opts.upstreams, ...opts.cluster }],
    routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
  });
  const a = yard.listeners.get('l1')!.address!;
  if (a.kind !== 'tcp') return { yard, port: 0, host: '' };
  return { yard, port: a.port, host: a.host };
}
