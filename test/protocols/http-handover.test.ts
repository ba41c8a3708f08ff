/**
 * The HTTP hooks replicate routes use to parse each message once: a variant connection's codec is told of a request
 * the client's codec framed (`expect`), and the client's codec is told of an answer a variant's codec framed
 * (`handOver`, with `after`), instead of either parsing the bytes a second time. Compared with what parsing gives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpProtocol, httpOptionsSchema, HttpCodec } from '../../src/protocols/http/index.js';
import type { Attributes, MessageInfo, ProtocolFramer } from '../../src/protocols/protocol.js';

const hooks = httpProtocol.requestRouting!;
const codec = (): HttpCodec => httpProtocol.factory(httpOptionsSchema.parse({})).create() as HttpCodec;

function feed(framer: ProtocolFramer, data: string): { frame: string; info: MessageInfo }[] {
  framer.push(Buffer.from(data, 'latin1'));
  const out: { frame: string; info: MessageInfo }[] = [];
  for (let f = framer.next(); f !== null; f = framer.next()) out.push({ frame: f.toString('latin1'), info: { ...framer.info! } });
  return out;
}

/** The client's codec frames `request`; the variant's codec is told of it; returns the start attributes. */
function send(client: HttpCodec, variant: HttpCodec, request: string): Attributes[] {
  const starts = feed(client.toUpstream, request)
    .filter((g) => g.info.start)
    .map((g) => g.info.attributes!);
  for (const a of starts) hooks.expect!(client, variant, a);
  return starts;
}

test('http expect: the variant codec frames answers (HEAD, pipelining) as if it had parsed the requests', () => {
  const client = codec();
  const variant = codec();
  const starts = send(client, variant, 'HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc');
  assert.equal(starts.length, 2);
  const got = feed(variant.toDownstream, 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  // the HEAD answer's Content-Length announces no body: the next bytes are the second answer
  assert.deepEqual(
    got.map((g) => [g.info.start, g.info.end, g.info.unsolicited === true]),
    [
      [true, true, false],
      [true, false, false],
      [false, true, false],
    ],
  );
  assert.equal(hooks.after!(variant), 'keep');
  assert.equal(variant.state.pending.length, 0);
});

test('http handOver: the client codec records the answer as answered, in order; close carries over', () => {
  const client = codec();
  const variant = codec();
  const [a, b] = send(client, variant, 'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n');
  feed(variant.toDownstream, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  const afterA = hooks.after!(variant);
  feed(variant.toDownstream, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  const afterB = hooks.after!(variant);
  assert.deepEqual([afterA, afterB], ['keep', 'close']);
  // out of order: refused, nothing changed
  assert.equal(hooks.handOver!(client, b!, afterB), false);
  assert.equal(client.state.pending.length, 2);
  assert.equal(hooks.handOver!(client, a!, afterA), true);
  assert.equal(client.keepAlive, true);
  assert.equal(hooks.handOver!(client, b!, afterB), true);
  assert.equal(client.state.pending.length, 0);
  assert.equal(client.keepAlive, false);
  assert.equal(client.state.serverClose, true);
  // the client's response framer saw none of it and is ready for an answer it parses itself (100 Continue)
  const more = send(client, variant, 'GET /c HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(more.length, 1);
  assert.deepEqual(
    feed(client.toDownstream, 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n').map((g) => g.info.unsolicited === true),
    [true, false],
  );
  assert.equal(client.state.pending.length, 0);
});

test('http handOver: an Upgrade request, or an answer that switched the connection, is left to the client codec to parse', () => {
  const client = codec();
  const variant = codec();
  const [up] = send(client, variant, 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  feed(variant.toDownstream, 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  assert.equal(hooks.after!(variant), 'switch');
  assert.equal(hooks.handOver!(client, up!, 'switch'), false);
  assert.equal(hooks.handOver!(client, up!, 'keep'), false);
  assert.equal(client.state.pending.length, 1);
  // parsing it releases the client's held bytes and makes the connection a tunnel, as before
  feed(client.toDownstream, 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  assert.equal(client.state.opaque, true);
  assert.equal(client.state.pending.length, 0);
});
