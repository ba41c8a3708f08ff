/** The Autobahn|Python test router and client (test/fixtures/wamp/*.py), run with Debian's /usr/bin/python3. */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const FIXTURES = fileURLToPath(new URL('../fixtures/wamp/', import.meta.url));
export const PYTHON = '/usr/bin/python3';

/** True when Debian's python3-autobahn is importable. */
export function havePythonAutobahn(): Promise<boolean> {
  if (!existsSync(PYTHON)) return Promise.resolve(false);
  return new Promise((resolve) => execFile(PYTHON, ['-c', 'import autobahn.twisted, cbor2, msgpack'], (err) => resolve(err === null)));
}

export interface PyRouter {
  ws: number;
  rs: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Start the fixture router; resolves once it printed its ports. */
export function startPyRouter(args: string[]): Promise<PyRouter> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [`${FIXTURES}router.py`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`router did not start: ${err}`))), 20_000);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY ws=(\d+) rs=(\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve({
        ws: Number(m[1]),
        rs: Number(m[2]),
        process: child,
        stop: () =>
          new Promise<void>((r) => {
            if (child.exitCode !== null || child.signalCode !== null) return r();
            child.once('exit', () => r());
            child.kill('SIGTERM');
          }),
      });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`router exited (${String(code)}): ${err}`));
    });
  });
}

/** Run the fixture client; resolves with its JSON report. */
export function runPyClient(args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [`${FIXTURES}client.py`, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as Record<string, unknown>);
      } catch {
        reject(new Error(`client failed: ${err?.message ?? ''}\n${stdout}\n${stderr}`));
      }
    });
  });
}
