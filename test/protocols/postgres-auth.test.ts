import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import pg from 'pg';
import { startServer, type TestServer } from '../helpers/net.js';
import { ErrorCodes, SwitchyardError } from '../../src/core/errors.js';
import { AUTH, encodeAuthentication, md5PasswordResponse, type PgAuthMethod } from '../../src/protocols/postgres/auth-messages.js';
import { BackendAuth, type BackendAuthConfig, type BackendAuthOptions, type BackendAuthStep } from '../../src/protocols/postgres/backend-auth.js';
import { FrontendAuth, type FrontendAuthConfig, type FrontendAuthStep } from '../../src/protocols/postgres/frontend-auth.js';
import { PgMessageReader } from '../../src/protocols/postgres/message-reader.js';
import { BE, FE, PROTOCOL_3_0, encodeMessage, encodeReadyForQuery, parseErrorFields, parseStartupParameters } from '../../src/protocols/postgres/messages.js';
import { saslPrep, scramClientFinal, scramSecret, scramVerifyProof } from '../../src/protocols/postgres/scram.js';

/**
 * Authentication termination: FrontendAuth (proxy as server) against node-postgres and against BackendAuth;
 * BackendAuth (proxy as client) against the RFC 7677 vector, FrontendAuth and the real PostgreSQL on :5432.
 */

const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]);
const i32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const i16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const typeOf = (m: Buffer): string => String.fromCharCode(m[0]!);
const authCode = (m: Buffer): number => {
  assert.equal(typeOf(m), 'R');
  return m.readInt32BE(5);
};
const password = (s: string | Buffer): Buffer => encodeMessage(FE.Password, Buffer.concat([typeof s === 'string' ? Buffer.from(s, 'utf8') : s, Buffer.alloc(1)]));
const saslInitial = (data: string, mechanism = 'SCRAM-SHA-256'): Buffer => {
  const d = Buffer.from(data, 'utf8');
  return encodeMessage(FE.Password, Buffer.concat([cstr(mechanism), i32(d.length), d]));
};
const saslResponse = (data: string): Buffer => encodeMessage(FE.Password, Buffer.from(data, 'utf8'));

function errorOf(step: FrontendAuthStep): { sqlstate: string; message: string } {
  assert.ok(step.error, `expected an error step, got ${JSON.stringify(step)}`);
  assert.equal(step.send.length, 1);
  const last = step.send[0]!;
  assert.equal(typeOf(last), 'E');
  const f = parseErrorFields(last.subarray(5));
  assert.equal(f['S'], 'FATAL');
  assert.equal(f['C'], step.error.sqlstate);
  assert.equal(f['M'], step.error.message);
  return step.error;
}

function backendError(step: BackendAuthStep): SwitchyardError {
  assert.ok(step.error, `expected an error step, got ${JSON.stringify(step)}`);
  assert.ok(step.error instanceof SwitchyardError);
  return step.error;
}

// ---------------------------------------------------------------------------------------------------------------
// A tiny PostgreSQL server built on FrontendAuth
// ---------------------------------------------------------------------------------------------------------------

interface FakePgOptions {
  /** Rewrite each message FrontendAuth asks to send (e.g. corrupt the SCRAM server signature). */
  tamper?: (m: Buffer) => Buffer;
}

const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

function parameterStatus(name: string, value: string): Buffer {
  return encodeMessage(BE.ParameterStatus, Buffer.concat([cstr(name), cstr(value)]));
}

function selectOneResponse(): Buffer[] {
  const field = Buffer.concat([cstr('?column?'), i32(0), i16(0), i32(23), i16(4), i32(-1), i16(0)]);
  return [
    encodeMessage(BE.RowDescription, Buffer.concat([i16(1), field])),
    encodeMessage(BE.DataRow, Buffer.concat([i16(1), i32(1), Buffer.from('1')])),
    encodeMessage(BE.CommandComplete, cstr('SELECT 1')),
    encodeReadyForQuery('I'),
  ];
}

async function startFakePg(config: FrontendAuthConfig, options: FakePgOptions = {}): Promise<TestServer> {
  const server = await startServer((socket) => {
    const auth = new FrontendAuth(config);
    const reader = new PgMessageReader();
    let startup: Buffer | null = Buffer.alloc(0);
    let authenticated = false;
    const write = (msgs: Buffer[]): void => {
      for (const m of msgs) socket.write(options.tamper ? options.tamper(m) : m);
    };
    const handle = (step: FrontendAuthStep): void => {
      write(step.send);
      if (step.error) socket.end();
      else if (step.done) {
        authenticated = true;
        socket.write(
          Buffer.concat([
            parameterStatus('server_version', '16.0 (switchyard test)'),
            parameterStatus('client_encoding', 'UTF8'),
            parameterStatus('standard_conforming_strings', 'on'),
            parameterStatus('integer_datetimes', 'on'),
            encodeMessage(BE.BackendKeyData, Buffer.concat([i32(4242), i32(0x5eed)])),
            encodeReadyForQuery('I'),
          ]),
        );
      }
    };
    socket.on('data', (chunk: Buffer) => {
      if (startup) {
        startup = Buffer.concat([startup, chunk]);
        if (startup.length < 4 || startup.length < startup.readUInt32BE(0)) return;
        const len = startup.readUInt32BE(0);
        const body = startup.subarray(4, len);
        const rest = startup.subarray(len);
        startup = null;
        assert.equal(body.readInt32BE(0), PROTOCOL_3_0);
        const params = parseStartupParameters(body.subarray(4));
        assert.ok(params, 'startup parameters parse');
        handle(auth.begin(params));
        chunk = rest;
      }
      reader.push(chunk);
      for (let m = reader.next(); m; m = reader.next()) {
        if (!authenticated) handle(auth.next(m));
        else if (typeOf(m) === 'Q') socket.write(Buffer.concat(selectOneResponse()));
        else if (typeOf(m) === 'X') socket.end();
      }
    });
  });
  servers.push(server);
  return server;
}

/** Drive BackendAuth over a real socket until ready or error. */
async function runBackend(port: number, config: BackendAuthConfig, options: BackendAuthOptions = {}): Promise<BackendAuthStep & { sent: string[] }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const auth = new BackendAuth(config, options);
  const reader = new PgMessageReader();
  const sent: string[] = [];
  try {
    socket.write(auth.startup());
    return await new Promise((resolve, reject) => {
      socket.on('close', () => reject(new Error('server closed before ready')));
      socket.on('data', (chunk: Buffer) => {
        reader.push(chunk);
        for (let m = reader.next(); m; m = reader.next()) {
          const step = auth.next(m);
          for (const s of step.send) {
            sent.push(typeOf(s));
            socket.write(s);
          }
          if (step.ready || step.error) {
            resolve({ ...step, sent });
            return;
          }
        }
      });
    });
  } finally {
    socket.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 1. RFC 7677 test vector through BackendAuth
// ---------------------------------------------------------------------------------------------------------------

// ClientProof as printed in RFC 7677 §3 (and reproduced by independent implementations).
test('BackendAuth: RFC 7677 SCRAM-SHA-256 test vector', () => {
  const auth = new BackendAuth({ user: 'user', database: 'db', password: 'pencil' }, { nonce: () => 'rOprNGfwEbeRWgbNEkqO' });
  const first = auth.next(encodeAuthentication(AUTH.SASL, Buffer.concat([cstr('SCRAM-SHA-256-PLUS'), cstr('SCRAM-SHA-256'), Buffer.alloc(1)])));
  assert.equal(first.error, undefined);
  assert.equal(first.send.length, 1);
  const init = first.send[0]!;
  assert.equal(typeOf(init), 'p');
  const body = init.subarray(5);
  assert.equal(body.toString('utf8', 0, 13), 'SCRAM-SHA-256');
  assert.equal(body[13], 0);
  const len = body.readInt32BE(14);
  assert.equal(body.toString('utf8', 18), 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
  assert.equal(len, body.length - 18);

  const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
  const cont = auth.next(encodeAuthentication(AUTH.SASLContinue, Buffer.from(serverFirst)));
  assert.equal(cont.error, undefined);
  assert.equal(cont.send.length, 1);
  assert.equal(typeOf(cont.send[0]!), 'p');
  assert.equal(
    cont.send[0]!.subarray(5).toString('utf8'),
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  );
  const fin = auth.next(encodeAuthentication(AUTH.SASLFinal, Buffer.from('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')));
  assert.deepEqual(fin, { send: [] });
  assert.deepEqual(auth.next(encodeAuthentication(AUTH.Ok)), { send: [] });
  const ps = parameterStatus('server_version', '16.4');
  assert.deepEqual(auth.next(ps), { send: [] });
  assert.deepEqual(auth.next(encodeErrorNotice()), { send: [] }, 'NoticeResponse is ignored');
  assert.deepEqual(auth.next(encodeMessage(BE.BackendKeyData, Buffer.concat([i32(77), i32(99)]))), { send: [] });
  const ready = auth.next(encodeReadyForQuery('I'));
  assert.ok(ready.ready);
  assert.equal(ready.ready.parameters.get('server_version'), '16.4');
  assert.deepEqual(ready.ready.parameterMessages, [ps]);
  assert.equal(ready.ready.backendKey?.pid, 77);
  assert.deepEqual(ready.ready.backendKey?.secret, i32(99));
  assert.equal(ready.ready.txStatus, 'I');

  // The same vector through the server-side maths.
  const secret = scramSecret('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096);
  const authMessage = `n=user,r=rOprNGfwEbeRWgbNEkqO,${serverFirst},c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0`;
  assert.ok(scramVerifyProof(secret, authMessage, Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64')));
});

function encodeErrorNotice(): Buffer {
  return encodeMessage(BE.NoticeResponse, Buffer.concat([Buffer.from('SNOTICE\0CXX000\0Mhello\0'), Buffer.alloc(1)]));
}

test('BackendAuth: wrong server signature, SCRAM-SHA-256-PLUS only, skipped SCRAM, unsupported methods, missing password', () => {
  const start = (cfg: Partial<BackendAuthConfig> = {}) => new BackendAuth({ user: 'user', database: 'db', password: 'pencil', ...cfg }, { nonce: () => 'rOprNGfwEbeRWgbNEkqO' });
  const mechs = (...names: string[]) => encodeAuthentication(AUTH.SASL, Buffer.concat([...names.map(cstr), Buffer.alloc(1)]));
  const serverFirst = encodeAuthentication(AUTH.SASLContinue, Buffer.from('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'));

  let a = start();
  a.next(mechs('SCRAM-SHA-256'));
  a.next(serverFirst);
  let err = backendError(a.next(encodeAuthentication(AUTH.SASLFinal, Buffer.from('v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='))));
  assert.equal(err.code, ErrorCodes.UPSTREAM_ERROR);
  assert.equal(err.details?.['reason'], 'scram-server-signature');
  assert.equal(backendError(a.next(encodeAuthentication(AUTH.Ok))), err, 'a failed machine stays failed');

  a = start();
  a.next(mechs('SCRAM-SHA-256'));
  a.next(serverFirst);
  err = backendError(a.next(encodeAuthentication(AUTH.Ok)));
  assert.match(err.message, /before completing the SCRAM exchange/);

  err = backendError(start().next(mechs('SCRAM-SHA-256-PLUS')));
  assert.match(err.message, /only SCRAM-SHA-256-PLUS/);
  assert.equal(err.details?.['reason'], 'unsupported-auth-method');

  err = backendError(start().next(encodeAuthentication(AUTH.GSS)));
  assert.match(err.message, /GSSAPI/);
  err = backendError(start().next(encodeAuthentication(AUTH.SSPI)));
  assert.match(err.message, /SSPI/);

  err = backendError(start({ password: undefined }).next(encodeAuthentication(AUTH.MD5Password, Buffer.from([1, 2, 3, 4]))));
  assert.equal(err.details?.['reason'], 'password-required');

  a = start();
  a.next(mechs('SCRAM-SHA-256'));
  err = backendError(a.next(encodeAuthentication(AUTH.SASLContinue, Buffer.from('r=someoneElsesNonce,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'))));
  assert.match(err.message, /nonce/);
  a = start();
  a.next(mechs('SCRAM-SHA-256'));
  err = backendError(a.next(encodeAuthentication(AUTH.SASLContinue, Buffer.from('r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=50000000'))));
  assert.match(err.message, /iteration count 50000000 exceeds/);

  // Server ErrorResponse: message and SQLSTATE in details.
  err = backendError(
    start().next(encodeMessage(BE.ErrorResponse, Buffer.concat([Buffer.from('SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user "user"\0'), Buffer.alloc(1)]))),
  );
  assert.equal(err.details?.['sqlstate'], '28P01');
  assert.equal(err.details?.['message'], 'password authentication failed for user "user"');
  assert.match(err.message, /28P01/);
});

test('BackendAuth: cleartext and MD5 responses; StartupMessage layout', () => {
  const a = new BackendAuth({ user: 'alice', database: 'shop', password: 'secret', parameters: { application_name: 'swy', user: 'ignored' } });
  const startup = a.startup();
  assert.equal(startup.readUInt32BE(0), startup.length);
  assert.equal(startup.readInt32BE(4), PROTOCOL_3_0);
  assert.deepEqual(parseStartupParameters(startup.subarray(8)), { user: 'alice', database: 'shop', application_name: 'swy' });
  assert.deepEqual(a.next(encodeAuthentication(AUTH.CleartextPassword)).send, [password('secret')]);

  const b = new BackendAuth({ user: 'alice', database: 'shop', password: 'secret' });
  const salt = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
  const sent = b.next(encodeAuthentication(AUTH.MD5Password, salt)).send;
  // md5(md5("secretalice") + salt), computed independently of md5PasswordResponse.
  const inner = createHash('md5').update('secretalice').digest('hex');
  const expected = 'md5' + createHash('md5').update(Buffer.concat([Buffer.from(inner), salt])).digest('hex');
  assert.deepEqual(sent, [password(expected)]);
  assert.equal(md5PasswordResponse('alice', 'secret', salt), expected);

  assert.throws(() => new BackendAuth({ user: 'a\0b', database: 'x' }).startup(), (e: unknown) => (e as SwitchyardError).code === ErrorCodes.CONFIG_INVALID);
});

test('saslPrep normalises like libpq and node-postgres', () => {
  assert.equal(saslPrep('pencil'), 'pencil');
  assert.equal(saslPrep('I\u00ADX'), 'IX'); // soft hyphen mapped to nothing
  assert.equal(saslPrep('a\u00A0b'), 'a b'); // non-ASCII space
  assert.equal(saslPrep('\u2168'), 'IX'); // NFKC
});

// ---------------------------------------------------------------------------------------------------------------
// 2. node-postgres against FrontendAuth
// ---------------------------------------------------------------------------------------------------------------

const USERS = { alice: 'correct horse', bob: 'p\u00E4ss,w=rd' };

for (const method of ['trust', 'password', 'md5', 'scram-sha-256'] as const) {
  test(`node-postgres ↔ FrontendAuth (${method})`, async () => {
    const server = await startFakePg({ method, users: USERS });
    const connect = async (user: string, pw: string): Promise<pg.Client> => {
      const client = new pg.Client({ host: '127.0.0.1', port: server.port, user, password: pw, database: 'test' });
      client.on('error', () => undefined);
      try {
        await client.connect();
        return client;
      } catch (e) {
        await client.end().catch(() => undefined);
        throw e;
      }
    };
    for (const [user, pw] of Object.entries(USERS)) {
      const client = await connect(user, pw);
      try {
        const res = await client.query('SELECT 1');
        assert.deepEqual(res.rows, [{ '?column?': 1 }]);
      } finally {
        await client.end();
      }
    }
    if (method === 'trust') {
      // trust ignores passwords but not user names.
      const client = await connect('alice', 'anything');
      await client.end();
      await assert.rejects(connect('mallory', 'x'), (e: Error & { code?: string }) => {
        assert.equal(e.code, '28000');
        assert.equal(e.message, 'role "mallory" does not exist');
        return true;
      });
      return;
    }
    for (const [user, pw] of [
      ['alice', 'wrong'],
      ['alice', 'correct horsE'],
      ['mallory', 'whatever'], // unknown user: same answer as a wrong password
    ] as const) {
      await assert.rejects(connect(user, pw), (e: Error & { code?: string; severity?: string }) => {
        assert.equal(e.code, '28P01');
        assert.equal(e.severity, 'FATAL');
        assert.equal(e.message, `password authentication failed for user "${user}"`);
        return true;
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// 3. BackendAuth against the real PostgreSQL
// ---------------------------------------------------------------------------------------------------------------

const PG = { host: '127.0.0.1', port: 5432 };
let pgAvailable = false;
before(async () => {
  pgAvailable = await new Promise<boolean>((resolve) => {
    const s = net.connect(PG);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
});

test('BackendAuth ↔ real PostgreSQL (trust): ready with parameters and backend key', async (t) => {
  if (!pgAvailable) {
    if (process.env['CI']) assert.fail('PostgreSQL is not reachable on 127.0.0.1:5432');
    t.skip('PostgreSQL is not reachable on 127.0.0.1:5432');
    return;
  }
  const step = await runBackend(PG.port, { user: 'postgres', database: 'test', parameters: { application_name: 'swy-auth-test', client_encoding: 'UTF8' } });
  assert.equal(step.error, undefined, step.error?.message);
  assert.ok(step.ready);
  assert.match(step.ready.parameters.get('server_version') ?? '', /^\d+/);
  assert.equal(step.ready.parameters.get('application_name'), 'swy-auth-test');
  assert.equal(step.ready.parameters.get('client_encoding'), 'UTF8');
  assert.equal(step.ready.parameterMessages.length, step.ready.parameters.size);
  assert.ok(step.ready.parameterMessages.every((m) => typeOf(m) === 'S'));
  assert.ok(step.ready.backendKey && step.ready.backendKey.pid > 0);
  assert.equal(step.ready.backendKey.secret.length, 4);
  assert.equal(step.ready.txStatus, 'I');

  // A database that does not exist: the server's FATAL comes back as a typed error with its SQLSTATE.
  const bad = await runBackend(PG.port, { user: 'postgres', database: 'swy_no_such_database' });
  const err = backendError(bad);
  assert.equal(err.code, ErrorCodes.UPSTREAM_ERROR);
  assert.equal(err.details?.['sqlstate'], '3D000');
});

// ---------------------------------------------------------------------------------------------------------------
// 4. BackendAuth ↔ FrontendAuth over a socket
// ---------------------------------------------------------------------------------------------------------------

for (const method of ['password', 'md5', 'scram-sha-256'] as const satisfies readonly PgAuthMethod[]) {
  test(`BackendAuth ↔ FrontendAuth over a socket (${method})`, async () => {
    const server = await startFakePg({ method, users: USERS });
    const expectSent = method === 'scram-sha-256' ? ['p', 'p'] : ['p'];
    for (const [user, pw] of Object.entries(USERS)) {
      const ok = await runBackend(server.port, { user, database: 'test', password: pw });
      assert.equal(ok.error, undefined, ok.error?.message);
      assert.ok(ok.ready);
      assert.deepEqual(ok.sent, expectSent);
      assert.equal(ok.ready.parameters.get('client_encoding'), 'UTF8');
      assert.deepEqual(ok.ready.backendKey, { pid: 4242, secret: i32(0x5eed) });
    }
    const bad = await runBackend(server.port, { user: 'alice', database: 'test', password: 'wrong' });
    const err = backendError(bad);
    assert.equal(err.details?.['sqlstate'], '28P01');
    assert.equal(err.details?.['message'], 'password authentication failed for user "alice"');
  });
}

test('BackendAuth ↔ FrontendAuth: a server that does not know the password (wrong signature) is rejected', async () => {
  const server = await startFakePg(
    { method: 'scram-sha-256', users: USERS },
    {
      tamper: (m) => {
        if (typeOf(m) !== 'R' || m.readInt32BE(5) !== AUTH.SASLFinal) return m;
        const text = m.subarray(9).toString('utf8');
        const sig = Buffer.from(text.slice(2), 'base64');
        sig[0] = sig[0]! ^ 1;
        return encodeAuthentication(AUTH.SASLFinal, Buffer.from(`v=${sig.toString('base64')}`));
      },
    },
  );
  const step = await runBackend(server.port, { user: 'alice', database: 'test', password: USERS.alice });
  const err = backendError(step);
  assert.equal(err.details?.['reason'], 'scram-server-signature');
  assert.deepEqual(step.sent, ['p', 'p']);
});

// ---------------------------------------------------------------------------------------------------------------
// FrontendAuth unit behaviour
// ---------------------------------------------------------------------------------------------------------------

test('FrontendAuth: full SCRAM exchange by hand, with a client nonce and the server nonce injected', () => {
  const auth = new FrontendAuth({ method: 'scram-sha-256', users: { user: 'pencil' } }, { nonce: () => 'SERVERNONCE' });
  const first = auth.begin({ user: 'user', database: 'db' });
  assert.equal(first.send.length, 1);
  assert.equal(authCode(first.send[0]!), AUTH.SASL);
  assert.equal(first.send[0]!.subarray(9).toString('latin1'), 'SCRAM-SHA-256\0\0');
  const cont = auth.next(saslInitial('n,,n=*,r=clientnonce'));
  assert.equal(cont.error, undefined);
  assert.equal(authCode(cont.send[0]!), AUTH.SASLContinue);
  const serverFirst = cont.send[0]!.subarray(9).toString('utf8');
  const m = /^r=clientnonceSERVERNONCE,s=([A-Za-z0-9+/=]+),i=4096$/.exec(serverFirst);
  assert.ok(m, serverFirst);
  const final = scramClientFinal({ password: 'pencil', salt: Buffer.from(m[1]!, 'base64'), iterations: 4096, clientFirstBare: 'n=*,r=clientnonce', serverFirst, nonce: 'clientnonceSERVERNONCE' });
  const done = auth.next(saslResponse(final.message));
  assert.equal(done.done, true);
  assert.equal(done.send.length, 2);
  assert.equal(authCode(done.send[0]!), AUTH.SASLFinal);
  assert.equal(done.send[0]!.subarray(9).toString('utf8'), `v=${final.serverSignature.toString('base64')}`);
  assert.equal(authCode(done.send[1]!), AUTH.Ok);
  assert.equal(auth.done, true);

  // The same user's salt is stable across connections with the same config (a stored verifier).
  const users = { user: 'pencil' };
  const salts = [0, 1].map(() => {
    const a = new FrontendAuth({ method: 'scram-sha-256', users });
    a.begin({ user: 'user' });
    return /,s=([^,]+),/.exec(a.next(saslInitial('n,,n=,r=abc')).send[0]!.subarray(9).toString())![1];
  });
  assert.equal(salts[0], salts[1]);
});

test('FrontendAuth: md5 challenge carries a fresh 4-byte salt and accepts the PG response', () => {
  const a = new FrontendAuth({ method: 'md5', users: { u: 'pw' } });
  const b = new FrontendAuth({ method: 'md5', users: { u: 'pw' } });
  const ca = a.begin({ user: 'u' }).send[0]!;
  const cb = b.begin({ user: 'u' }).send[0]!;
  assert.equal(authCode(ca), AUTH.MD5Password);
  assert.equal(ca.length, 13);
  assert.notDeepEqual(ca.subarray(9), cb.subarray(9));
  const ok = a.next(password(md5PasswordResponse('u', 'pw', ca.subarray(9))));
  assert.equal(ok.done, true);
  assert.deepEqual(ok.send, [encodeAuthentication(AUTH.Ok)]);
  // The salt of the other connection does not work here (no replay).
  assert.equal(errorOf(b.next(password(md5PasswordResponse('u', 'pw', ca.subarray(9))))).sqlstate, '28P01');
});

test('FrontendAuth: startup without a user, and an unknown method', () => {
  const e = errorOf(new FrontendAuth({ method: 'password', users: {} }).begin({ database: 'x' }));
  assert.deepEqual(e, { sqlstate: '28000', message: 'no PostgreSQL user name specified in startup packet' });
  assert.equal(new FrontendAuth({ method: 'trust', users: {} }).begin({ user: 'anyone' }).done, true, 'trust with no user list accepts everyone');
  assert.throws(
    () => new FrontendAuth({ method: 'gss' as PgAuthMethod, users: {} }),
    (err: unknown) => (err as SwitchyardError).code === ErrorCodes.CONFIG_INVALID,
  );
});

// ---------------------------------------------------------------------------------------------------------------
// 5. Malformed input
// ---------------------------------------------------------------------------------------------------------------

function scramAt(stage: 'initial' | 'response'): FrontendAuth {
  const a = new FrontendAuth({ method: 'scram-sha-256', users: USERS });
  a.begin({ user: 'alice' });
  if (stage === 'response') assert.equal(a.next(saslInitial('n,,n=,r=abc')).error, undefined);
  return a;
}

test('FrontendAuth: malformed and unexpected messages give a 08P01 FATAL step', () => {
  // Truncated SASLInitialResponse: declares 40 bytes of data, carries 10.
  const declared = Buffer.concat([cstr('SCRAM-SHA-256'), i32(40), Buffer.from('n,,n=,r=ab')]);
  let e = errorOf(scramAt('initial').next(encodeMessage(FE.Password, declared)));
  assert.equal(e.sqlstate, '08P01');
  // SASLInitialResponse cut inside the mechanism name.
  e = errorOf(scramAt('initial').next(encodeMessage(FE.Password, Buffer.from('SCRAM-SH'))));
  assert.equal(e.sqlstate, '08P01');
  // Truncated SASLResponse: no proof.
  e = errorOf(scramAt('response').next(saslResponse('c=biws,r=abc')));
  assert.deepEqual(e, { sqlstate: '08P01', message: 'malformed SCRAM message', detail: 'Could not find proof in client-final-message.' });
  // Proof cut short.
  e = errorOf(scramAt('response').next(saslResponse('c=biws,r=abc,p=dHzbZapWIk4jUhN4')));
  assert.equal(e.sqlstate, '08P01');
  // Channel binding requested although not offered, authzid, other mechanism.
  assert.equal(errorOf(scramAt('initial').next(saslInitial('p=tls-server-end-point,,n=,r=abc'))).sqlstate, '08P01');
  assert.equal(errorOf(scramAt('initial').next(saslInitial('n,a=bob,n=,r=abc'))).sqlstate, '0A000');
  assert.equal(errorOf(scramAt('initial').next(saslInitial('n,,n=,r=abc', 'SCRAM-SHA-256-PLUS'))).message, 'client selected an invalid SASL authentication mechanism');
  // Unknown / unexpected message type during authentication.
  e = errorOf(scramAt('initial').next(encodeMessage(FE.Query, cstr('SELECT 1'))));
  assert.equal(e.sqlstate, '08P01');
  assert.match(e.message, /expected SASL response, got Query/);
  const pw = new FrontendAuth({ method: 'password', users: USERS });
  pw.begin({ user: 'alice' });
  assert.match(errorOf(pw.next(Buffer.from([0x07, 0, 0, 0, 4]))).message, /expected password response, got unknown message type 0x07/);
  // Length field lying about the message size.
  const lying = password('correct horse');
  lying.writeUInt32BE(100, 1);
  const pw2 = new FrontendAuth({ method: 'password', users: USERS });
  pw2.begin({ user: 'alice' });
  assert.equal(errorOf(pw2.next(lying)).sqlstate, '08P01');
  // Password message without its NUL.
  const pw3 = new FrontendAuth({ method: 'password', users: USERS });
  pw3.begin({ user: 'alice' });
  assert.equal(errorOf(pw3.next(encodeMessage(FE.Password, Buffer.from('correct horse')))).message, 'invalid password packet size');
  // Messages after the end, and before begin().
  const trust = new FrontendAuth({ method: 'trust', users: {} });
  assert.equal(errorOf(trust.next(password('x'))).sqlstate, '08P01');
});

test('BackendAuth: malformed and unexpected messages give a typed error step', () => {
  const fresh = () => new BackendAuth({ user: 'u', database: 'd', password: 'p' });
  let err = backendError(fresh().next(encodeMessage(BE.Authentication, Buffer.from([0, 0]))));
  assert.equal(err.code, ErrorCodes.FRAME_MALFORMED);
  err = backendError(fresh().next(Buffer.from([0x07, 0, 0, 0, 4])));
  assert.equal(err.code, ErrorCodes.UPSTREAM_ERROR);
  assert.match(err.message, /unknown message type 0x07/);
  err = backendError(fresh().next(encodeMessage(BE.DataRow, i16(0))));
  assert.match(err.message, /DataRow/);
  err = backendError(fresh().next(encodeReadyForQuery('I')));
  assert.match(err.message, /before AuthenticationOk/);
  err = backendError(fresh().next(Buffer.from([0x52, 0, 0])));
  assert.equal(err.code, ErrorCodes.FRAME_MALFORMED);
  // Truncated SASL mechanism list, truncated MD5 salt, SASLContinue without SASL.
  err = backendError(fresh().next(encodeAuthentication(AUTH.SASL, Buffer.from('SCRAM-SHA-256'))));
  assert.equal(err.code, ErrorCodes.FRAME_MALFORMED);
  err = backendError(fresh().next(encodeAuthentication(AUTH.MD5Password, Buffer.from([1, 2]))));
  assert.equal(err.code, ErrorCodes.FRAME_MALFORMED);
  err = backendError(fresh().next(encodeAuthentication(AUTH.SASLContinue, Buffer.from('r=x,s=AAAA,i=1'))));
  assert.match(err.message, /out of order/);
  // After ReadyForQuery the machine refuses more input.
  const a = fresh();
  a.next(encodeAuthentication(AUTH.Ok));
  assert.ok(a.next(encodeReadyForQuery('T')).ready);
  assert.match(backendError(a.next(encodeReadyForQuery('I'))).message, /after ReadyForQuery/);
});

test('arbitrary bytes never make either machine throw', () => {
  const arbitraryMessage = fc.oneof(
    fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    fc
      .tuple(fc.constantFrom(0x70, 0x52, 0x53, 0x4b, 0x5a, 0x45, 0x4e, 0x07), fc.uint8Array({ maxLength: 80 }))
      .map(([type, payload]) => encodeMessage(type, Buffer.from(payload))),
    fc.string({ maxLength: 60 }).map((s) => saslInitial(s)),
    fc.string({ maxLength: 60 }).map((s) => saslResponse(s)),
    fc.string({ maxLength: 60 }).map((s) => encodeAuthentication(AUTH.SASLContinue, Buffer.from(s))),
    fc.integer({ min: -2, max: 14 }).map((code) => encodeAuthentication(code)),
  );
  fc.assert(
    fc.property(fc.constantFrom('password', 'md5', 'scram-sha-256', 'scram-response'), fc.array(arbitraryMessage, { maxLength: 4 }), (mode, msgs) => {
      const f = mode === 'scram-response' ? scramAt('response') : new FrontendAuth({ method: mode, users: USERS });
      if (mode !== 'scram-response') f.begin({ user: 'alice' });
      const b = new BackendAuth({ user: 'alice', database: 'd', password: 'x' }, { maxIterations: 16 });
      b.next(encodeAuthentication(AUTH.SASL, Buffer.concat([cstr('SCRAM-SHA-256'), Buffer.alloc(1)])));
      for (const m of msgs) {
        const fs = f.next(m);
        if (fs.error) assert.equal(typeOf(fs.send[fs.send.length - 1]!), 'E');
        const bs = b.next(m);
        if (bs.error) assert.ok(bs.error instanceof SwitchyardError);
      }
    }),
    { numRuns: 300 },
  );
});

test('PgMessageReader: byte-at-a-time reassembly, limits', () => {
  const msgs = [password('abc'), encodeAuthentication(AUTH.Ok), encodeReadyForQuery('I'), encodeMessage(BE.DataRow, Buffer.alloc(3000, 7))];
  const all = Buffer.concat(msgs);
  const r = new PgMessageReader();
  const out: Buffer[] = [];
  for (let i = 0; i < all.length; i++) {
    r.push(all.subarray(i, i + 1));
    for (let m = r.next(); m; m = r.next()) out.push(Buffer.from(m));
  }
  assert.deepEqual(out, msgs);
  assert.equal(r.buffered, 0);

  const big = new PgMessageReader();
  big.push(Buffer.from([0x44, 0x00, 0x10, 0x00, 0x00])); // declares 1 MiB + 1 byte with its type
  assert.throws(() => big.next(), (e: unknown) => (e as SwitchyardError).code === ErrorCodes.FRAME_TOO_LARGE);
  const justFits = new PgMessageReader();
  justFits.push(Buffer.from([0x44, 0x00, 0x0f, 0xff, 0xff]));
  assert.equal(justFits.next(), null, 'a 1 MiB message is accepted (waits for its bytes)');
  assert.equal(justFits.buffered, 5);
  const tiny = new PgMessageReader();
  tiny.push(Buffer.from([0x44, 0, 0, 0, 3]));
  assert.throws(() => tiny.next(), (e: unknown) => (e as SwitchyardError).code === ErrorCodes.FRAME_MALFORMED);
});
