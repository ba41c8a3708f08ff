import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatAddress, isLoopback, parseAddress, toBindOptions, toConnectOptions, toListenOptions } from '../../src/core/address.js';
import { ErrorCodes, hasCode } from '../../src/core/errors.js';

function rejects(text: string, message: string, role?: 'listen' | 'connect'): void {
  assert.throws(
    () => parseAddress(text, role ? { role } : {}),
    (err: Error) => {
      assert.ok(hasCode(err, ErrorCodes.CONFIG_INVALID));
      assert.equal(err.message, message);
      return true;
    },
    text,
  );
}

test('parses IPv4, IPv6, host names and unix sockets', () => {
  assert.deepEqual(parseAddress('127.0.0.1:8080'), { kind: 'tcp', host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseAddress('[::1]:8080'), { kind: 'tcp', host: '::1', port: 8080 });
  assert.deepEqual(parseAddress('[::]:0'), { kind: 'tcp', host: '::', port: 0 });
  assert.deepEqual(parseAddress('[2001:db8::1]:443'), { kind: 'tcp', host: '2001:db8::1', port: 443 });
  assert.deepEqual(parseAddress('[::ffff:127.0.0.1]:1'), { kind: 'tcp', host: '::ffff:127.0.0.1', port: 1 });
  assert.deepEqual(parseAddress('localhost:80'), { kind: 'tcp', host: 'localhost', port: 80 });
  assert.deepEqual(parseAddress('redis-primary.svc.cluster.local:6379'), { kind: 'tcp', host: 'redis-primary.svc.cluster.local', port: 6379 });
  assert.deepEqual(parseAddress('my_service:1'), { kind: 'tcp', host: 'my_service', port: 1 });
  assert.deepEqual(parseAddress('0.0.0.0:65535'), { kind: 'tcp', host: '0.0.0.0', port: 65535 });
  assert.deepEqual(parseAddress(' 127.0.0.1:1 '), { kind: 'tcp', host: '127.0.0.1', port: 1 });
  assert.deepEqual(parseAddress('unix:/run/sy.sock'), { kind: 'unix', path: '/run/sy.sock' });
  assert.deepEqual(parseAddress('unix:relative.sock'), { kind: 'unix', path: 'relative.sock' });
  assert.deepEqual(parseAddress('/run/sy.sock'), { kind: 'unix', path: '/run/sy.sock' });
});

test('port 0 is for listening only', () => {
  assert.deepEqual(parseAddress('127.0.0.1:0'), { kind: 'tcp', host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseAddress('127.0.0.1:0', { role: 'listen' }), { kind: 'tcp', host: '127.0.0.1', port: 0 });
  rejects('127.0.0.1:0', 'port 0 in "127.0.0.1:0" is only valid for listening (any free port); a destination needs a real port', 'connect');
  assert.deepEqual(parseAddress('127.0.0.1:1', { role: 'connect' }), { kind: 'tcp', host: '127.0.0.1', port: 1 });
});

test('clear errors', () => {
  rejects('8080', 'expected HOST:PORT, [IPv6]:PORT or unix:/path, got "8080"');
  rejects('localhost', 'expected HOST:PORT, [IPv6]:PORT or unix:/path, got "localhost"');
  rejects('', 'expected HOST:PORT, [IPv6]:PORT or unix:/path, got ""');
  rejects('localhost:', 'missing port in "localhost:": expected HOST:PORT, [IPv6]:PORT or unix:/path');
  rejects('127.0.0.1:65536', 'bad port "65536" in "127.0.0.1:65536": expected an integer 0-65535');
  rejects('127.0.0.1:http', 'bad port "http" in "127.0.0.1:http": expected an integer 0-65535');
  rejects('127.0.0.1:-1', 'bad port "-1" in "127.0.0.1:-1": expected an integer 0-65535');
  rejects('127.0.0.1:123456', 'bad port "123456" in "127.0.0.1:123456": expected an integer 0-65535');
  rejects(':8080', 'missing host in ":8080": use 0.0.0.0:8080 (all IPv4 interfaces), [::]:8080 (all interfaces) or 127.0.0.1:8080');
  rejects('::1:8080', 'IPv6 addresses need brackets, e.g. "[::1]:8080", got "::1:8080"');
  rejects('2001:db8::1', 'IPv6 addresses need brackets, e.g. "[2001:db8::1]:PORT", got "2001:db8::1"');
  rejects('[::1]', 'missing port in "[::1]": expected [IPv6]:PORT');
  rejects('[::1]8080', 'expected ":PORT" after "]" in "[::1]8080"');
  rejects('[::1:8080', 'missing "]" in IPv6 address "[::1:8080": expected [IPv6]:PORT');
  rejects('[127.0.0.1]:80', '"127.0.0.1" in "[127.0.0.1]:80" is not an IPv6 address: expected [IPv6]:PORT');
  rejects('[::1]:99999', 'bad port "99999" in "[::1]:99999": expected an integer 0-65535');
  rejects('999.1.1.1:80', '"999.1.1.1" in "999.1.1.1:80" is not a valid IPv4 address');
  rejects('bad host:80', '"bad host" in "bad host:80" is not a valid host name or IP address');
  rejects('unix:', 'expected a socket path after "unix:", got "unix:"');
});

test('formatAddress is the inverse of parseAddress', () => {
  for (const text of ['127.0.0.1:8080', '[::1]:8080', '[2001:db8::1]:0', 'localhost:80', 'unix:/run/sy.sock', 'unix:rel.sock']) {
    assert.equal(formatAddress(parseAddress(text)), text);
  }
  assert.equal(formatAddress({ kind: 'tcp', host: '::', port: 1 }), '[::]:1');
  assert.equal(formatAddress(parseAddress('/run/sy.sock')), 'unix:/run/sy.sock');
});

test('node:net options', () => {
  assert.deepEqual(toListenOptions(parseAddress('127.0.0.1:0')), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(toListenOptions(parseAddress('[::1]:0'), { backlog: 16 }), { host: '::1', port: 0, backlog: 16 });
  assert.deepEqual(toListenOptions(parseAddress('unix:/tmp/a.sock')), { path: '/tmp/a.sock' });
  assert.deepEqual(toConnectOptions(parseAddress('localhost:1')), { host: 'localhost', port: 1 });
  assert.deepEqual(toConnectOptions(parseAddress('unix:/tmp/a.sock')), { path: '/tmp/a.sock' });
  assert.deepEqual(toBindOptions(parseAddress('0.0.0.0:53')), { address: '0.0.0.0', port: 53 });
  assert.throws(() => toBindOptions(parseAddress('unix:/tmp/a.sock')), /UDP cannot bind a unix socket/);
  assert.ok(isLoopback(parseAddress('127.0.0.1:1')));
  assert.ok(isLoopback(parseAddress('[::1]:1')));
  assert.ok(isLoopback(parseAddress('unix:/x')));
  assert.ok(!isLoopback(parseAddress('0.0.0.0:1')));
});

test('the options really listen and connect (tcp and unix)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swy-addr-'));
  try {
    for (const text of ['127.0.0.1:0', `unix:${join(dir, 's.sock')}`]) {
      const server = net.createServer((s) => s.end('hi'));
      server.listen(toListenOptions(parseAddress(text)));
      await once(server, 'listening');
      const bound = server.address();
      const target = typeof bound === 'string' ? parseAddress(`unix:${bound}`) : parseAddress(`127.0.0.1:${bound!.port}`);
      const client = net.connect(toConnectOptions(target));
      const chunks: Buffer[] = [];
      client.on('data', (c: Buffer) => chunks.push(c));
      await once(client, 'end');
      assert.equal(Buffer.concat(chunks).toString(), 'hi');
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
