import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import type tls from 'node:tls';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { ErrorCodes } from '../../src/core/errors.js';
import type { ClientTlsConfig, ServerTlsConfig } from '../../src/core/tls.js';
import { buildClientTlsOptions, buildServerTlsOptions } from '../../src/core/tls.js';
import { connectFramed, listenFramed, type FramedConnection, type FramedServer } from '../../src/net/index.js';
import { testCerts } from '../helpers/certs.js';
import { eventually } from '../helpers/net.js';

const certs = testCerts();
const registry = createFramerRegistry();
const line = registry.build('line', {});
const lines = { send: line, recv: line };
const text = (b: Buffer | null): string | null => (b === null ? null : b.toString());

function serverCfg(over: Partial<ServerTlsConfig> = {}): ServerTlsConfig {
  return {
    cert: certs.server.certPath,
    key: certs.server.keyPath,
    sni: {},
    requestClientCert: false,
    rejectUnauthorized: true,
    alpn: [],
    ...over,
  };
}

function clientCfg(over: Partial<ClientTlsConfig> = {}): ClientTlsConfig {
  return { ca: certs.ca.certPath, rejectUnauthorized: true, alpn: [], ...over };
}

function portOf(server: FramedServer): number {
  return server.address.kind === 'tcp' ? server.address.port : 0;
}

/** Server side of a line protocol with STARTTLS: answers "OK" and upgrades; echoes other lines as "echo: ...". */
function starttlsServer(tlsOptions: tls.TlsOptions, log: string[], beforeUpgrade?: (conn: FramedConnection) => Promise<void>) {
  return async (conn: FramedConnection): Promise<void> => {
    try {
      for await (const frame of conn) {
        const cmd = frame.toString();
        log.push(`${conn.encrypted ? 'tls' : 'plain'}:${cmd}`);
        if (cmd === 'STARTTLS') {
          await conn.write('OK');
          if (beforeUpgrade) await beforeUpgrade(conn);
          await conn.startTls({ tls: tlsOptions });
        } else {
          await conn.write(`echo: ${cmd}`);
        }
      }
      await conn.close();
    } catch (err) {
      log.push(`error:${(err as { code?: string }).code}`);
      conn.destroy();
    }
  };
}

describe('STARTTLS', () => {
  test('upgrade a live line connection on both sides, with verification on', async () => {
    const log: string[] = [];
    const server = await listenFramed({ framers: lines }, starttlsServer(buildServerTlsOptions(serverCfg()), log));
    const client = await connectFramed({ host: '127.0.0.1', port: portOf(server), framers: lines });
    try {
      await client.write('hello');
      assert.equal(text(await client.read()), 'echo: hello');
      await client.write('STARTTLS');
      assert.equal(text(await client.read()), 'OK');
      // Host 127.0.0.1: no SNI; the certificate's IP SAN is verified.
      await client.startTls({ tls: buildClientTlsOptions(clientCfg(), '127.0.0.1') });
      assert.equal(client.encrypted, true);
      assert.equal(client.tlsSocket?.authorized, true);
      await client.write('secret');
      assert.equal(text(await client.read()), 'echo: secret');
      assert.equal(client.stats.framesOut, 3);
      client.end();
      assert.equal(await client.read(), null);
      assert.deepEqual(log, ['plain:hello', 'plain:STARTTLS', 'tls:secret']);
    } finally {
      client.destroy();
      await server.close();
    }
  });

  test('a ClientHello already read into the server buffer is handed to TLS', async () => {
    const log: string[] = [];
    let bufferedAtUpgrade = 0;
    // The server waits until the client's first TLS bytes sit in its read-ahead before it upgrades.
    const waitForHello = async (conn: FramedConnection): Promise<void> => {
      await eventually(() => conn.bufferedBytes > 0, 'the ClientHello to arrive');
      bufferedAtUpgrade = conn.bufferedBytes;
    };
    const server = await listenFramed({ framers: lines }, starttlsServer(buildServerTlsOptions(serverCfg()), log, waitForHello));
    const client = await connectFramed({ host: 'localhost', port: portOf(server), framers: lines });
    try {
      await client.write('STARTTLS');
      assert.equal(text(await client.read()), 'OK');
      await client.startTls({ tls: { ca: certs.ca.cert } }); // SNI + identity: "localhost"
      assert.ok(bufferedAtUpgrade > 0);
      await client.write('after');
      assert.equal(text(await client.read()), 'echo: after');
      assert.deepEqual(log, ['plain:STARTTLS', 'tls:after']);
    } finally {
      client.destroy();
      await server.close();
    }
  });

  test('plaintext injected after STARTTLS is never read as a command: the handshake fails', async () => {
    const log: string[] = [];
    const server = await listenFramed({ framers: lines }, starttlsServer(buildServerTlsOptions(serverCfg()), log));
    const raw = net.connect({ port: portOf(server), host: '127.0.0.1' });
    await once(raw, 'connect');
    try {
      raw.on('data', () => undefined);
      raw.write('STARTTLS\nRCPT TO:<evil>\n'); // one write: the second command precedes the server's OK
      await once(raw, 'close');
      await eventually(() => log.length === 2, 'the server to finish');
      assert.equal(log[0], 'plain:STARTTLS');
      assert.equal(log[1], `error:${ErrorCodes.CLIENT_ERROR}`);
    } finally {
      raw.destroy();
      await server.close();
    }
  });

  test("unread: 'error' refuses to upgrade when bytes follow the switch point", async () => {
    const server = await listenFramed({ framers: lines });
    const raw = net.connect({ port: portOf(server), host: '127.0.0.1' });
    await once(raw, 'connect');
    const conn = (await server[Symbol.asyncIterator]().next()).value as FramedConnection;
    try {
      raw.write('STARTTLS\nNOOP\n');
      assert.equal(text(await conn.read()), 'STARTTLS');
      await assert.rejects(conn.startTls({ tls: buildServerTlsOptions(serverCfg()), unread: 'error' }), {
        code: ErrorCodes.FRAME_MALFORMED,
      });
      assert.equal(conn.encrypted, false);
      assert.equal(text(await conn.read()), 'NOOP', 'the connection is left as it was');
    } finally {
      raw.destroy();
      conn.destroy();
      await server.close();
    }
  });

  test('the client rejects a certificate for another name', async () => {
    const log: string[] = [];
    const server = await listenFramed({ framers: lines }, starttlsServer(buildServerTlsOptions(serverCfg()), log));
    const client = await connectFramed({ host: '127.0.0.1', port: portOf(server), framers: lines });
    try {
      await client.write('STARTTLS');
      assert.equal(text(await client.read()), 'OK');
      await assert.rejects(client.startTls({ tls: buildClientTlsOptions(clientCfg({ servername: 'other.test' }), '127.0.0.1') }), (err: { code: string; details: { syscode: string } }) => {
        assert.equal(err.code, ErrorCodes.UPSTREAM_TLS);
        assert.equal(err.details.syscode, 'ERR_TLS_CERT_ALTNAME_INVALID');
        return true;
      });
      assert.equal((await client.closed as { code?: string } | undefined)?.code, ErrorCodes.UPSTREAM_TLS);
    } finally {
      client.destroy();
      await server.close();
    }
  });
});

describe('TLS listeners', () => {
  test('SNI picks the certificate by server name (exact, wildcard, default)', async () => {
    const opts = buildServerTlsOptions(
      serverCfg({
        sni: {
          'other.test': { cert: certs.other.certPath, key: certs.other.keyPath },
          '*.wild.test': { cert: certs.other.certPath, key: certs.other.keyPath },
        },
      }),
    );
    const server = await listenFramed({ tls: opts, framers: lines }, async (conn) => {
      await conn.write(`hello ${conn.tlsSocket?.servername || '-'}`);
      await conn.close();
    });
    const port = portOf(server);
    try {
      const cases: [string, string | undefined, string, string][] = [
        ['127.0.0.1', 'other.test', 'other.test', 'hello other.test'],
        ['127.0.0.1', 'api.wild.test', 'other.test', 'hello api.wild.test'],
        ['localhost', undefined, 'localhost', 'hello localhost'],
        ['127.0.0.1', undefined, 'localhost', 'hello -'], // an IP: no SNI, default certificate
      ];
      for (const [host, servername, cn, greeting] of cases) {
        const client = await connectFramed({ host, port, framers: lines, tls: buildClientTlsOptions(clientCfg({ servername }), host) });
        try {
          const peer = client.tlsSocket!.getPeerCertificate();
          assert.equal(peer.subject.CN, cn, `${host} / ${servername}`);
          assert.equal(text(await client.read()), greeting);
        } finally {
          client.destroy();
        }
      }
    } finally {
      await server.close();
    }
  });

  test('client certificates: required, accepted when signed by the CA, rejected when absent or foreign', async () => {
    const opts = buildServerTlsOptions(serverCfg({ ca: certs.ca.certPath, requestClientCert: true, rejectUnauthorized: true }));
    const failures: Error[] = [];
    const server = await listenFramed({ tls: opts, framers: lines, onError: (err) => failures.push(err) }, async (conn) => {
      await conn.write(`hi ${String(conn.tlsSocket!.getPeerCertificate().subject.CN)}`);
      await conn.close();
    });
    const port = portOf(server);
    try {
      const good = await connectFramed({
        host: 'localhost',
        port,
        framers: lines,
        tls: buildClientTlsOptions(clientCfg({ cert: certs.client.certPath, key: certs.client.keyPath }), 'localhost'),
      });
      assert.equal(text(await good.read()), 'hi switchyard-test-client');
      good.destroy();

      const attempts: [string, tls.ConnectionOptions][] = [
        ['no certificate', { ca: certs.ca.cert }],
        ['foreign CA', { ca: certs.ca.cert, cert: certs.rogueClient.cert, key: certs.rogueClient.key }],
      ];
      for (const [what, tlsOpts] of attempts) {
        // TLS 1.3: the client may finish its handshake before the server rejects it; either way no frame arrives.
        const outcome = await connectFramed({ host: 'localhost', port, framers: lines, tls: tlsOpts }).then(
          async (conn) => {
            try {
              return await conn.read().then(
                (f) => `frame ${text(f)}`,
                (err: NodeJS.ErrnoException) => `read error ${err.code}`,
              );
            } finally {
              conn.destroy();
            }
          },
          (err: NodeJS.ErrnoException) => `connect error ${err.code}`,
        );
        // no certificate: a TLS alert (certificate required); a foreign one: Node closes without an alert (EOF)
        assert.match(outcome, /^(connect error|read error|frame null)/, `${what}: ${outcome}`);
      }
      await eventually(() => server.stats.tlsFailures === 2, 'two rejected handshakes');
      assert.equal(failures.length, 2);
      assert.ok(failures.every((e) => (e as { code?: string }).code === ErrorCodes.CLIENT_ERROR));
      assert.equal(server.stats.accepted, 3);
    } finally {
      await server.close();
    }
  });

  test('a peer that sends FIN during the handshake fails it at once (no wait for the handshake timeout)', async () => {
    const failures: Error[] = [];
    const server = await listenFramed({ tls: buildServerTlsOptions(serverCfg()), onError: (err) => failures.push(err) }, () => {
      throw new Error('no connection expected');
    });
    const raw = net.connect({ port: portOf(server), host: '127.0.0.1', allowHalfOpen: true });
    try {
      await once(raw, 'connect');
      raw.resume();
      raw.end('\x16\x03\x01'); // the start of a TLS record, then FIN, but stay half-open
      await eventually(() => failures.length === 1, 'the handshake to fail', 2000);
      assert.equal((failures[0] as { code?: string }).code, ErrorCodes.CLIENT_ERROR);
      assert.equal(server.connections, 0);
    } finally {
      raw.destroy();
      await server.close();
    }
  });

  test('a silent peer is dropped after tlsHandshakeTimeout', async () => {
    const failures: Error[] = [];
    const server = await listenFramed(
      { tls: buildServerTlsOptions(serverCfg()), tlsHandshakeTimeout: 100, onError: (err) => failures.push(err) },
      () => undefined,
    );
    const raw = net.connect({ port: portOf(server), host: '127.0.0.1' });
    try {
      raw.resume();
      await once(raw, 'close');
      assert.equal(failures.length, 1);
      assert.match(failures[0]!.message, /did not complete within 100 ms/);
      assert.equal(server.connections, 0);
    } finally {
      raw.destroy();
      await server.close();
    }
  });

  test('TLS half-close and RST work through TLS', async () => {
    const opts = buildServerTlsOptions(serverCfg());
    const server = await listenFramed({ tls: opts, framers: lines }, async (conn) => {
      const got: string[] = [];
      for await (const f of conn) got.push(f.toString());
      await conn.write(`got ${got.join(',')}`);
      await conn.close();
    });
    try {
      const client = await connectFramed({ host: 'localhost', port: portOf(server), framers: lines, tls: { ca: certs.ca.cert } });
      client.send('x');
      client.send('y');
      client.end();
      assert.equal(text(await client.read()), 'got x,y');
      assert.equal(await client.read(), null);
      await client.closed;

      const iterServer = await listenFramed({ tls: opts, framers: lines });
      try {
        const c2 = await connectFramed({ host: 'localhost', port: portOf(iterServer), framers: lines, tls: { ca: certs.ca.cert } });
        const s2 = (await iterServer[Symbol.asyncIterator]().next()).value as FramedConnection;
        await c2.write('ping');
        assert.equal(text(await s2.read()), 'ping');
        const pending = s2.read();
        c2.resetAndDestroy();
        await assert.rejects(pending, { code: 'ECONNRESET' });
        s2.destroy();
      } finally {
        await iterServer.close();
      }
    } finally {
      await server.close();
    }
  });
});
