/** The gRPC step of `switchyard demo --once`: a primary and two secondaries, the odd one reported with a field diff. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.js';

test('demo --once: the gRPC call succeeds on the weighted vote and storage-3 is reported at /messages/0/3', async () => {
  const r = await runCli(['demo', '--once', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /gRPC self-check/);
  assert.match(r.stdout, /Get \{id: "1"\} -> grpc-status 0, \d+ bytes {2}\(ok/);
  assert.match(r.stdout, /divergence \d+: outvoted, storage-3 differs at \/messages\/0\/3/);
  assert.match(r.stdout, /~ \/messages\/0\/3: 120 → 100/);
});
