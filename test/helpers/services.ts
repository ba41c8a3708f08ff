import assert from 'node:assert/strict';
import net from 'node:net';

/** The shared services of the test machine (docs: README "Run the tests"). */
export const SERVICES = {
  postgres: { host: '127.0.0.1', port: 5432, name: 'PostgreSQL' },
  redis: { host: '127.0.0.1', port: 6379, name: 'Redis' },
  mysql: { host: '127.0.0.1', port: 3306, name: 'MariaDB' },
} as const;

/** True when something accepts TCP connections at host:port. */
export function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/**
 * Gate a test on a service: true when it is up; otherwise fails the test under CI=true (a missing service must be
 * loud there) and skips it with a message on a developer's machine.
 */
export function needService(t: { skip(msg: string): void }, up: boolean, which: keyof typeof SERVICES): boolean {
  const s = SERVICES[which];
  return needPeer(t, up, `${s.name} is not reachable on ${s.host}:${s.port}`);
}

/** The same gate for any peer a test needs (a binary it starts, a process that must come up): `what` says what is missing. */
export function needPeer(t: { skip(msg: string): void }, ok: boolean, what: string): boolean {
  if (ok) return true;
  if (process.env['CI']) assert.fail(`${what} (required in CI)`);
  t.skip(what);
  return false;
}
