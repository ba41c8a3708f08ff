import net from 'node:net';

/**
 * HTTP/1.1 load for the benchmarks (chaos.js, nvariant.js): `conns` keep-alive clients, one POST of `body` in
 * flight each, responses counted by Content-Length; `warmupMs` unmeasured, then `timeMs` (or `maxRequests`)
 * measured. Returns the request rate, p50/p99 latency (ms), the count and the errors (non-200 or socket errors).
 */
export async function httpLoad({ host, port, body, conns, timeMs, warmupMs, maxRequests, path }) {
  const BODY = body;
  const HOST = host;
  const req = Buffer.concat([Buffer.from(`POST ${path ?? '/bench'} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/octet-stream\r\nContent-Length: ${BODY.length}\r\n\r\n`), BODY]);
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
      const s = net.connect({ host: HOST, port, noDelay: true });
      sockets.push(s);
      let buf = Buffer.alloc(0);
      let sent = 0;
      const send = () => {
        if (stopped) return;
        sent = performance.now();
        s.write(req);
      };
      s.on('connect', send);
      s.on('error', () => errors++);
      s.on('data', (chunk) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        for (;;) {
          const head = buf.indexOf('\r\n\r\n');
          if (head < 0) return;
          const m = /content-length: *(\d+)/i.exec(buf.subarray(0, head).toString('latin1'));
          const total = head + 4 + (m ? Number(m[1]) : 0);
          if (buf.length < total) return;
          if (!buf.subarray(0, 12).toString('latin1').startsWith('HTTP/1.1 200')) errors++;
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
