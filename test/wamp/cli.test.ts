/** `switchyard wamp` as a real process in front of two fox-wamp routers; --realm limits the realms; bad flags exit 2. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnCli, runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { join, joined, startFox } from './stack.js';

test('switchyard wamp: --backend x2 round robin, --realm, --admin sessions', async (t) => {
  const a = await startFox();
  const b = await startFox();
  const [port, adminPort] = [await freePort(), await freePort()];
  const cli = spawnCli(['wamp', '--listen', `127.0.0.1:${port}`, '--backend', `ws://127.0.0.1:${a.port}/`, '--backend', `ws://127.0.0.1:${b.port}/?serializers=json`, '--realm', 'realm1', '--admin', `127.0.0.1:${adminPort}`, '--log-level', 'silent']);
  t.after(async () => {
    cli.kill();
    await cli.exited;
    await a.close();
    await b.close();
  });
  await cli.waitFor(/switchyard wamp: .*realms realm1/);
  const url = `ws://127.0.0.1:${port}/ws`;
  const s1 = await joined({ url, realm: 'realm1' });
  const s2 = await joined({ url, realm: 'realm1' });
  try {
    await s1.session.register('cli.echo', (args) => args[0]);
    const sessions = ((await (await fetch(`http://127.0.0.1:${adminPort}/api/v1/wamp/sessions`)).json()) as { sessions: Array<{ backendEndpoint: string }> }).sessions;
    assert.deepEqual(sessions.map((s) => s.backendEndpoint).sort(), [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`].sort());
    const other = await join({ url, realm: 'realm2' });
    assert.ok('reason' in other);
    assert.equal(other.reason, 'wamp.error.no_such_realm');
  } finally {
    await s1.close();
    await s2.close();
  }
});

test('switchyard wamp: a bad --backend is a usage error naming it', async () => {
  const r = await runCli(['wamp', '--listen', '127.0.0.1:0', '--backend', 'http://127.0.0.1:1/']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--backend "http:\/\/127.0.0.1:1\/": scheme must be ws or rawsocket/);
  const missing = await runCli(['wamp', '--listen', '127.0.0.1:0']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /missing --backend/);
});
