/** Client → server: the startup packets, then typed messages grouped into requests (with their attributes). */
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import type { Frame } from '../../framing/framer.js';
import type { Attributes } from '../protocol.js';
import type { Pending, PgState, PostgresCodecOptions } from './codec-state.js';
import {
  CANCEL_REQUEST_CODE,
  FE,
  GSSENC_REQUEST_CODE,
  HEADER_LENGTH,
  MAX_STARTUP_LENGTH,
  SSL_REQUEST_CODE,
  parseBindMessage,
  parseParseMessage,
  parseStartupParameters,
  parseTargetMessage,
  querySqlBytes,
  sqlKind,
  sqlPreview,
  typeName,
} from './messages.js';
import { PgFramer, malformed } from './message-framer.js';

/** Statement names remembered per connection (to report `kind`/`query` on batches that start with Bind). */
const MAX_STATEMENTS = 1000;
const TLS_HANDSHAKE = 0x16; // first byte of a TLS record (direct SSL negotiation, PostgreSQL 17+)

const SSL_ATTRS: Attributes = Object.freeze({ phase: 'ssl', encryption: 'ssl' });
const GSS_ATTRS: Attributes = Object.freeze({ phase: 'ssl', encryption: 'gss' });
const FUNCTION_ATTRS: Attributes = Object.freeze({ phase: 'function' });
const EXTENDED_ATTRS: Attributes = Object.freeze({ phase: 'extended' });
const TERMINATE_ATTRS: Attributes = Object.freeze({ phase: 'terminate' });

/** Client → server. */
export class RequestFramer extends PgFramer {
  constructor(state: PgState, options: PostgresCodecOptions) {
    super(state, 'client', options);
  }

  protected decodeOne(): Frame | null {
    const st = this.state;
    if (st.opaque) return this.opaqueChunk();
    const p = this.piece();
    if (p !== undefined) return p;
    switch (st.clientMode) {
      case 'typed':
        return this.typed();
      case 'initial':
        return this.#untyped();
      case 'await-answer':
        if (this.ended && this.buf.length > 0) {
          throw malformed(`client sent ${this.buf.length} bytes before the server answered its SSLRequest/GSSENCRequest, then closed`);
        }
        return null; // a client waits for the single-byte answer; hold anything until it is known
      case 'closed':
        if (this.buf.length > 0) throw malformed(`client sent ${this.buf.length} bytes after a CancelRequest`);
        return null;
    }
  }

  /** StartupMessage, SSLRequest, GSSENCRequest or CancelRequest: `int32 length | int32 code | ...`. */
  #untyped(): Frame | null {
    const buf = this.buf;
    const st = this.state;
    if (buf.length > 0 && buf.byteAt(0) === TLS_HANDSHAKE) {
      st.opaque = true; // direct SSL negotiation: a TLS ClientHello without SSLRequest
      return this.opaqueChunk();
    }
    if (buf.length < 8) {
      if (this.ended && buf.length > 0) throw this.truncated('the startup packet', buf.length, 8);
      return null;
    }
    const len = buf.readUIntBE(0, 4);
    const code = buf.readUIntBE(4, 4);
    if (len < 8) throw malformed(`startup packet declares length ${len} (at least 8)`, { length: len });
    if (len > MAX_STARTUP_LENGTH) {
      throw new SwitchyardError(ErrorCodes.FRAME_TOO_LARGE, `postgres: startup packet declares length ${len}, above the server limit ${MAX_STARTUP_LENGTH}`, {
        details: { length: len, limit: MAX_STARTUP_LENGTH },
      });
    }
    const major = code >>> 16;
    if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
      if (len !== 8) throw malformed(`${code === SSL_REQUEST_CODE ? 'SSLRequest' : 'GSSENCRequest'} declares length ${len} (must be 8)`, { length: len });
    } else if (code === CANCEL_REQUEST_CODE) {
      if (len < 16 || len > 8 + 4 + 256) throw malformed(`CancelRequest declares length ${len} (16 to 268)`, { length: len });
    } else if (major !== 3) {
      throw malformed(`startup packet with unsupported protocol version ${major}.${code & 0xffff} (only 3.x)`, { code });
    }
    if (buf.length < len) {
      if (this.ended) throw this.truncated('the startup packet', buf.length, len);
      return null;
    }
    const frame = buf.consume(len);
    if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
      const entry: Pending = { kind: 'ssl', extended: false, synced: false };
      st.pending.push(entry);
      st.clientMode = 'await-answer';
      st.lastStart = { phase: 'ssl', entry };
      this.set(true, true, code === SSL_REQUEST_CODE ? SSL_ATTRS : GSS_ATTRS);
    } else if (code === CANCEL_REQUEST_CODE) {
      st.clientMode = 'closed';
      st.lastStart = { phase: 'cancel', entry: undefined };
      this.set(true, true, { phase: 'cancel', pid: frame.readUInt32BE(8) }, 0);
    } else {
      const params = parseStartupParameters(frame.subarray(8));
      if (!params) throw malformed('StartupMessage parameters are not a NUL-terminated list of name/value pairs');
      const attrs: Record<string, string> = { phase: 'startup' };
      for (const k of ['user', 'database', 'application_name']) {
        const v = params[k];
        if (v !== undefined) attrs[k] = v;
      }
      const entry: Pending = { kind: 'startup', extended: false, synced: false };
      st.pending.push(entry);
      st.clientMode = 'typed';
      st.startupDone = false;
      st.lastStart = { phase: 'startup', entry };
      this.set(true, true, attrs);
    }
    const info = this.makeInfo(true);
    // SSLRequest/GSSENCRequest and the StartupMessage (with the authentication exchange it starts) are connection
    // setup (`MessageInfo.setup`); a CancelRequest is not: it is the application's own request on its own connection.
    this.lastInfo = code === CANCEL_REQUEST_CODE ? info : { ...info, setup: true };
    return frame;
  }

  #startRequest(phase: string, extended: boolean): Pending {
    const entry: Pending = { kind: 'normal', extended, synced: false };
    const st = this.state;
    st.pending.push(entry);
    st.lastStart = { phase, entry };
    st.dropping = false;
    return entry;
  }

  #remember(name: string, sql: Buffer, kind: string | undefined): void {
    const m = this.state.statements;
    m.delete(name);
    m.set(name, { kind, query: sqlPreview(sql) });
    if (m.size > MAX_STATEMENTS) {
      const oldest = m.keys().next();
      if (!oldest.done) m.delete(oldest.value);
    }
  }

  /** Attributes of a batch that starts with a message naming a prepared statement. */
  #statementAttrs(name: string): Attributes {
    const attrs: Record<string, string> = { phase: 'extended' };
    const known = this.state.statements.get(name);
    if (known?.kind !== undefined) attrs['kind'] = known.kind;
    if (name !== '') attrs['statement'] = name;
    if (known) attrs['query'] = known.query;
    return attrs;
  }

  protected classify(type: number, frame: Buffer, _whole: boolean): void {
    const st = this.state;
    const payload = frame.subarray(HEADER_LENGTH);
    switch (type) {
      case FE.Query:
      case FE.FunctionCall: {
        if (st.batch) {
          // a Query/FunctionCall inside an unfinished extended batch: the server answers it with ReadyForQuery,
          // so it ends that batch (a later Sync is a request of its own)
          st.batch = undefined;
          st.dropping = false;
          this.set(false, true);
          return;
        }
        let attrs: Attributes;
        if (type === FE.Query) {
          const sql = querySqlBytes(payload);
          const kind = sqlKind(sql);
          attrs = kind === undefined ? { phase: 'query', query: sqlPreview(sql) } : { phase: 'query', kind, query: sqlPreview(sql) };
        } else attrs = FUNCTION_ATTRS;
        this.#startRequest(attrs['phase'] as string, false);
        this.set(true, true, attrs);
        return;
      }
      case FE.Parse:
      case FE.Bind:
      case FE.Describe:
      case FE.Execute:
      case FE.Close:
      case FE.Flush: {
        if (type === FE.Flush && st.copyIn) return this.set(false, false); // ignored by the server during copy-in
        let attrs: Attributes | undefined;
        if (type === FE.Parse) {
          const m = parseParseMessage(payload);
          if (m) {
            const kind = sqlKind(m.sql);
            if (!(st.batch && st.dropping)) this.#remember(m.statement, m.sql, kind);
            if (!st.batch) {
              const a: Record<string, string> = { phase: 'extended' };
              if (kind !== undefined) a['kind'] = kind;
              if (m.statement !== '') a['statement'] = m.statement;
              a['query'] = sqlPreview(m.sql);
              attrs = a;
            }
          }
        } else if (!st.batch && type === FE.Bind) {
          const m = parseBindMessage(payload);
          if (m) attrs = this.#statementAttrs(m.statement);
        } else if (type === FE.Describe || type === FE.Close) {
          const m = parseTargetMessage(payload);
          if (m?.target === 'S') {
            if (!st.batch) attrs = this.#statementAttrs(m.name);
            if (type === FE.Close && !(st.dropping && st.batch)) st.statements.delete(m.name);
          }
        }
        if (st.batch) return this.set(false, false);
        const entry = this.#startRequest('extended', true);
        st.batch = { entry };
        return this.set(true, false, attrs ?? EXTENDED_ATTRS);
      }
      case FE.Sync: {
        if (st.copyIn) return this.set(false, false); // ignored by the server during copy-in
        if (st.extraSyncs > 0) {
          st.extraSyncs--;
          return this.set(false, true);
        }
        if (st.batch) {
          if (st.batch.entry) st.batch.entry.synced = true;
          st.batch = undefined;
          st.dropping = false;
          return this.set(false, true);
        }
        const entry = this.#startRequest('extended', true);
        entry.synced = true;
        return this.set(true, true, EXTENDED_ATTRS);
      }
      case FE.Terminate:
        st.lastStart = { phase: 'terminate', entry: undefined };
        st.batch = undefined;
        return this.set(true, true, TERMINATE_ATTRS, 0);
      case FE.CopyData:
        return this.set(false, false);
      case FE.CopyDone:
      case FE.CopyFail:
        st.copyIn = false;
        return this.set(false, st.batch === undefined);
      case FE.Password:
        return this.set(false, st.batch === undefined);
      default:
        // unreachable: typed() accepts frontend types only
        throw malformed(`client sent ${typeName(type, 'client')}`);
    }
  }
}
