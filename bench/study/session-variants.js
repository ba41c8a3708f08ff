// switchyard's Session (dist/session/session.js) behind a plain net.Server, to tell its costs apart from the
// listener's, the cluster's and the runtime's. Prints a 'proxy-variant' ready line like proxy-variants.js.
// Usage: node bench/study/session-variants.js --variant NAME --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT
//
//   session         TcpListener's server options + Session + the real connector (connectUpstream with an AbortSignal)
//   session-plain   Session, but connect = a bare net.connect wrapped in a Promise (no AbortSignal, no timer)
//   session-line    session with line framing both ways (as `--framing line`)
import net from 'node:net';
import { Session } from '../../dist/session/session.js';
import { TrafficStats } from '../../dist/core/stats.js';
import { silentLogger } from '../../dist/core/log.js';
import { connectUpstream } from '../../dist/upstream/connector.js';
import { createFramerRegistry } from '../../dist/framing/builtins.js';

const arg = (name) => process.argv[process.argv.indexOf(name) + 1];
const split = (s) => [s.slice(0, s.lastIndexOf(':')), Number(s.slice(s.lastIndexOf(':') + 1))];
const variant = arg('--variant');
const [lhost, lport] = split(arg('--listen'));
const [uhost, uport] = split(arg('--upstream'));
const address = { kind: 'tcp', host: uhost, port: uport };
const logger = silentLogger();
const stats = [new TrafficStats(), new TrafficStats(), new TrafficStats()];
const framers = createFramerRegistry();
const lineFactory = framers.build('line', {});
const framing = variant === 'session-line' ? { toUpstream: lineFactory, toDownstream: lineFactory } : undefined;

const realConnect = (signal) => connectUpstream(address, { connectTimeout: 5000, socket: { noDelay: true, keepAlive: 0 }, signal });
const plainConnect = () =>
  new Promise((resolve, reject) => {
    const s = net.connect({ host: uhost, port: uport, allowHalfOpen: true, noDelay: true });
    s.once('connect', () => {
      s.removeListener('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });

let id = 1;
const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (client) => {
  const session = new Session({
    id: id++,
    listenerId: 'proxy',
    client,
    connect: variant === 'session-plain' ? plainConnect : realConnect,
    framing,
    handlers: [],
    idleTimeout: 0,
    stats,
    logger,
  });
  void session.start();
});
server.listen({ host: lhost, port: lport, backlog: 511 }, () => process.stdout.write(`proxy-variant ${variant}: ${lhost}:${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
