// How bin/switchyard.js starts node, read from its `#!/usr/bin/env -S NAME=VALUE... node FLAGS...` line, so the
// benches run switchyard exactly as a user's shell does (`node bin/switchyard.js` alone would skip that line).
import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * { env, flags } of the bin's shebang line, plus the node flags in $SWITCHYARD_BENCH_NODE_FLAGS (e.g. "--cpu-prof
 * --cpu-prof-dir=/tmp/prof": profile the switchyard processes of any bench). Throws when the line does not have that shape.
 */
export function binLaunch(root) {
  const file = path.join(root, 'bin', 'switchyard.js');
  const first = readFileSync(file, 'utf8').split('\n', 1)[0];
  const m = /^#!\S*env -S (.*)$/.exec(first);
  if (!m) throw new Error(`${file}: expected a '#!/usr/bin/env -S ... node ...' first line, got '${first}'`);
  const words = m[1].split(/\s+/).filter(Boolean);
  const env = {};
  while (words.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0])) {
    const w = words.shift();
    env[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
  }
  if (words.shift() !== 'node') throw new Error(`${file}: the shebang line does not run node: '${first}'`);
  const extra = (process.env['SWITCHYARD_BENCH_NODE_FLAGS'] ?? '').split(/\s+/).filter(Boolean);
  return { env, flags: [...words, ...extra] };
}
