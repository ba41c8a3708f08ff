import { guard, parseCommandArgs, str, strs, UsageError } from '../args.js';
import { ADMIN_FLAGS, ADMIN_FLAGS_USAGE, adminCliPath } from '../admin-flags.js';
import { formatAddress } from '../../core/address.js';
import { serveUntilSignal } from '../serve.js';
import { startFromFlags } from '../flag-config.js';

const USAGE = `Usage: switchyard grpc --listen HOST:PORT --upstream HOST:PORT [--upstream HOST:PORT ...]
                       [--secondary HOST:PORT ...] [--mutators REGEX] [--secondary-errors swallow|fail]
                       [--compare off|report|majority|unanimous|weighted] [--admin HOST:PORT] [--admin-token-file F] [--connect-timeout 5s]
                       [--drain-timeout 10s] [--engine auto|http2|frames] [--log-level LEVEL]

A transparent gRPC (HTTP/2 cleartext) proxy for any service, without its protos. Every call goes to the primary
(several --upstream options are its endpoints, balanced round robin); with --secondary, every call whose method
matches --mutators (default: every method) also goes to each secondary, whose answers are read and dropped. Only
the primary's answer reaches the client. See docs/grpc.md.

Options:
  -l, --listen ADDR          where to accept gRPC clients (h2c)
  -u, --upstream ADDR        an endpoint of the primary (repeatable: round robin)
  -s, --secondary ADDR       a secondary (repeatable: each one gets a copy of every mutator call)
      --mutators REGEX       methods (/package.Service/Method) that go to the secondaries too; others go to the
                             primary only (default: all methods, when secondaries are given)
      --secondary-errors M   swallow (default: a secondary's failure is counted, the call succeeds) or fail
                             (the call fails INTERNAL "failed proxying to secondary: ...")
      --compare P            off (default), or report: a secondary whose answer (messages, status) differs from
                             the primary's is recorded as a divergence event (admin API /api/v1/divergences);
                             the primary's answer is served either way
                             majority, unanimous, weighted: every answer is held until the call is over and
                             voted on (weighted: Praefect's weights); a blocked call fails INTERNAL naming the
                             divergence id
      --admin ADDR           also serve the admin API and /metrics (e.g. 127.0.0.1:9901)
${ADMIN_FLAGS_USAGE}      --connect-timeout D    upstream connect timeout (default 5s)
      --drain-timeout D      on SIGINT/SIGTERM, let calls finish this long (default 10s)
      --engine E             auto (default: the frame-level engine when nothing needs node:http2, i.e. no
                             secondaries and no compare), http2, or frames (docs/grpc.md § engines)
      --log-level L          trace|debug|info|warn|error|fatal|silent
  -h, --help                 this help
`;

export function grpcCommand(argv: string[]): Promise<number> {
  return guard(USAGE, async () => {
    const { values } = parseCommandArgs(argv, {
      listen: { type: 'string', short: 'l' },
      upstream: { type: 'string', short: 'u', multiple: true },
      secondary: { type: 'string', short: 's', multiple: true },
      mutators: { type: 'string' },
      'secondary-errors': { type: 'string' },
      compare: { type: 'string' },
      ...ADMIN_FLAGS,
      'connect-timeout': { type: 'string' },
      'drain-timeout': { type: 'string' },
      engine: { type: 'string' },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (!values.listen) throw new UsageError('missing --listen HOST:PORT');
    const upstreams = strs(values.upstream);
    if (upstreams.length === 0) throw new UsageError('missing --upstream HOST:PORT');
    const secondaries = strs(values.secondary);
    const common: Record<string, unknown> = {};
    if (values['connect-timeout']) common['connectTimeout'] = values['connect-timeout'];
    const clusters = [{ id: 'primary', endpoints: upstreams, ...common }, ...secondaries.map((s, i) => ({ id: `secondary-${i + 1}`, endpoints: [s], ...common }))];
    const grpc: Record<string, unknown> = { secondaries: clusters.slice(1).map((c) => c.id) };
    const mutators = str(values.mutators);
    if (mutators !== undefined) grpc['mutators'] = mutators;
    const errors = str(values['secondary-errors']);
    if (errors !== undefined) grpc['secondaryErrors'] = errors;
    const compare = str(values.compare);
    if (compare !== undefined) grpc['compare'] = { policy: compare };
    const raw: Record<string, unknown> = {
      listeners: [{ id: 'grpc', listen: values.listen, protocol: values.engine === undefined ? 'grpc' : { type: 'grpc', engine: values.engine } }],
      clusters,
      routes: [{ id: 'grpc', listener: 'grpc', cluster: 'primary', grpc }],
    };
    const { yard, admin, config, logger } = await startFromFlags(raw, values, { describe: (e) => `${cliPath(e.path)}: ${e.message}` });
    const l = yard.listeners.get('grpc')!;
    process.stdout.write(
      `switchyard grpc: ${l.address ? formatAddress(l.address) : String(values.listen)} -> primary ${upstreams.join(', ')}` +
        `${secondaries.length > 0 ? `; secondaries ${secondaries.join(', ')} (${mutators === undefined ? 'every method' : `methods matching ${mutators}`}, errors ${errors ?? 'swallow'})` : ''}` +
        `${admin ? `; admin ${admin.url}` : ''}\n`,
    );
    return serveUntilSignal(yard, admin, config.shutdown.drainTimeout, logger);
  }, (where) => (where.listener ? 'choose another --listen' : 'choose another --admin'));
}

/** Map config paths back to the flags they came from. */
function cliPath(path: string): string {
  return adminCliPath(path)
    .replace(/^listeners\[0\]\.listen/, '--listen')
    .replace(/^clusters\[0\]\.endpoints\[(\d+)\]/, (_m, i: string) => `--upstream #${Number(i) + 1}`)
    .replace(/^clusters\[(\d+)\]\.endpoints\[0\]/, (_m, i: string) => `--secondary #${Number(i)}`)
    .replace(/^clusters\[\d+\]\.connectTimeout/, '--connect-timeout')
    .replace(/^routes\[0\]\.grpc\.mutators/, '--mutators')
    .replace(/^routes\[0\]\.grpc\.secondaryErrors/, '--secondary-errors')
    .replace(/^routes\[0\]\.grpc\.compare\.policy/, '--compare')
    .replace(/^shutdown\.drainTimeout/, '--drain-timeout')
    .replace(/^listeners\[0\]\.protocol(\.options)?\.engine/, '--engine');
}
