/**
 * Test certificates, generated with the `openssl` CLI into a temp directory once per process (memoised) and
 * removed at exit. EC P-256 keys, valid for two days:
 *
 * - `ca`: a self-signed CA ("Switchyard Test CA")
 * - `server`: CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1, signed by the CA (serverAuth)
 * - `other`: SAN DNS:other.test and DNS:*.wild.test (for SNI tests), signed by the CA (serverAuth)
 * - `client`: CN=switchyard-test-client, signed by the CA (clientAuth)
 * - `rogueCa` + `rogueClient`: a second, unrelated CA and a client certificate it signed (must be rejected)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertFiles {
  /** PEM file paths. */
  certPath: string;
  keyPath: string;
  /** PEM contents. */
  cert: string;
  key: string;
}

export interface TestCerts {
  dir: string;
  ca: CertFiles;
  server: CertFiles;
  other: CertFiles;
  client: CertFiles;
  rogueCa: CertFiles;
  rogueClient: CertFiles;
}

const OPENSSL = process.env['OPENSSL'] ?? 'openssl';
let memo: TestCerts | undefined;

function openssl(args: string[], cwd: string): void {
  execFileSync(OPENSSL, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function files(dir: string, name: string): CertFiles {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  return { certPath, keyPath, cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir: string, name: string, cn: string): void {
  openssl(
    [
      'req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
}

function makeLeaf(dir: string, name: string, cn: string, ca: string, ext: string[]): void {
  writeFileSync(join(dir, `${name}.ext`), `${ext.join('\n')}\n`);
  openssl(['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  openssl(
    [
      'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
      '-out', `${name}.crt`, '-days', '2', '-sha256', '-extfile', `${name}.ext`,
    ],
    dir,
  );
}

/** The process-wide test certificates (generated on first call, ~100 ms). */
export function testCerts(): TestCerts {
  if (memo) return memo;
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-certs-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const leafBase = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature'];
  makeCa(dir, 'ca', 'Switchyard Test CA');
  makeLeaf(dir, 'server', 'localhost', 'ca', [
    ...leafBase, 'extendedKeyUsage=serverAuth', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
  ]);
  makeLeaf(dir, 'other', 'other.test', 'ca', [
    ...leafBase, 'extendedKeyUsage=serverAuth', 'subjectAltName=DNS:other.test,DNS:*.wild.test',
  ]);
  makeLeaf(dir, 'client', 'switchyard-test-client', 'ca', [...leafBase, 'extendedKeyUsage=clientAuth']);
  makeCa(dir, 'rogue-ca', 'Rogue Test CA');
  makeLeaf(dir, 'rogue-client', 'rogue-client', 'rogue-ca', [...leafBase, 'extendedKeyUsage=clientAuth']);
  memo = {
    dir,
    ca: files(dir, 'ca'),
    server: files(dir, 'server'),
    other: files(dir, 'other'),
    client: files(dir, 'client'),
    rogueCa: files(dir, 'rogue-ca'),
    rogueClient: files(dir, 'rogue-client'),
  };
  return memo;
}
