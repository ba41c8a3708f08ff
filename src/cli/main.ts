import { runCommand } from './commands/run.js';
import { validateCommand } from './commands/validate.js';
import { proxyCommand } from './commands/proxy.js';
import { demoCommand } from './commands/demo.js';
import { toxiproxyCommand } from './commands/toxiproxy.js';
import { chaosCommand } from './commands/chaos.js';
import { nvariantCommand } from './commands/nvariant.js';
import { grpcCommand } from './commands/grpc.js';
import { wampCommand } from './commands/wamp.js';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../core/version.js';

/** The package's docs/ folder (src/cli/ or dist/cli/ → the package root), shipped with the package. */
export const DOCS_DIR = fileURLToPath(new URL('../../docs/', import.meta.url));

const USAGE = `switchyard ${VERSION} — a programmable, protocol-aware network proxy

Usage: switchyard <command> [options]

Commands:
  run -c FILE        run the proxy from a YAML or JSON config file
  validate -c FILE   check a config file; exit 0 when valid, 1 with the errors otherwise
  proxy              a one-line proxy: --listen HOST:PORT --upstream HOST:PORT [--upstream ...]
  demo               start a built-in backend, a proxy in front of it and the admin API, and show what to try
  toxiproxy          a drop-in toxiproxy-server: the Toxiproxy HTTP API on --host/--port (default 127.0.0.1:8474)
  chaos              a Vaurien-style chaos proxy: --proxy HOST:PORT --backend HOST:PORT --behavior 20:delay,10:error [--http HOST:PORT]
  nvariant           N-variant execution: --listen HOST:PORT --variant HOST:PORT --variant ... [--policy unanimous|majority|primary]
  grpc               a transparent gRPC proxy: --listen HOST:PORT --upstream HOST:PORT [--secondary HOST:PORT ...]
  wamp               a WAMP proxy: --listen HOST:PORT --backend ws://HOST:PORT/PATH [--backend rawsocket://HOST:PORT] [--realm R]

Run 'switchyard <command> --help' for a command's options.
Docs (installed with the package): ${DOCS_DIR}
  configuration.md (config files), admin-api.md, faults.md, chaos-cli.md, toxiproxy-compat.md, nvariant-cli.md, grpc.md, wamp.md
`;

export type CommandFn = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, CommandFn> = {
  run: runCommand,
  validate: validateCommand,
  proxy: proxyCommand,
  demo: demoCommand,
  toxiproxy: toxiproxyCommand,
  chaos: chaosCommand,
  nvariant: nvariantCommand,
  grpc: grpcCommand,
  wamp: wampCommand,
};

/** CLI entry point; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE);
    return cmd === undefined ? 1 : 0;
  }
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const fn = COMMANDS[cmd];
  if (!fn) {
    process.stderr.write(`switchyard: unknown command '${cmd}'\n\n${USAGE}`);
    return 2;
  }
  return fn(rest);
}
