/** The `redis` health check: (AUTH, then) PING answered +PONG. */
import type { Socket } from 'node:net';
import { converse, stringOption, type HealthProbe, type HealthProbeOptions } from '../health-probe.js';

/** A RESP command. */
function resp(...args: string[]): Buffer {
  return Buffer.from(`*${args.length}\r\n${args.map((x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`).join('')}`);
}

/** redis: (AUTH, then) PING answered +PONG. */
export function redisHealthProbe(options: HealthProbeOptions): HealthProbe {
  const check = { password: stringOption(options, 'password'), username: stringOption(options, 'username') };
  return (socket, signal) => redisProbe(check, socket, signal);
}

async function redisProbe(check: { password: string | undefined; username: string | undefined }, socket: Socket, signal: AbortSignal): Promise<void> {
  const auth = check.password !== undefined;
  const expected = auth ? ['AUTH', 'PING'] : ['PING'];
  socket.write(
    Buffer.concat([
      ...(auth ? [check.username !== undefined ? resp('AUTH', check.username, check.password!) : resp('AUTH', check.password!)] : []),
      resp('PING'),
    ]),
  );
  let text = '';
  await converse(socket, signal, (chunk) => {
    text += chunk.toString('latin1');
    if (text.length > 64 * 1024) throw new Error('redis: answer too long for PING');
    let nl: number;
    while ((nl = text.indexOf('\r\n')) >= 0) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 2);
      const cmd = expected.shift();
      if (cmd === 'AUTH') {
        if (!line.startsWith('+')) throw new Error(`redis: AUTH answered ${line}`);
      } else if (cmd === 'PING') {
        if (line !== '+PONG') throw new Error(`redis: PING answered ${line.slice(0, 200)}`);
        return true;
      }
    }
    return false;
  });
}

