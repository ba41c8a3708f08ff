// Does TIME_WAIT make connect() slower here? Times the synchronous part of net.connect() (the connect(2) call; on
// loopback it includes the SYN/SYN-ACK processing) over batches of sequential connections to a local server while
// TIME_WAIT sockets pile up. --closer client: the client closes first (its ephemeral ports go to TIME_WAIT, as in
// the connrate scenario); --closer server: the server closes first. Bounded: --batches × --per connections.
// Usage: node bench/study/connect-cost.js [--closer client|server] [--batches 8] [--per 4000]
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({ options: { closer: { type: 'string', default: 'client' }, batches: { type: 'string', default: '8' }, per: { type: 'string', default: '4000' } } });
const server = net.createServer((s) => {
  s.on('error', () => undefined);
  if (o.closer === 'server') s.end();
  else s.resume();
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const { port } = server.address();
const timeWait = () => execFileSync('ss', ['-tan', 'state', 'time-wait'], { encoding: 'utf8' }).trim().split('\n').length - 1;

async function batch(n) {
  let ns = 0n;
  for (let i = 0; i < n; i++) {
    await new Promise((resolve) => {
      const t = process.hrtime.bigint();
      const s = net.connect({ host: '127.0.0.1', port });
      ns += process.hrtime.bigint() - t;
      s.on('error', () => undefined);
      if (o.closer === 'server') s.on('end', () => s.end());
      else s.on('connect', () => s.end());
      s.on('close', resolve);
      s.resume();
    });
  }
  return Number(ns) / n / 1000;
}

console.log(`| batch (${o.per} sequential connections, ${o.closer} closes first) | net.connect() sync part, µs | TIME_WAIT sockets after |`);
console.log('|--:|--:|--:|');
console.log(`| before | — | ${timeWait()} |`);
for (let k = 1; k <= Number(o.batches); k++) {
  const us = await batch(Number(o.per));
  console.log(`| ${k} | ${us.toFixed(1)} | ${timeWait()} |`);
}
server.close();
