import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { buildClientTlsOptions, buildServerTlsOptions, sniLookup } from '../../src/core/tls.js';
import { ErrorCodes } from '../../src/core/errors.js';
import type { ClientTlsConfig, ServerTlsConfig } from '../../src/core/tls.js';
import { testCerts } from '../helpers/certs.js';

const certs = testCerts();

function serverCfg(over: Partial<ServerTlsConfig> = {}): ServerTlsConfig {
  return { cert: certs.server.certPath, key: certs.server.keyPath, sni: {}, requestClientCert: false, rejectUnauthorized: true, alpn: [], ...over };
}
function clientCfg(over: Partial<ClientTlsConfig> = {}): ClientTlsConfig {
  return { ca: certs.ca.certPath, rejectUnauthorized: true, alpn: [], ...over };
}

describe('buildServerTlsOptions', () => {
  test('reads the PEM files once and returns one cached object per config', () => {
    const cfg = serverCfg({ alpn: ['h2', 'http/1.1'], minVersion: 'TLSv1.3' });
    const a = buildServerTlsOptions(cfg);
    assert.equal(buildServerTlsOptions(cfg), a);
    assert.ok(Buffer.isBuffer(a.cert) && a.cert.toString() === certs.server.cert);
    assert.ok(a.secureContext);
    assert.deepEqual(a.ALPNProtocols, ['h2', 'http/1.1']);
    assert.equal(a.minVersion, 'TLSv1.3');
    assert.equal(a.requestCert, false);
    assert.equal(a.rejectUnauthorized, false, 'no client certificates asked for: nothing to reject');
    assert.equal(a.SNICallback, undefined);
    assert.notEqual(buildServerTlsOptions(serverCfg()), a, 'a new config object is read again (reload)');
  });

  test('client certificate settings', () => {
    const o = buildServerTlsOptions(serverCfg({ ca: certs.ca.certPath, requestClientCert: true }));
    assert.equal(o.requestCert, true);
    assert.equal(o.rejectUnauthorized, true);
    assert.ok(o.ca);
    const lax = buildServerTlsOptions(serverCfg({ ca: certs.ca.certPath, requestClientCert: true, rejectUnauthorized: false }));
    assert.equal(lax.rejectUnauthorized, false);
  });

  test('SNI callback: exact names, one-label wildcards, default otherwise', async () => {
    const o = buildServerTlsOptions(
      serverCfg({
        sni: {
          'Other.Test': { cert: certs.other.certPath, key: certs.other.keyPath },
          '*.wild.test': { cert: certs.other.certPath, key: certs.other.keyPath },
        },
      }),
    );
    const pick = (name: string) =>
      new Promise<tls.SecureContext | undefined>((resolve, reject) =>
        o.SNICallback!(name, (err, ctx) => (err ? reject(err) : resolve(ctx))),
      );
    assert.ok(await pick('other.test'));
    assert.ok(await pick('OTHER.TEST.'));
    assert.ok(await pick('a.wild.test'));
    assert.equal(await pick('wild.test'), undefined);
    assert.equal(await pick('a.b.wild.test'), undefined);
    assert.equal(await pick('localhost'), undefined);
  });

  test('sniLookup', () => {
    const m = new Map([['a.example.com', 1], ['*.example.com', 2]]);
    assert.equal(sniLookup(m, 'a.example.com'), 1);
    assert.equal(sniLookup(m, 'B.example.com'), 2);
    assert.equal(sniLookup(m, 'example.com'), undefined);
    assert.equal(sniLookup(m, 'x.y.example.com'), undefined);
  });

  test('errors are SWY_CONFIG_INVALID and name the file', () => {
    const missing = join(certs.dir, 'nope.pem');
    assert.throws(() => buildServerTlsOptions(serverCfg({ cert: missing })), (err: { code: string; message: string; details: { file: string } }) => {
      assert.equal(err.code, ErrorCodes.CONFIG_INVALID);
      assert.match(err.message, /certificate file '.*nope\.pem'/);
      assert.equal(err.details.file, missing);
      return true;
    });
    const notPem = join(certs.dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    assert.throws(() => buildServerTlsOptions(serverCfg({ key: notPem })), { code: ErrorCodes.CONFIG_INVALID, message: /not\.pem.*no PEM block/ });
    // a key that does not belong to the certificate
    assert.throws(() => buildServerTlsOptions(serverCfg({ key: certs.other.keyPath })), (err: Error & { code: string }) => {
      assert.equal(err.code, ErrorCodes.CONFIG_INVALID);
      assert.ok(err.message.includes(certs.server.certPath) && err.message.includes(certs.other.keyPath), err.message);
      return true;
    });
    assert.throws(
      () => buildServerTlsOptions(serverCfg({ sni: { 'x.test': { cert: certs.other.certPath, key: missing } } })),
      { code: ErrorCodes.CONFIG_INVALID, message: /sni\["x\.test"\].*nope\.pem/ },
    );
    assert.throws(
      () => buildServerTlsOptions(serverCfg({ sni: { 'a.*.test': { cert: certs.other.certPath, key: certs.other.keyPath } } })),
      { code: ErrorCodes.CONFIG_INVALID, message: /bad server name/ },
    );
  });
});

describe('buildClientTlsOptions', () => {
  test('verification on, SNI = host for names, cached per (config, host)', () => {
    const cfg = clientCfg({ alpn: ['h2'], minVersion: 'TLSv1.2' });
    const o = buildClientTlsOptions(cfg, 'api.example.com');
    assert.equal(buildClientTlsOptions(cfg, 'api.example.com'), o);
    assert.equal(o.rejectUnauthorized, true);
    assert.equal(o.servername, 'api.example.com');
    assert.ok(o.secureContext);
    assert.deepEqual(o.ALPNProtocols, ['h2']);
    const other = buildClientTlsOptions(cfg, 'b.example.com');
    assert.notEqual(other, o);
    assert.equal(other.secureContext, o.secureContext, 'one secure context per config');
  });

  test('no SNI for IP addresses; an explicit servername wins', () => {
    const cfg = clientCfg();
    assert.equal(buildClientTlsOptions(cfg, '127.0.0.1').servername, undefined);
    assert.equal(buildClientTlsOptions(cfg, '::1').servername, undefined);
    assert.equal(buildClientTlsOptions(clientCfg({ servername: 'svc.internal' }), '10.0.0.1').servername, 'svc.internal');
    const ipIdentity = buildClientTlsOptions(clientCfg({ servername: '127.0.0.1' }), 'localhost');
    assert.equal(ipIdentity.servername, undefined);
    assert.equal(typeof ipIdentity.checkServerIdentity, 'function');
    assert.equal(buildClientTlsOptions(clientCfg({ rejectUnauthorized: false }), 'x').rejectUnauthorized, false);
  });

  test('client certificate and errors', () => {
    const o = buildClientTlsOptions(clientCfg({ cert: certs.client.certPath, key: certs.client.keyPath }), 'localhost');
    assert.ok(o.secureContext);
    assert.throws(() => buildClientTlsOptions(clientCfg({ cert: certs.client.certPath }), 'x'), {
      code: ErrorCodes.CONFIG_INVALID,
      message: /needs both cert and key/,
    });
    assert.throws(() => buildClientTlsOptions(clientCfg({ ca: join(certs.dir, 'missing-ca.pem') }), 'x'), {
      code: ErrorCodes.CONFIG_INVALID,
      message: /CA bundle file '.*missing-ca\.pem'/,
    });
  });
});
