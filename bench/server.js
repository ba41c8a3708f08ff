// Benchmark upstream server (its own process, started by bench/run.js with an IPC channel).
//
// One TCP port on 127.0.0.1, protocol chosen by the first line a connection sends:
//   "SEND <bytes> <lineLen>\n"  stream <bytes> bytes of <lineLen>-byte lines ('x'… '\n'), then FIN. Respects
//                               backpressure; writes one preallocated buffer over and over (no per-write alloc).
//   anything else               echo every byte back (the first line included) until the peer closes.
// Every line-shaped payload keeps the traffic valid for `--framing line` proxies too.
import net from 'node:net';

const LF = 0x0a;
const CHUNK = 64 * 1024;
/** Preallocated line-structured chunks, by line length. */
const chunks = new Map();

function chunkFor(lineLen) {
  let c = chunks.get(lineLen);
  if (!c) {
    const lines = Math.max(1, Math.floor(CHUNK / lineLen));
    c = Buffer.alloc(lines * lineLen, 'x'.charCodeAt(0));
    for (let i = lineLen - 1; i < c.length; i += lineLen) c[i] = LF;
    chunks.set(lineLen, c);
  }
  return c;
}

function stream(socket, total, lineLen) {
  const chunk = chunkFor(lineLen);
  let left = total;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      const ok = socket.write(n === chunk.length ? chunk : chunk.subarray(0, n));
      if (!ok) return;
    }
    socket.removeListener('drain', pump);
    socket.end();
  };
  socket.on('drain', pump);
  pump();
}

function onConnection(socket) {
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  let head = null;
  const onFirst = (data) => {
    head = head ? Buffer.concat([head, data]) : data;
    const lf = head.indexOf(LF);
    if (lf < 0 && head.length < 256) return;
    socket.removeListener('data', onFirst);
    const first = head.subarray(0, lf < 0 ? head.length : lf).toString('latin1');
    const m = /^SEND (\d+) (\d+)$/.exec(first);
    if (m) {
      stream(socket, Number(m[1]), Number(m[2]));
      socket.on('data', () => undefined);
      return;
    }
    socket.write(head);
    head = null;
    socket.on('data', (d) => socket.write(d));
  };
  socket.on('data', onFirst);
}

const server = net.createServer({ noDelay: true }, onConnection);
server.maxConnections = 19_000;
server.on('error', (err) => {
  process.send?.({ type: 'error', message: err.message });
  process.exit(1);
});
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  process.send?.({ type: 'ready', port: server.address().port });
});
process.on('disconnect', () => process.exit(0));
process.on('message', (m) => {
  if (m && m.type === 'stop') process.exit(0);
});
