import { validateConfig } from './src/runtime/config.js';
import { createFramerRegistry } from './src/framing/builtins.js';
const base = (faults: unknown[], lf: unknown[] = []) => ({
  listeners: [{ id: 'g', listen: '127.0.0.1:0', protocol: 'grpc', faults: lf }],
  clusters: [{ id: 'c', endpoints: ['127.0.0.1:1'] }],
  routes: [{ id: 'r', listener: 'g', cluster: 'c', faults }],
});
for (const f of [
  [{ type: 'error', match: { method: '/a.B/*', service: 'a.B', 'metadata.x-tenant': 'acme' }, attributes: { status: 'permission_denied' } }, { type: 'delay', attributes: { sleep: 0.1 } }, { type: 'abort', toxicity: 0.5 }, { type: 'hang', match: { method: '*' } }],
  [{ type: 'latency', attributes: { latency: 5 } }],
  [{ type: 'reset_peer', scope: 'connection' }],
  [{ type: 'latency', scope: 'request' }],
  [{ type: 'error', match: { path: '/x' } }],
  [{ type: 'error', match: { command: 'GET' } }],
  [{ type: 'down' }],
  [{ type: 'error', attributes: { status: 'BOGUS' } }],
  [{ type: 'error', group: 'g', toxicity: 0.6 }],
]) {
  const r = validateConfig(base(f, [{ name: 'le', type: 'error', group: 'g', toxicity: 0.6 }]), createFramerRegistry());
  console.log(JSON.stringify(f), '=>', r.ok ? 'OK' : r.errors.map((e) => `${e.path}: ${e.message}`).join(' | '));
}
