import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import { BufferedFramer, READ_HEADROOM } from '../../framing/buffered-framer.js';
import type { Frame } from '../../framing/framer.js';
import type { Attributes, ErrorReply, ErrorReplyRequest, MessageInfo, ProtocolCodec, ProtocolCodecFactory, ProtocolFramer } from '../protocol.js';
import {
  BE,
  CANCEL_REQUEST_CODE,
  FE,
  GSSENC_REQUEST_CODE,
  HEADER_LENGTH,
  MAX_STARTUP_LENGTH,
  SSL_REQUEST_CODE,
  encodeErrorResponse,
  encodeReadyForQuery,
  errorSeverity,
  isBackendType,
  isFrontendType,
  parseBindMessage,
  parseParseMessage,
  parseStartupParameters,
  parseTargetMessage,
  querySqlBytes,
  readyForQueryStatus,
  sqlKind,
  sqlPreview,
  typeName,
  type TransactionStatus,
} from './messages.js';

export interface PostgresCodecOptions {
  /** Largest frame: messages up to this size (header included) are one frame, larger ones are cut into pieces. */
  maxMessageFrame: number;
  /** Largest declared message length accepted (the int32 length field). */
  maxMessageLength: number;
  /** Most bytes one framer holds (default: max(maxMessageFrame, 10000) + 64 KiB). */
  maxBufferedBytes?: number | undefined;
}

/** SQLSTATE of the error reply when the request gives none: 58000 system_error. */
export const DEFAULT_SQLSTATE = '58000';
/** Statement names remembered per connection (to report `kind`/`query` on batches that start with Bind). */
const MAX_STATEMENTS = 1000;

const S = 0x53; // 'S' answer to SSLRequest
const G = 0x47; // 'G' answer to GSSENCRequest
const N = 0x4e; // 'N' refusal
const TLS_HANDSHAKE = 0x16; // first byte of a TLS record (direct SSL negotiation, PostgreSQL 17+)

type PendingKind = 'ssl' | 'startup' | 'normal';

/** A request the server still has to answer (in order). */
interface Pending {
  readonly kind: PendingKind;
  readonly extended: boolean;
  /** Extended batch whose Sync the client already sent. */
  synced: boolean;
}

/** An extended-query batch the client opened and has not yet ended with Sync. */
interface Batch {
  entry: Pending | undefined;
}

/** The per-connection state both framers share. */
class PgState {
  /** Client side: untyped first message expected, waiting for the answer to SSL/GSSENCRequest, typed messages, or nothing more (after CancelRequest). */
  clientMode: 'initial' | 'await-answer' | 'typed' | 'closed' = 'initial';
  /** Both directions are opaque (TLS / GSS encryption follows). */
  opaque = false;
  /** Requests the server has not finished answering, oldest first. */
  readonly pending: Pending[] = [];
  /** The server ended the startup exchange with ReadyForQuery. */
  startupDone = false;
  txStatus: TransactionStatus = 'I';
  /** The server sent CopyInResponse / CopyBothResponse and the client has not yet sent CopyDone / CopyFail. */
  copyIn = false;
  /** Syncs the client still has to send after an extended-protocol COPY FROM STDIN whose own Sync the server ignored. */
  extraSyncs = 0;
  batch: Batch | undefined;
  /** The request whose start frame the request framer returned last (for errorReply). */
  lastStart: { phase: string; entry: Pending | undefined } | undefined;
  /** Prepared statement name → what its Parse said. */
  readonly statements = new Map<string, { kind: string | undefined; query: string }>();
  /** The request being framed was replaced by an error reply (its frames are dropped, the server never sees them). */
  dropping = false;
}

// ---- shared MessageInfo constants: index = start·4 + end·2 + unsolicited ----
const INFOS: readonly MessageInfo[] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) =>
  Object.freeze({ start: (i & 4) !== 0, end: (i & 2) !== 0, ...((i & 1) !== 0 ? { unsolicited: true } : {}) }),
);
const infoFor = (start: boolean, end: boolean, unsolicited = false): MessageInfo => INFOS[(start ? 4 : 0) + (end ? 2 : 0) + (unsolicited ? 1 : 0)]!;
const CONT = infoFor(false, false);
const CONT_END = infoFor(false, true);
const OPAQUE: MessageInfo = Object.freeze({ start: true, end: true, opaque: true });

function malformed(message: string, details?: Record<string, unknown>): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_MALFORMED, `postgres: ${message}`, details === undefined ? undefined : { details });
}

/** Common decode machinery: typed message headers, limits, cutting large messages into bounded pieces. */
abstract class PgFramer extends BufferedFramer implements ProtocolFramer {
  readonly name = 'postgres';
  readonly passthrough = false;
  protected readonly maxFrame: number;
  private readonly maxLength: number;
  protected lastInfo: MessageInfo | undefined;
  /** Bytes of the current (split) message not yet returned. */
  private remaining = 0;
  private pieceType = 0;
  private pieceTotal = 0;
  private midInfo: MessageInfo = CONT;
  private endInfo: MessageInfo = CONT_END;
  // classification result of the message being decoded
  protected mStart = false;
  protected mEnd = false;
  protected mUnsolicited = false;
  protected mAttributes: Attributes | undefined;
  protected mResponses: number | undefined;

  protected constructor(
    protected readonly state: PgState,
    private readonly from: 'client' | 'server',
    options: PostgresCodecOptions,
  ) {
    super(options.maxBufferedBytes ?? Math.max(options.maxMessageFrame, MAX_STARTUP_LENGTH) + READ_HEADROOM);
    this.maxFrame = options.maxMessageFrame;
    this.maxLength = options.maxMessageLength;
  }

  get info(): MessageInfo | undefined {
    return this.lastInfo;
  }

  encode(frame: Frame): Buffer {
    return frame;
  }

  protected override resetDecodeState(): void {
    this.remaining = 0;
  }

  /** Classify a typed message from its bytes (the whole message, or its first piece when `whole` is false). */
  protected abstract classify(type: number, frame: Buffer, whole: boolean): void;

  protected truncated(what: string, have: number, need: number): SwitchyardError {
    return new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `postgres: ${this.from} connection ended inside ${what} (${have} of ${need} bytes)`, {
      details: { have, need },
    });
  }

  protected opaqueChunk(): Frame | null {
    if (this.buf.length === 0) return null;
    this.lastInfo = OPAQUE;
    return this.buf.consumeChunk();
  }

  /** The next piece of a split message, when one is in progress (else undefined). */
  protected piece(): Frame | null | undefined {
    if (this.remaining === 0) return undefined;
    const n = Math.min(this.buf.length, this.remaining, this.maxFrame);
    if (n === 0) {
      if (this.ended) {
        const total = this.pieceTotal;
        throw this.truncated(typeName(this.pieceType, this.from), total - this.remaining, total);
      }
      return null;
    }
    this.remaining -= n;
    this.lastInfo = this.remaining === 0 ? this.endInfo : this.midInfo;
    return this.buf.consume(n);
  }

  /** Decode one typed message (or its first piece). */
  protected typed(): Frame | null {
    const buf = this.buf;
    if (buf.length < HEADER_LENGTH) {
      if (this.ended && buf.length > 0) throw this.truncated('a message header', buf.length, HEADER_LENGTH);
      return null;
    }
    const type = buf.byteAt(0);
    if (!(this.from === 'client' ? isFrontendType(type) : isBackendType(type))) {
      throw malformed(`${this.from} sent ${typeName(type, this.from)}`, { type });
    }
    const len = buf.readUIntBE(1, 4);
    if (len < 4) throw malformed(`${typeName(type, this.from)} declares length ${len} (at least 4)`, { type, length: len });
    if (len > this.maxLength) {
      throw new SwitchyardError(
        ErrorCodes.FRAME_TOO_LARGE,
        `postgres: ${typeName(type, this.from)} declares length ${len}, above maxMessageLength ${this.maxLength}`,
        { details: { type, length: len, limit: this.maxLength } },
      );
    }
    const total = len + 1;
    if (total <= this.maxFrame) {
      if (buf.length < total) {
        if (this.ended) throw this.truncated(typeName(type, this.from), buf.length, total);
        return null;
      }
      const frame = buf.consume(total);
      this.classify(type, frame, true);
      this.lastInfo = this.makeInfo(this.mEnd);
      return frame;
    }
    // a large message: a first piece of exactly maxFrame bytes (attributes never depend on chunking), then pieces
    if (buf.length < this.maxFrame) {
      if (this.ended) throw this.truncated(typeName(type, this.from), buf.length, total);
      return null;
    }
    const frame = buf.consume(this.maxFrame);
    this.remaining = total - this.maxFrame;
    this.pieceType = type;
    this.pieceTotal = total;
    this.classify(type, frame, false);
    this.lastInfo = this.makeInfo(false);
    this.midInfo = infoFor(false, false, this.mUnsolicited);
    this.endInfo = infoFor(false, this.mEnd, this.mUnsolicited);
    return frame;
  }

  protected makeInfo(end: boolean): MessageInfo {
    if (this.mAttributes === undefined && this.mResponses === undefined) return infoFor(this.mStart, end, this.mUnsolicited);
    const info: { start: boolean; end: boolean; unsolicited?: boolean; responses?: number; attributes?: Attributes } = { start: this.mStart, end };
    if (this.mUnsolicited) info.unsolicited = true;
    if (this.mResponses !== undefined) info.responses = this.mResponses;
    if (this.mAttributes !== undefined) info.attributes = this.mAttributes;
    return info;
  }

  protected set(start: boolean, end: boolean, attributes?: Attributes, responses?: number, unsolicited = false): void {
    this.mStart = start;
    this.mEnd = end;
    this.mAttributes = attributes;
    this.mResponses = responses;
    this.mUnsolicited = unsolicited;
  }
}

/** Client → server. */
class RequestFramer extends PgFramer {
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
        return this.untyped();
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
  private untyped(): Frame | null {
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
    this.lastInfo = this.makeInfo(true);
    return frame;
  }

  private startRequest(phase: string, extended: boolean): Pending {
    const entry: Pending = { kind: 'normal', extended, synced: false };
    const st = this.state;
    st.pending.push(entry);
    st.lastStart = { phase, entry };
    st.dropping = false;
    return entry;
  }

  private remember(name: string, sql: Buffer, kind: string | undefined): void {
    const m = this.state.statements;
    m.delete(name);
    m.set(name, { kind, query: sqlPreview(sql) });
    if (m.size > MAX_STATEMENTS) {
      const oldest = m.keys().next();
      if (!oldest.done) m.delete(oldest.value);
    }
  }

  /** Attributes of a batch that starts with a message naming a prepared statement. */
  private statementAttrs(name: string): Attributes {
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
        this.startRequest(attrs['phase'] as string, false);
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
            if (!(st.batch && st.dropping)) this.remember(m.statement, m.sql, kind);
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
          if (m) attrs = this.statementAttrs(m.statement);
        } else if (type === FE.Describe || type === FE.Close) {
          const m = parseTargetMessage(payload);
          if (m?.target === 'S') {
            if (!st.batch) attrs = this.statementAttrs(m.name);
            if (type === FE.Close && !(st.dropping && st.batch)) st.statements.delete(m.name);
          }
        }
        if (st.batch) return this.set(false, false);
        const entry = this.startRequest('extended', true);
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
        const entry = this.startRequest('extended', true);
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

const SSL_ATTRS: Attributes = Object.freeze({ phase: 'ssl', encryption: 'ssl' });
const GSS_ATTRS: Attributes = Object.freeze({ phase: 'ssl', encryption: 'gss' });
const FUNCTION_ATTRS: Attributes = Object.freeze({ phase: 'function' });
const EXTENDED_ATTRS: Attributes = Object.freeze({ phase: 'extended' });
const TERMINATE_ATTRS: Attributes = Object.freeze({ phase: 'terminate' });

/** Server → client. */
class ResponseFramer extends PgFramer {
  /** The request whose response is in progress (its first message was returned, ReadyForQuery not yet). */
  private current: Pending | undefined;

  constructor(state: PgState, options: PostgresCodecOptions) {
    super(state, 'server', options);
  }

  protected decodeOne(): Frame | null {
    const st = this.state;
    if (st.opaque) return this.opaqueChunk();
    const p = this.piece();
    if (p !== undefined) return p;
    const head = st.pending[0];
    if (this.current === undefined && head?.kind === 'ssl') {
      if (this.buf.length === 0) return null;
      const b = this.buf.byteAt(0);
      if (b === S || b === G || b === N) {
        st.pending.shift();
        if (b === N) st.clientMode = 'initial';
        else st.opaque = true;
        this.set(true, true);
        this.lastInfo = this.makeInfo(true);
        return this.buf.consume(1);
      }
      // an ErrorResponse (a server without SSL support) is a typed message; anything else is wrong
      if (b !== BE.ErrorResponse) throw malformed(`server answered SSLRequest/GSSENCRequest with byte 0x${b.toString(16).padStart(2, '0')} (expected 'S', 'G', 'N' or an ErrorResponse)`);
    }
    return this.typed();
  }

  protected classify(type: number, frame: Buffer, _whole: boolean): void {
    const st = this.state;
    const payload = frame.subarray(HEADER_LENGTH);
    let start = false;
    let current = this.current;
    if (current === undefined) {
      const head = st.pending[0];
      // a NotificationResponse never opens a response (it comes just before ReadyForQuery or while idle)
      if (head === undefined || type === BE.NotificationResponse) {
        if (type === BE.ReadyForQuery) this.readyForQuery(payload);
        return this.set(true, true, undefined, undefined, true);
      }
      current = this.current = head;
      start = true;
    }
    let end = false;
    switch (type) {
      case BE.ReadyForQuery:
        this.readyForQuery(payload);
        if (current.kind === 'startup') st.startupDone = true;
        end = true;
        break;
      case BE.ErrorResponse: {
        if (current.kind !== 'normal') end = true; // an error during startup closes the connection
        else {
          const sev = errorSeverity(payload);
          if (sev === 'FATAL' || sev === 'PANIC') end = true;
        }
        break;
      }
      case BE.CopyInResponse:
      case BE.CopyBothResponse:
        st.copyIn = true;
        // the server ignores Sync during copy-in: an extended COPY whose Sync was already sent needs one more
        if (current.extended && current.synced) st.extraSyncs++;
        break;
      default:
        break;
    }
    if (end) {
      if (st.pending[0] === current) st.pending.shift();
      this.current = undefined;
    }
    this.set(start, end);
  }

  private readyForQuery(payload: Buffer): void {
    const status = readyForQueryStatus(payload);
    if (status === undefined) throw malformed(`ReadyForQuery ('Z') with invalid transaction status (payload ${payload.toString('hex')})`);
    const st = this.state;
    st.txStatus = status;
    st.copyIn = false;
    st.extraSyncs = 0;
  }
}

function sqlState(status: ErrorReplyRequest['status']): string {
  const s = status === undefined ? '' : String(status);
  return /^[0-9A-Z]{5}$/.test(s) ? s : DEFAULT_SQLSTATE;
}

class PostgresCodec implements ProtocolCodec {
  readonly toUpstream: RequestFramer;
  readonly toDownstream: ResponseFramer;
  private readonly state = new PgState();

  constructor(options: PostgresCodecOptions) {
    this.toUpstream = new RequestFramer(this.state, options);
    this.toDownstream = new ResponseFramer(this.state, options);
  }

  errorReply(request: ErrorReplyRequest): ErrorReply | undefined {
    const st = this.state;
    if (st.opaque) return undefined;
    const last = st.lastStart;
    st.lastStart = undefined;
    if (last?.entry) {
      // the request is dropped: the server never answers it
      const i = st.pending.lastIndexOf(last.entry);
      if (i >= 0) st.pending.splice(i, 1);
      if (st.batch?.entry === last.entry) {
        st.batch.entry = undefined;
        st.dropping = true;
      }
    }
    if (last?.phase === 'cancel' || last?.phase === 'terminate') return { frames: [], close: true };
    const code = sqlState(request.status);
    if (!st.startupDone || request.close === true || last?.phase === 'ssl' || last?.phase === 'startup') {
      const frame = encodeErrorResponse([
        ['S', 'FATAL'],
        ['V', 'FATAL'],
        ['C', code],
        ['M', request.message],
      ]);
      return { frames: [frame], close: true };
    }
    const status: TransactionStatus = st.txStatus === 'I' ? 'I' : 'E';
    st.txStatus = status;
    const error = encodeErrorResponse([
      ['S', 'ERROR'],
      ['V', 'ERROR'],
      ['C', code],
      ['M', request.message],
    ]);
    return { frames: [error, encodeReadyForQuery(status)], close: false };
  }

  /** For tests and diagnostics. */
  get transactionStatus(): TransactionStatus {
    return this.state.txStatus;
  }
}

export function createPostgresCodecFactory(options: PostgresCodecOptions): ProtocolCodecFactory {
  return {
    name: 'postgres',
    create: () => new PostgresCodec(options),
  };
}
