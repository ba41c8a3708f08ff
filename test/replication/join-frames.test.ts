import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinFrames } from '../../src/replication/peer.js';
import { parseResponseHead } from '../../src/protocols/http/head.js';

test('joinFrames: frames back to back in one chunk become one view over it (no copy)', () => {
  const chunk = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc');
  const head = chunk.subarray(0, chunk.length - 3);
  const body = chunk.subarray(chunk.length - 3);
  const joined = joinFrames([head, body], chunk.length);
  assert.equal(joined.toString(), chunk.toString());
  assert.equal(joined.buffer, chunk.buffer);
  assert.equal(joined.byteOffset, chunk.byteOffset);
});

test('joinFrames: frames from different chunks, or not adjacent, are copied into one buffer', () => {
  const a = Buffer.from('head|');
  const b = Buffer.from('body');
  assert.equal(joinFrames([a, b], a.length + b.length).toString(), 'head|body');
  const chunk = Buffer.from('0123456789');
  const gap = joinFrames([chunk.subarray(0, 3), chunk.subarray(4, 6)], 5);
  assert.equal(gap.toString(), '01245');
  chunk[0] = 0x41; // a copy: the chunk's bytes changing later does not change it
  assert.equal(gap.toString(), '01245');
  const reversed = joinFrames([chunk.subarray(5, 7), chunk.subarray(0, 2)], 4);
  assert.equal(reversed.toString(), '56A1');
});

test('HTTP head: Content-Length and Connection read from the bytes agree with the string path', () => {
  const head = (fields: string): Buffer => Buffer.from(`HTTP/1.1 200 OK\r\n${fields}\r\n`, 'latin1');
  assert.equal(parseResponseHead(head('Content-Length: \t42 \r\n')).fields.contentLength, 42);
  assert.equal(parseResponseHead(head('Content-Length: 7\r\nContent-Length: 7\r\n')).fields.contentLength, 7);
  assert.equal(parseResponseHead(head('Content-Length: 7, 7\r\n')).fields.contentLength, 7);
  assert.throws(() => parseResponseHead(head('Content-Length: 7\r\nContent-Length: 8\r\n')), /conflicting Content-Length/);
  assert.throws(() => parseResponseHead(head('Content-Length: 7x\r\n')), /invalid Content-Length/);
  assert.throws(() => parseResponseHead(head('Content-Length: \r\n')), /invalid Content-Length/);
  const ka = parseResponseHead(head('Connection: Keep-Alive\r\n')).fields;
  assert.equal(ka.keepAlive, true);
  assert.equal(ka.close, false);
  assert.equal(parseResponseHead(head('Connection:  CLOSE \r\n')).fields.close, true);
  const list = parseResponseHead(head('Connection: keep-alive, Upgrade\r\n')).fields;
  assert.equal(list.keepAlive, true);
  assert.equal(list.connectionUpgrade, true);
  const other = parseResponseHead(head('Connection: closed\r\n')).fields;
  assert.equal(other.close, false);
  assert.equal(other.keepAlive, false);
});
