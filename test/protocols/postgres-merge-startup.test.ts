import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes } from '../../src/core/errors.js';
import { AUTH, encodeAuthentication } from '../../src/protocols/postgres/auth-messages.js';
import { postgresProtocol } from '../../src/protocols/postgres/index.js';
import { BE, CANCEL_REQUEST_CODE, PROTOCOL_3_0, SSL_REQUEST_CODE, encodeMessage, encodeReadyForQuery, parseErrorFields, parseStartupParameters } from '../../src/protocols/postgres/messages.js';

/** The PostgreSQL merge-startup hook on its own: what a merge route's variants and backend see during startup. */

const hooks = postgresProtocol.mergeStartup!;
const options = { auth: { method: 'trust', users: {} }, backend: {} };

function untyped(code: number, rest: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(8 + rest.length, 0);
  b.writeUInt32BE(code, 4);
  return Buffer.concat([b, rest]);
}

function startupMessage(params: Record<string, string>): Buffer {
  const parts = Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`));
  return untyped(PROTOCOL_3_0, Buffer.concat([...parts, Buffer.alloc(1)]));
}

function paramStatus(name: string, value: string): Buffer {
  return encodeMessage(BE.ParameterStatus, Buffer.from(`${name}\0${value}\0`));
}

test('create: no postgres block = no termination; a malformed block is a config error', () => {
  assert.equal(hooks.create(undefined), undefined);
  assert.throws(() => hooks.create({ auth: 'trust' }), (err: Error & { code?: string }) => err.code === ErrorCodes.CONFIG_INVALID);
});

test('variant: SSLRequest refused with N, CancelRequest closed, garbage startup ended with 08P01, trust login done', () => {
  const m = hooks.create(options)!;
  const v = m.variant();
  assert.deepEqual(v.next(untyped(SSL_REQUEST_CODE)), { send: [Buffer.from('N')], outcome: 'more' });
  assert.deepEqual(m.variant().next(untyped(CANCEL_REQUEST_CODE, Buffer.alloc(8))), { send: [], outcome: 'close' });
  const bad = m.variant().next(untyped(PROTOCOL_3_0, Buffer.from('user')));
  assert.equal(bad.outcome, 'end');
  assert.equal(parseErrorFields(bad.send[0]!.subarray(5))['C'], '08P01');
  const ok = v.next(startupMessage({ user: 'app', database: 'notes' }));
  assert.equal(ok.outcome, 'done');
  assert.deepEqual(ok.send, [encodeAuthentication(AUTH.Ok)]);
});

test('mismatch: variants asking for another user or database cannot share a backend session', () => {
  const m = hooks.create(options)!;
  const a = m.variant();
  const b = m.variant();
  a.next(startupMessage({ user: 'app', database: 'notes' }));
  b.next(startupMessage({ user: 'app', database: 'notes', application_name: 'b' }));
  assert.equal(m.mismatch([a, b], ['v1', 'v2']), undefined);
  const c = m.variant();
  c.next(startupMessage({ user: 'other', database: 'notes' }));
  assert.equal(m.mismatch([a, c], ['v1', 'v2']), 'startup parameters differ: v1=app@notes, v2=other@notes');
});

test('backend: logs in with what the first variant asked for, then greets every variant with its own key', () => {
  const m = hooks.create(options)!;
  const a = m.variant();
  a.next(startupMessage({ user: 'app', database: 'notes', application_name: 'x', replication: 'true' }));
  const be = m.backend([a]);
  const [first] = be.begin();
  assert.deepEqual(parseStartupParameters(first!.subarray(8)), { user: 'app', database: 'notes', application_name: 'x' });
  assert.deepEqual(be.next(encodeAuthentication(AUTH.Ok)), { send: [] });
  assert.deepEqual(be.next(paramStatus('server_version', '16')), { send: [] });
  assert.deepEqual(be.next(encodeMessage(BE.BackendKeyData, Buffer.alloc(8, 1))), { send: [] });
  assert.deepEqual(be.next(encodeReadyForQuery('I')), { send: [], done: true });
  const w1 = be.welcome();
  const w2 = be.welcome();
  assert.deepEqual(w1[0], paramStatus('server_version', '16'));
  assert.equal(w1[1]![0], BE.BackendKeyData);
  assert.notDeepEqual(w1[1], w2[1]);
  assert.deepEqual(w1[2], encodeReadyForQuery('I'));
});

test('backend: a server error is a failed startup; failure() is ERROR 58000 then ReadyForQuery', () => {
  const m = hooks.create({ ...options, backend: { user: 'svc', database: 'db' } })!;
  const be = m.backend([m.variant()]);
  assert.deepEqual(parseStartupParameters(be.begin()[0]!.subarray(8)), { user: 'svc', database: 'db' });
  const step = be.next(encodeMessage(BE.ErrorResponse, Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed\0\0')));
  assert.match(step.error ?? '', /password authentication failed/);
  const [err, rfq] = m.failure('diverged');
  assert.deepEqual(parseErrorFields(err!.subarray(5)), { S: 'ERROR', V: 'ERROR', C: '58000', M: 'diverged' });
  assert.deepEqual(rfq, encodeReadyForQuery('I'));
});
