/** Edge authentication and every ABORT case of the proxy (docs/wamp.md "ABORT table"), with autobahn-js and raw peers. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { startYard } from '../helpers/yard.js';
import { autobahn, type Fox, isJoined, join, joined, type Refused, startFox } from './stack.js';

describe('WAMP proxy: edge authentication and ABORT cases', () => {
  let fox: Fox;
  let yard: Switchyard;
  let port: number;
  let url: string;

  before(async () => {
    fox = await startFox();
    yard = await startYard({
      listeners: [
        {
          id: 'wamp',
          listen: '127.0.0.1:0',
          protocol: {
            type: 'wamp',
            auth: {
              anonymous: { role: 'anonymous' },
              ticket: { principals: { alice: { ticket: 'alice-secret', role: 'user' }, mallory: { ticket: 'm-secret', role: 'intruder' } } },
              wampcra: { users: { bob: { secret: 'bob-secret', role: 'user' }, carol: { secret: 'carol-secret', role: 'user', salt: 'salt123', iterations: 100, keylen: 32 } } },
            },
          },
        },
      ],
      clusters: [
        { id: 'fox', endpoints: [`127.0.0.1:${fox.port}`], wamp: { path: '/' } },
        // Nothing listens here: a backend that refuses.
        { id: 'dead', endpoints: ['127.0.0.1:1'], wamp: { path: '/' }, retries: 0 },
      ],
      routes: [
        { id: 'users', listener: 'wamp', match: { realm: 'realm1', authrole: 'user' }, cluster: 'fox' },
        { id: 'admins', listener: 'wamp', match: { realm: 'realm1', authrole: 'admin' }, cluster: 'fox' },
        { id: 'broken', listener: 'wamp', match: { realm: 'broken' }, cluster: 'dead' },
      ],
    });
    const a = yard.listeners.get('wamp')!.address!;
    port = a.kind === 'tcp' ? a.port : 0;
    url = `ws://127.0.0.1:${port}/ws`;
  });

  after(async () => {
    await yard?.close();
    await fox?.close();
  });

  async function refused(options: Record<string, unknown>): Promise<Refused> {
    const r = await join({ url, ...options });
    if (isJoined(r)) {
      await r.close();
      assert.fail(`joined, expected a refusal: ${JSON.stringify(r.details)}`);
    }
    return r;
  }

  it('ticket: the right ticket joins under the principal role; a wrong one → authentication_failed', async () => {
    const ok = await joined({ url, realm: 'realm1', authmethods: ['ticket'], authid: 'alice', onchallenge: () => 'alice-secret' });
    assert.equal(ok.details.authid, 'alice');
    assert.equal(ok.details.authrole, 'user');
    assert.equal(ok.details.authmethod, 'ticket');
    await ok.close();
    const bad = await refused({ realm: 'realm1', authmethods: ['ticket'], authid: 'alice', onchallenge: () => 'wrong' });
    assert.equal(bad.reason, 'wamp.error.authentication_failed');
    const nobody = await refused({ realm: 'realm1', authmethods: ['ticket'], authid: 'nobody', onchallenge: () => 'x' });
    assert.equal(nobody.reason, 'wamp.error.no_such_principal');
  });

  it('wampcra unsalted and salted: right secret joins, wrong secret → authentication_failed', async () => {
    const sign = (secret: string) => (_s: unknown, method: string, extra: { challenge: string; salt?: string; iterations?: number; keylen?: number }) => {
      assert.equal(method, 'wampcra');
      const key = extra.salt === undefined ? secret : autobahn.auth_cra.derive_key(secret, extra.salt, extra.iterations!, extra.keylen!);
      return autobahn.auth_cra.sign(key, extra.challenge);
    };
    for (const [authid, secret] of [
      ['bob', 'bob-secret'],
      ['carol', 'carol-secret'],
    ] as const) {
      const ok = await joined({ url, realm: 'realm1', authmethods: ['wampcra'], authid, onchallenge: sign(secret) });
      assert.equal(ok.details.authid, authid);
      assert.equal(ok.details.authmethod, 'wampcra');
      await ok.close();
      const bad = await refused({ realm: 'realm1', authmethods: ['wampcra'], authid, onchallenge: sign('not-it') });
      assert.equal(bad.reason, 'wamp.error.authentication_failed');
    }
  });

  it('unknown realm → no_such_realm; a role no route serves → no_such_role', async () => {
    const realm = await refused({ realm: 'elsewhere', authmethods: ['ticket'], authid: 'alice', onchallenge: () => 'alice-secret' });
    assert.equal(realm.reason, 'wamp.error.no_such_realm');
    assert.match(realm.message ?? '', /no realm "elsewhere" exists/);
    const role = await refused({ realm: 'realm1', authmethods: ['ticket'], authid: 'mallory', onchallenge: () => 'm-secret' });
    assert.equal(role.reason, 'wamp.error.no_such_role');
    assert.equal(role.message, 'realm "realm1" has no role "intruder"');
  });

  it('anonymous on a realm with no route for role anonymous → authentication_failed "Frontend connection accept failed (missing ...)"', async () => {
    const r = await refused({ realm: 'realm1' });
    assert.equal(r.reason, 'wamp.error.authentication_failed');
    assert.match(r.message ?? '', /^Frontend connection accept failed \(missing \(realm_name=realm1, role_name=anonymous\)/);
  });

  it('a backend that refuses → authentication_failed "Frontend connection accept failed (...)"', async () => {
    const r = await refused({ realm: 'broken' });
    assert.equal(r.reason, 'wamp.error.authentication_failed');
    assert.match(r.message ?? '', /^Frontend connection accept failed \(dead: /);
  });

  it('no usable method → no_auth_method; an unknown method name → authentication_failed', async () => {
    const none = await refused({ realm: 'realm1', authmethods: ['cryptosign'], authid: 'x' });
    assert.equal(none.reason, 'wamp.error.no_auth_method');
    const odd = await refused({ realm: 'realm1', authmethods: ['magic'], authid: 'x' });
    assert.equal(odd.reason, 'wamp.error.authentication_failed');
    assert.equal(odd.message, 'authmethod "magic" not allowed');
  });

  /** Raw WebSocket peer: send messages, collect what comes back until the socket closes. */
  function rawWs(protocol: string, send: unknown[][]): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, [protocol]);
      const got: unknown[] = [];
      ws.on('open', () => {
        for (const m of send) ws.send(JSON.stringify(m));
      });
      ws.on('message', (d: Buffer) => got.push(JSON.parse(d.toString()) as unknown));
      ws.on('close', () => resolve(got));
      ws.on('error', reject);
      setTimeout(() => (ws.terminate(), resolve(got)), 5_000).unref();
    });
  }

  it('before join only HELLO/ABORT/AUTHENTICATE: a CALL → ABORT protocol_violation; AUTHENTICATE without CHALLENGE and client ABORT answered', async () => {
    const call = await rawWs('wamp.2.json', [[48, 1, {}, 'com.x']]);
    assert.deepEqual(call, [[3, { message: 'CALL before the session joined (only HELLO, ABORT and AUTHENTICATE are accepted)' }, 'wamp.error.protocol_violation']]);
    const auth = await rawWs('wamp.2.json', [[5, 'sig', {}]]);
    assert.deepEqual(auth, [[3, { message: 'no pending authentication' }, 'wamp.error.authentication_failed']]);
    const ab = await rawWs('wamp.2.json', [[3, {}, 'wamp.close.normal']]);
    assert.deepEqual(ab, [[3, { message: 'Proxy authentication failed' }, 'wamp.error.authentication_failed']]);
    const junk = await rawWs('wamp.2.json', [[999]]);
    assert.equal((junk[0] as unknown[])[2], 'wamp.error.protocol_violation');
  });

  it('WebSocket upgrade without a WAMP subprotocol → HTTP 400 naming the supported ones; a wrong path → 404', async () => {
    const status = (path: string, protocols: string[]) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols);
        ws.on('unexpected-response', (_q, res) => (resolve(res.statusCode ?? 0), ws.terminate()));
        ws.on('error', () => undefined);
      });
    assert.equal(await status('/ws', ['mqtt']), 400);
    assert.equal(await status('/other', ['wamp.2.json']), 404);
  });

  it('RawSocket on the same port: unsupported serializer → 7F 10 00 00; reserved octets → 7F 30 00 00; ubjson refused too', async () => {
    const handshake = (bytes: number[]) =>
      new Promise<Buffer>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => s.write(Buffer.from(bytes)));
        let got = Buffer.alloc(0);
        s.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
        s.on('close', () => resolve(got));
        s.on('error', reject);
      });
    assert.deepEqual([...(await handshake([0x7f, 0xf7, 0, 0]))], [0x7f, 0x10, 0, 0]);
    assert.deepEqual([...(await handshake([0x7f, 0xf1, 0, 1]))], [0x7f, 0x30, 0, 0]);
    assert.deepEqual([...(await handshake([0x7f, 0xf4, 0, 0]))], [0x7f, 0x10, 0, 0]);
  });

  it('limits before allocation: RawSocket announces 2^20 (maxMessageSize 1MiB) and fails a 2 MiB frame header at once; WebSocket closes 1009', async () => {
    const rs = await new Promise<{ reply: number[]; closed: boolean }>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => s.write(Buffer.from([0x7f, 0xf1, 0, 0])));
      let reply: number[] = [];
      s.on('data', (d: Buffer) => {
        if (reply.length === 0) {
          reply = [...d.subarray(0, 4)];
          // A header announcing 2 MiB; no payload follows: the proxy must not wait for (or buffer) it.
          s.write(Buffer.from([0x00, 0x20, 0x00, 0x00]));
        }
      });
      s.on('close', () => resolve({ reply, closed: true }));
      s.on('error', reject);
    });
    assert.deepEqual(rs.reply, [0x7f, 0xb1, 0, 0]);
    assert.equal(rs.closed, true);
    const code = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(url, ['wamp.2.json']);
      ws.on('open', () => ws.send(Buffer.alloc(2 * 1024 * 1024, 0x20).toString()));
      ws.on('close', (c: number) => resolve(c));
      ws.on('error', () => undefined);
      setTimeout(() => reject(new Error('not closed')), 5_000).unref();
    });
    assert.equal(code, 1009);
  });
});
