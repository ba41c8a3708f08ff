// switchyard's one-line proxy started through the library (dist/), with knobs the CLI does not expose, to
// isolate costs. Prints the same ready line as `switchyard proxy`.
// Usage: node bench/study/switchyard-lib.js --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT
//          [--framing line] [--no-default-metrics]
import { validateConfig } from '../../dist/runtime/config.js';
import { createFramerRegistry } from '../../dist/framing/builtins.js';
import { silentLogger } from '../../dist/core/log.js';
import { Switchyard } from '../../dist/runtime/switchyard.js';

const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const listener = { id: 'proxy', transport: 'tcp', listen: arg('--listen') };
if (arg('--framing')) listener.framing = arg('--framing');
const framers = createFramerRegistry();
const result = validateConfig(
  { listeners: [listener], clusters: [{ id: 'upstream', endpoints: [arg('--upstream')] }], routes: [{ id: 'default', listener: 'proxy', cluster: 'upstream' }] },
  framers,
);
if (!result.ok) {
  process.stderr.write(`${JSON.stringify(result.errors)}\n`);
  process.exit(2);
}
const yard = await Switchyard.start(result.config, { logger: silentLogger(), framers, defaultMetrics: !process.argv.includes('--no-default-metrics') });
process.stdout.write(`switchyard proxy: ${arg('--listen')} (library${process.argv.includes('--no-default-metrics') ? ', no default metrics' : ''})\n`);
process.on('SIGTERM', () => {
  void yard.close({ drainTimeout: 0 }).then(() => process.exit(0));
});
