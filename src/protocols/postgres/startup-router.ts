/**
 * Startup routing (routes matching `database`, `user`, `application_name`): the proxy reads the client's startup
 * itself — answering an SSLRequest / GSSENCRequest with 'N', as a server without TLS does — and hands the listener
 * the StartupMessage's parameters to choose a route with, and the StartupMessage to replay to the chosen server.
 * A CancelRequest is broadcast: the listener sends it to every cluster of its routes (a server ignores a key it
 * does not know).
 */
import type { Attributes, StartupReader, StartupRouterHooks, StartupStep } from '../protocol.js';
import { CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, MAX_STARTUP_LENGTH, PROTOCOL_3_0, SSL_REQUEST_CODE, parseStartupParameters } from './messages.js';

const REFUSE_ENCRYPTION = Buffer.from('N', 'latin1');
const TLS_HANDSHAKE = 0x16;
/** Encryption requests answered before the StartupMessage (an SSLRequest then a GSSENCRequest at most). */
const MAX_NEGOTIATIONS = 2;

class PgStartupReader implements StartupReader {
  #buf: Buffer = Buffer.alloc(0);
  #negotiations = 0;

  push(chunk: Buffer): StartupStep {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const reply: Buffer[] = [];
    for (;;) {
      const buf = this.#buf;
      // Direct TLS (PostgreSQL 17 sslnegotiation=direct): nothing to read; routes see no startup attributes.
      if (buf.length > 0 && buf[0] === TLS_HANDSHAKE) return { kind: 'ready', attributes: {}, replay: buf };
      if (buf.length < 8) return { kind: 'more', reply };
      const len = buf.readUInt32BE(0);
      const code = buf.readUInt32BE(4);
      if (len < 8 || len > MAX_STARTUP_LENGTH) return { kind: 'malformed', message: `postgres: startup packet declares length ${len} (8 to ${MAX_STARTUP_LENGTH})` };
      if (buf.length < len) return { kind: 'more', reply };
      if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
        if (len !== 8 || ++this.#negotiations > MAX_NEGOTIATIONS) return { kind: 'malformed', message: 'postgres: unexpected encryption request' };
        reply.push(REFUSE_ENCRYPTION);
        this.#buf = buf.subarray(8);
        // The client waits for the answer before it sends more: nothing else can be in the buffer yet.
        continue;
      }
      if (code === CANCEL_REQUEST_CODE) return { kind: 'broadcast', replay: buf.subarray(0, len) };
      if (code >> 16 !== PROTOCOL_3_0 >> 16) return { kind: 'malformed', message: `postgres: unsupported frontend protocol ${code >> 16}.${code & 0xffff}` };
      const params = parseStartupParameters(buf.subarray(8, len));
      if (!params) return { kind: 'malformed', message: 'postgres: invalid startup packet' };
      const attributes: Record<string, string> = {};
      if (params['user'] !== undefined) attributes['user'] = params['user'];
      // The server's default: the database named like the user.
      const database = params['database'] ?? params['user'];
      if (database !== undefined) attributes['database'] = database;
      if (params['application_name'] !== undefined) attributes['application_name'] = params['application_name'];
      return { kind: 'ready', attributes, replay: buf };
    }
  }

  describe(attributes: Attributes): string {
    const parts: string[] = [];
    for (const k of ['database', 'user', 'application_name'] as const) if (attributes[k] !== undefined) parts.push(`${k} "${String(attributes[k])}"`);
    return parts.length > 0 ? parts.join(', ') : 'this connection';
  }
}

export const postgresStartupRouter: StartupRouterHooks = {
  create: () => new PgStartupReader(),
};
