// The runtime's ceiling: a bare socket.pipe TCP proxy (defaults everywhere; half-close forwarded).
// Usage: node bench/pipe-proxy.js --listen 127.0.0.1:0 --upstream 127.0.0.1:PORT
import net from 'node:net';

const arg = (name) => process.argv[process.argv.indexOf(name) + 1] ?? '';
const split = (s) => [s.slice(0, s.lastIndexOf(':')), Number(s.slice(s.lastIndexOf(':') + 1))];
const [lhost, lport] = split(arg('--listen'));
const [uhost, uport] = split(arg('--upstream'));

const server = net.createServer({ allowHalfOpen: true }, (client) => {
  const upstream = net.connect({ host: uhost, port: uport, allowHalfOpen: true });
  const kill = () => { client.destroy(); upstream.destroy(); };
  client.on('error', kill);
  upstream.on('error', kill);
  client.pipe(upstream).pipe(client);
});
server.listen({ host: lhost, port: lport, backlog: 511 }, () => {
  process.stdout.write(`pipe-proxy: ${lhost}:${server.address().port} -> ${uhost}:${uport}\n`);
});
process.on('SIGTERM', () => process.exit(0));
