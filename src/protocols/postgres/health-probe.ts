/** The `postgres` health check: startup with the configured credentials, then `SELECT 1` completed. */
import type { Socket } from 'node:net';
import { converse, stringOption, type HealthProbe, type HealthProbeOptions } from '../health-probe.js';
import { BackendAuth } from './backend-auth.js';
import { cstr } from './auth-messages.js';
import { PgMessageReader } from './message-reader.js';
import { BE, FE, encodeMessage, parseErrorFields } from './messages.js';

/** postgres: startup with the configured user/database/password, then `SELECT 1` completed. */
export function postgresHealthProbe(options: HealthProbeOptions): HealthProbe {
  const user = stringOption(options, 'user') ?? 'postgres';
  const config = { user, database: stringOption(options, 'database') ?? user, password: stringOption(options, 'password') };
  return (socket, signal) => postgresProbe(config, socket, signal);
}

async function postgresProbe(config: { user: string; database: string; password: string | undefined }, socket: Socket, signal: AbortSignal): Promise<void> {
  const auth = new BackendAuth({ ...config, parameters: { application_name: 'switchyard-health-check' } });
  let startup: Buffer;
  try {
    startup = auth.startup();
  } catch (err) {
    socket.destroy();
    throw err;
  }
  socket.write(startup);
  const reader = new PgMessageReader();
  let querying = false;
  let completed = false;
  await converse(socket, signal, (chunk) => {
    reader.push(chunk);
    let m: Buffer | null;
    while ((m = reader.next()) !== null) {
      if (!querying) {
        const step = auth.next(m);
        for (const b of step.send) socket.write(b);
        if (step.error) throw new Error(`postgres: ${step.error.message}`);
        if (step.ready) {
          querying = true;
          socket.write(encodeMessage(FE.Query, cstr('SELECT 1')));
        }
        continue;
      }
      const type = m[0]!;
      if (type === BE.ErrorResponse) {
        const f = parseErrorFields(m.subarray(5));
        throw new Error(`postgres: SELECT 1 failed: ${f['M'] ?? 'error'} (${f['C'] ?? '?'})`);
      }
      if (type === BE.CommandComplete) completed = true;
      if (type === BE.ReadyForQuery) {
        if (!completed) throw new Error('postgres: SELECT 1 ended without CommandComplete');
        socket.write(encodeMessage(FE.Terminate, Buffer.alloc(0)));
        return true;
      }
    }
    return false;
  });
}

