import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable } from '../../src/http-kit/route-table.js';
import { HttpError, errorStatus } from '../../src/http-kit/http-error.js';
import { ErrorCodes, SwitchyardError } from '../../src/core/errors.js';

const table = new RouteTable<string>([
  ['GET HEAD', '/items', 'list'],
  ['POST', '/items', 'create'],
  ['GET', '/items/:id/parts/:name', 'part'],
  ['*', '/metrics', 'metrics'],
]);

test('method + pattern → handler, with named parameters', () => {
  assert.deepEqual(table.match('GET', ['items']), { kind: 'found', handler: 'list', params: {} });
  assert.deepEqual(table.match('POST', ['items']), { kind: 'found', handler: 'create', params: {} });
  assert.deepEqual(table.match('GET', ['items', 'a', 'parts', 'b']), { kind: 'found', handler: 'part', params: { id: 'a', name: 'b' } });
  assert.equal(table.match('PURGE', ['metrics']).kind, 'found');
});

test('no route for the path → not found; a route without the method → not allowed, methods in table order', () => {
  assert.equal(table.match('GET', ['nope']).kind, 'not-found');
  assert.equal(table.match('GET', ['items', 'a', 'parts']).kind, 'not-found');
  assert.equal(table.match('GET', ['items', '', 'parts', 'b']).kind, 'not-found', 'a parameter is never empty');
  assert.deepEqual(table.match('DELETE', ['items']), { kind: 'not-allowed', allow: ['GET', 'HEAD', 'POST'] });
});

test('aliases serve a method by another one without listing it', () => {
  const t = new RouteTable<string>([['GET', '/x', 'get'], ['PUT', '/x', 'put']], { aliases: { HEAD: 'GET', POST: 'PUT' } });
  assert.equal((t.match('HEAD', ['x']) as { handler: string }).handler, 'get');
  assert.equal((t.match('POST', ['x']) as { handler: string }).handler, 'put');
  assert.deepEqual(t.match('DELETE', ['x']), { kind: 'not-allowed', allow: ['GET', 'PUT'] });
});

test('one place maps errors to statuses', () => {
  assert.equal(errorStatus(new HttpError(413, ErrorCodes.BAD_REQUEST, 'big')), 413);
  assert.equal(errorStatus(new SwitchyardError(ErrorCodes.NOT_FOUND, 'x')), 404);
  assert.equal(errorStatus(new SwitchyardError(ErrorCodes.LISTEN_FAILED, 'x')), 409);
  assert.equal(errorStatus({ code: ErrorCodes.CONFIG_INVALID }), 400, 'by code, not by class');
  assert.equal(errorStatus(new Error('bug')), 500);
});
