import net from 'node:net';
import http from 'node:http';
import { once } from 'node:events';
import { guard, logLevelOf, parseCommandArgs, str, UsageError } from '../args.js';
import { validateConfig } from '../../runtime/config.js';
import { createFramerRegistry } from '../../framing/builtins.js';
import { formatAddress, parseAddress } from '../../core/address.js';
import { serveUntilSignal, startAll } from '../serve.js';
import { divergenceLineLogger, formatDivergence } from './nvariant.js';
import { startDemoLoad } from './demo-load.js';
import { startGrpcDemo } from './demo-grpc.js';
import { demoWamp } from './demo-wamp.js';

const USAGE = `Usage: switchyard demo [--listen HOST:PORT] [--nvariant-listen HOST:PORT] [--admin HOST:PORT] [--once]
                      [--log-level LEVEL]

Starts, all on loopback: a small built-in backend (a line service that answers each line in upper case),
a switchyard proxy with line framing in front of it, three variants of a tiny HTTP accounts service (the
third with a planted bug) behind an N-variant proxy (policy unanimous), and the admin API. Sends requests
through both proxies to show them working, then prints what to try and runs until Ctrl-C.

Options:
      --listen ADDR            line proxy address (default 127.0.0.1:7070; port 0 = any free port)
      --nvariant-listen ADDR   N-variant HTTP proxy address (default 127.0.0.1:7071, or any free port
                               when --listen's port is 0)
      --admin ADDR             admin API address (default 127.0.0.1:9901; port 0 = any free port)
A default port that is busy is replaced by a free one (the addresses are printed); an address given with a
flag is used as given.
      --once                   run the self-check, print the results and exit (exit 1 if it failed)
      --log-level L            default warn
  -h, --help                   this help
`;

/** The accounts the demo service knows; the caller is alice unless an `x-user` header says otherwise. */
const ACCOUNTS: Record<string, { id: number; owner: string; balance: number }> = {
  '1': { id: 1, owner: 'alice', balance: 120 },
  '2': { id: 2, owner: 'bob', balance: 9500 },
};

/**
 * One variant of the demo accounts service: `GET /account?id=N` answers the caller's own account and refuses
 * anyone else's, except in the flawed variant, whose refactor lost the owner check. Each variant stamps its
 * name in an `x-variant` header (a harmless difference the N-variant proxy is told to ignore).
 */
async function startVariant(name: string, flawed: boolean): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://demo');
    const user = String(req.headers['x-user'] ?? 'alice');
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-variant': name });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== '/account') return send(404, { error: 'not found', try: '/account?id=1' });
    const account = ACCOUNTS[url.searchParams.get('id') ?? ''];
    if (!account) return send(404, { error: 'no such account' });
    if (account.owner !== user && !flawed) return send(403, { error: 'not your account' });
    send(200, account);
  });
  server.keepAliveTimeout = 5_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** One HTTP GET on its own connection (no keep-alive, so shutdown does not wait for it). */
function httpGet(host: string, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

function closeServer(server: net.Server | http.Server): Promise<void> {
  if (server instanceof http.Server) server.closeAllConnections();
  return new Promise<void>((r) => server.close(() => r()));
}

/** True when nothing listens on host:port now (probed by listening there and closing again). */
function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** A default address (7070, 7071, 9901) when its port is free, else the same host with any free port. */
async function defaultAddress(host: string, port: number, flag: string, notes: string[]): Promise<string> {
  if (await portFree(host, port)) return `${host}:${port}`;
  notes.push(`port ${port} (the default of ${flag}) is in use: using a free port instead`);
  return `${host}:0`;
}

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
      'nvariant-listen': { type: 'string' },
      admin: { type: 'string' },
      once: { type: 'boolean' },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const notes: string[] = [];
    const listenFlag = str(values['listen']);
    const listen = listenFlag ?? (await defaultAddress('127.0.0.1', 7070, '--listen', notes));
    let nvListen = str(values['nvariant-listen']);
    if (nvListen === undefined) {
      let anyPort = false;
      try {
        const a = parseAddress(listenFlag ?? '127.0.0.1:7070');
        anyPort = a.kind === 'tcp' && a.port === 0;
      } catch {
        // the config check below names the bad --listen
      }
      nvListen = anyPort ? '127.0.0.1:0' : await defaultAddress('127.0.0.1', 7071, '--nvariant-listen', notes);
    }
    const adminListen = str(values.admin) ?? (await defaultAddress('127.0.0.1', 9901, '--admin', notes));
    const logger = divergenceLineLogger(logLevelOf(values['log-level'], 'warn'));
    const servers: Array<net.Server | http.Server> = [];
    const closeAll = async (): Promise<void> => {
      for (const s of servers.splice(0)) await closeServer(s);
    };
    let running;
    let config;
    try {
      const backend = await startBackend();
      servers.push(backend);
      const variants: http.Server[] = [];
      for (const [name, flawed] of [['v1', false], ['v2', false], ['v3', true]] as const) variants.push(await startVariant(name, flawed));
      servers.push(...variants);
      const backendPort = (backend.address() as net.AddressInfo).port;
      const framers = createFramerRegistry();
      const result = validateConfig(
        {
          admin: { listen: adminListen },
          listeners: [
            { id: 'demo', listen, framing: { type: 'line', stripDelimiter: false } },
            { id: 'nvariant', listen: nvListen, protocol: 'http' },
          ],
          clusters: [
            { id: 'demo-backend', endpoints: [`127.0.0.1:${backendPort}`] },
            // The three variants, as clusters v1..v3 so events and diffs name them that way.
            ...variants.map((v, i) => ({ id: `v${i + 1}`, endpoints: [`127.0.0.1:${(v.address() as net.AddressInfo).port}`] })),
          ],
          routes: [
            { id: 'demo', listener: 'demo', cluster: 'demo-backend' },
            {
              id: 'accounts',
              listener: 'nvariant',
              replicate: {
                variants: variants.map((_, i) => `v${i + 1}`),
                policy: 'unanimous',
                timeout: '2s',
                normalise: { ignoreHeaders: ['x-variant'] },
              },
            },
          ],
          shutdown: { drainTimeout: '2s' },
        },
        framers,
      );
      if (!result.ok) {
        const flag = (p: string): string =>
          p.replace(/^listeners\[0\]\.listen/, '--listen').replace(/^listeners\[1\]\.listen/, '--nvariant-listen').replace(/^admin\.listen/, '--admin');
        throw new UsageError(`invalid options:\n${result.errors.map((e) => `  ${flag(e.path)}: ${e.message}`).join('\n')}`);
      }
      config = result.config;
      running = await startAll(config, framers, logger);
    } catch (err) {
      await closeAll();
      throw err;
    }
    const { yard } = running;
    const admin = running.admin!;
    const listener = yard.listeners.get('demo')!;
    const addr = listener.address!;
    const host = addr.kind === 'tcp' ? addr.host : '127.0.0.1';
    const port = addr.kind === 'tcp' ? addr.port : 0;

    const nvAddr = yard.listeners.get('nvariant')!.address!;
    const nvHost = nvAddr.kind === 'tcp' ? nvAddr.host : '127.0.0.1';
    const nvPort = nvAddr.kind === 'tcp' ? nvAddr.port : 0;
    const nvUrl = `http://${nvHost.includes(':') ? `[${nvHost}]` : nvHost}:${nvPort}`;
    const variantPorts = servers.slice(1).map((v) => (v.address() as net.AddressInfo).port);
    const backendPort = (servers[0]!.address() as net.AddressInfo).port;

    let ok = true;
    const reply = await roundTrip(port, host, 'hello switchyard');
    const lineOk = /^#\d+ HELLO SWITCHYARD$/.test(reply);
    ok &&= lineOk;
    const out = process.stdout;
    if (!values.once) out.write(`dashboard ${admin.url}/  (open it in a browser: docs/dashboard.md)\n\n`);
    out.write(`switchyard demo\n`);
    for (const note of notes) out.write(`  note: ${note}\n`);
    out.write(`  backend   127.0.0.1:${backendPort}  (answers each line in upper case)\n`);
    out.write(`  proxy     ${formatAddress(addr)}  (line framing, listener "demo" -> cluster "demo-backend")\n`);
    out.write(`  variants  v1 127.0.0.1:${variantPorts[0]}, v2 127.0.0.1:${variantPorts[1]}, v3 127.0.0.1:${variantPorts[2]}  (one accounts service, three copies;\n`);
    out.write(`            v3 has a planted bug: it lost the owner check, so alice can read bob's account)\n`);
    out.write(`  n-variant ${formatAddress(nvAddr)}  (protocol http, policy unanimous: every request goes to v1, v2 and v3;\n`);
    out.write(`            any difference blocks the answer with a 502)\n`);
    out.write(`  admin API ${admin.url}\n\n`);
    out.write(`self-check: sent "hello switchyard" through the proxy, got "${reply}" ${lineOk ? '(ok)' : '(UNEXPECTED)'}\n`);
    const s = listener.stats;
    out.write(`listener stats: ${s.total} connection(s), ${s.bytesToUpstream} bytes up, ${s.bytesToDownstream} bytes down, ${s.framesToUpstream} frame(s) up\n\n`);

    out.write(`N-variant self-check (the caller is alice):\n`);
    const before = yard.divergences.list().length;
    const ordinary = await httpGet(nvHost, nvPort, '/account?id=1');
    const ordinaryOk = ordinary.status === 200 && ordinary.body.includes('"alice"');
    ok &&= ordinaryOk;
    out.write(`  GET /account?id=1 -> ${ordinary.status} ${ordinary.body}  ${ordinaryOk ? '(ok: all three variants agreed)' : '(UNEXPECTED)'}\n`);
    const crafted = await httpGet(nvHost, nvPort, '/account?id=2');
    const craftedOk = crafted.status === 502 && !crafted.body.includes('bob');
    ok &&= craftedOk;
    out.write(`  GET /account?id=2 -> ${crafted.status} ${crafted.body}  ${craftedOk ? "(ok: v3 would have leaked bob's account; nothing reached the client)" : '(UNEXPECTED)'}\n`);
    const event = yard.divergences.list().slice(before).find((e) => e.route === 'accounts');
    const eventOk = event?.decision === 'blocked';
    ok &&= eventOk;
    if (event) {
      out.write(`\n${formatDivergence(event)}\n`);
      for (const line of event.diff.split('\n')) out.write(`    ${line}\n`);
    } else {
      out.write(`\nno divergence event was recorded (UNEXPECTED)\n`);
    }
    const grpcDemo = await startGrpcDemo(logger);
    ok = (await grpcDemo.check(out)) && ok;
    const wampStep = await demoWamp(yard, out, values.once ? undefined : admin.url);
    ok &&= wampStep.ok;
    if (values.once) {
      await grpcDemo.close();
      await wampStep.close();
      await yard.close({ drainTimeout: 0 });
      await admin.close();
      await closeAll();
      // Nothing to curl: every server above has stopped.
      out.write(`\n--once: self-check ${ok ? 'passed' : 'FAILED'}; everything has stopped. Run 'switchyard demo' without --once to try it yourself.\n`);
      return ok ? 0 : 1;
    }
    out.write(`see it in the admin API:\n`);
    out.write(`  curl -s ${admin.url}/api/v1/divergences       # every divergence event, with the variants' answers and the diff\n`);
    out.write(`  curl -sN ${admin.url}/api/v1/events           # live, as Server-Sent Events\n\n`);
    yard.divergences.subscribe((e) => process.stderr.write(`${formatDivergence(e)}\n`));
    out.write(`Try:\n`);
    out.write(`  printf 'hello\\nworld\\n' | nc -q1 ${host} ${port}      # lines through the proxy\n`);
    out.write(`  curl -s ${nvUrl}/account?id=1                   # all variants agree: 200\n`);
    out.write(`  curl -si '${nvUrl}/account?id=2'                # v3 differs: blocked, 502 (and a line on stderr)\n`);
    out.write(`  curl -s ${admin.url}/api/v1/listeners                # run-time objects, state and stats\n`);
    out.write(`  curl -s ${admin.url}/metrics | grep '^switchyard_'   # Prometheus metrics\n`);
    out.write(`  curl -s -X DELETE '${admin.url}/api/v1/listeners/demo?drain=2s'   # stop the listener\n`);
    for (const line of grpcDemo.tryLines()) out.write(`${line}\n`);
    // A little traffic keeps the dashboard's charts moving: 5 requests/s, for 30 minutes at most.
    const load = startDemoLoad({ line: { host, port }, http: { host: nvHost, port: nvPort, path: '/account?id=1' } }, { rate: 5, duration: 30 * 60_000 });
    out.write(`Background traffic: 5 requests/s through both proxies for 30 minutes (so the dashboard's charts move).\n`);
    out.write(`Ctrl-C to stop.\n`);
    const code = await serveUntilSignal(yard, admin, config.shutdown.drainTimeout, logger);
    load.stop();
    await grpcDemo.close();
    await wampStep.close();
    await closeAll();
    return code;
  }, (where) => {
    if (where.listener === 'demo') return 'choose another --listen';
    if (where.listener === 'nvariant') return 'choose another --nvariant-listen';
    return 'choose another --admin (or leave the flags out: busy default ports are replaced by free ones)';
  });
}
