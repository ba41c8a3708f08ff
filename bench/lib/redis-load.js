import net from 'node:net';

/**
 * Redis load for the routing bench: `conns` connections, one command in flight each, alternating `SET a:<n> v` and
 * `GET b:<n>` (keys of two prefixes, so a router sends them to two clusters); replies are counted by their CRLF
 * framing (simple strings and bulk strings only). `warmupMs` unmeasured, then `timeMs` (or `maxRequests`) measured.
 * Returns the request rate, p50/p99 latency (ms), the count and the errors (-ERR replies or socket errors).
 */
export async function redisLoad({ host, port, conns, timeMs, warmupMs, maxRequests }) {
  const cmd = (args) => Buffer.from(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  const samples = new Float64Array(maxRequests);
  let count = 0;
  let errors = 0;
  let measuring = false;
  let stopped = false;
  const sockets = [];
  const start = performance.now();
  await new Promise((resolve) => {
    setTimeout(() => (measuring = true), warmupMs);
    const deadline = setTimeout(() => {
      stopped = true;
      resolve();
    }, warmupMs + timeMs);
    for (let i = 0; i < conns; i++) {
      const s = net.connect({ host, port, noDelay: true });
      sockets.push(s);
      const commands = [cmd(['SET', `a:bench:${i}`, 'x'.repeat(64)]), cmd(['GET', `b:bench:${i}`])];
      let n = 0;
      let buf = Buffer.alloc(0);
      let sent = 0;
      const send = () => {
        if (stopped) return;
        sent = performance.now();
        s.write(commands[n++ & 1]);
      };
      s.on('connect', send);
      s.on('error', () => errors++);
      s.on('data', (chunk) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        for (;;) {
          const lf = buf.indexOf('\r\n');
          if (lf < 0) return;
          let total = lf + 2;
          if (buf[0] === 0x24) {
            const len = Number(buf.toString('latin1', 1, lf));
            if (len >= 0) total += len + 2;
          }
          if (buf.length < total) return;
          if (buf[0] === 0x2d) errors++;
          buf = buf.subarray(total);
          if (measuring && !stopped && count < maxRequests) samples[count++] = performance.now() - sent;
          if (count >= maxRequests) {
            stopped = true;
            clearTimeout(deadline);
            resolve();
          }
          send();
        }
      });
    }
  });
  const elapsed = performance.now() - start - warmupMs;
  for (const s of sockets) s.destroy();
  const a = samples.subarray(0, count).sort();
  const at = (p) => (count ? a[Math.min(count - 1, Math.ceil((p / 100) * count) - 1)] : NaN);
  return { rps: (count / elapsed) * 1000, p50: at(50), p99: at(99), count, errors };
}
