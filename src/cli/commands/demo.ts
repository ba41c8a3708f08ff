import net from 'node:net';
import { once } from 'node:events';
import { guard, logLevelOf, parseCommandArgs } from '../args.js';
import { validateConfig } from '../../control/config-schema.js';
import { createFramerRegistry } from '../../framing/builtins.js';
import { createLogger } from '../../core/log.js';
import { formatAddress } from '../../core/address.js';
import { serveUntilSignal, startAll } from '../serve.js';

const USAGE = `Usage: switchyard demo [--listen HOST:PORT] [--admin HOST:PORT] [--once] [--log-level LEVEL]

Starts, all on loopback: a small built-in backend (a line service that answers each line in upper case),
a switchyard proxy with line framing in front of it, and the admin API. Sends one request through the proxy
to show it working, then prints what to try and runs until Ctrl-C.

Options:
      --listen ADDR   proxy address (default 127.0.0.1:7070; port 0 = any free port)
      --admin ADDR    admin API address (default 127.0.0.1:9901; port 0 = any free port)
      --once          run the self-check, print the results and exit (exit 1 if it failed)
      --log-level L   default warn
  -h, --help          this help
`;

/** The demo backend: one line in, the same line upper-cased out (with a counter, so round trips are visible). */
async function startBackend(): Promise<net.Server> {
  let n = 0;
  const server = net.createServer((socket) => {
    let pending = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      pending += text;
      let i: number;
      while ((i = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, i).replace(/\r$/, '');
        pending = pending.slice(i + 1);
        socket.write(`#${++n} ${line.toUpperCase()}\n`);
      }
    });
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

async function roundTrip(port: number, host: string, line: string): Promise<string> {
  const socket = net.connect({ port, host });
  await once(socket, 'connect');
  socket.setEncoding('utf8');
  socket.end(`${line}\n`);
  let reply = '';
  for await (const chunk of socket) reply += chunk as string;
  return reply.trimEnd();
}

export function demoCommand(argv: string[]): Promise<number> {
  return guard(USAGE, async () => {
    const { values } = parseCommandArgs(argv, {
      listen: { type: 'string' },
      admin: { type: 'string' },
      once: { type: 'boolean' },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const backend = await startBackend();
    const backendPort = (backend.address() as net.AddressInfo).port;
    const framers = createFramerRegistry();
    const result = validateConfig(
      {
        admin: { listen: values.admin ?? '127.0.0.1:9901' },
        listeners: [{ id: 'demo', listen: values.listen ?? '127.0.0.1:7070', framing: { type: 'line', stripDelimiter: false } }],
        clusters: [{ id: 'demo-backend', endpoints: [`127.0.0.1:${backendPort}`] }],
        routes: [{ id: 'demo', listener: 'demo', cluster: 'demo-backend' }],
        shutdown: { drainTimeout: '2s' },
      },
      framers,
    );
    if (!result.ok) throw new Error(result.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
    const logger = createLogger({ level: logLevelOf(values['log-level'], 'warn') });
    let running;
    try {
      running = await startAll(result.config, framers, logger);
    } catch (err) {
      backend.close();
      throw err;
    }
    const { yard } = running;
    const admin = running.admin!;
    const listener = yard.listeners.get('demo')!;
    const addr = listener.address!;
    const host = addr.kind === 'tcp' ? addr.host : '127.0.0.1';
    const port = addr.kind === 'tcp' ? addr.port : 0;

    const reply = await roundTrip(port, host, 'hello switchyard');
    const ok = /^#\d+ HELLO SWITCHYARD$/.test(reply);
    const out = process.stdout;
    out.write(`switchyard demo\n`);
    out.write(`  backend   127.0.0.1:${backendPort}  (answers each line in upper case)\n`);
    out.write(`  proxy     ${formatAddress(addr)}  (line framing, listener "demo" -> cluster "demo-backend")\n`);
    out.write(`  admin API ${admin.url}\n\n`);
    out.write(`self-check: sent "hello switchyard" through the proxy, got "${reply}" ${ok ? '(ok)' : '(UNEXPECTED)'}\n`);
    const s = listener.stats;
    out.write(`listener stats: ${s.total} connection(s), ${s.bytesToUpstream} bytes up, ${s.bytesToDownstream} bytes down, ${s.framesToUpstream} frame(s) up\n\n`);
    if (values.once) {
      await yard.close();
      await admin.close();
      await new Promise<void>((r) => backend.close(() => r()));
      return ok ? 0 : 1;
    }
    out.write(`Try:\n`);
    out.write(`  printf 'hello\\nworld\\n' | nc -q1 ${host} ${port}      # lines through the proxy\n`);
    out.write(`  curl -s ${admin.url}/api/v1/listeners                # run-time objects, state and stats\n`);
    out.write(`  curl -s ${admin.url}/metrics | grep '^switchyard_'   # Prometheus metrics\n`);
    out.write(`  curl -s -X DELETE '${admin.url}/api/v1/listeners/demo?drain=2s'   # stop the listener\n`);
    out.write(`Ctrl-C to stop.\n`);
    const code = await serveUntilSignal(yard, admin, result.config.shutdown.drainTimeout, logger);
    await new Promise<void>((r) => backend.close(() => r()));
    return code;
  });
}
