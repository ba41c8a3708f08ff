/**
 * gRPC exchanges as comparable trees: the length-prefixed messages of one side of a call (reassembled across DATA
 * chunks, inflated when `grpc-encoding` is gzip or deflate), each lifted without protos (protobuf-wire.ts) or with a
 * descriptor set (protobuf-descriptor.ts), together with the call's final status and trailers.
 *
 * The tree of a response (docs/grpc-compare.md):
 *
 *   { messages: [ {"1": 5, "2": "x"}, ... ],         one tree per message, in order
 *     status: "OK",                                   grpc-status by name (a number when it has none), trailers-only too
 *     message: "",                                    grpc-message, percent-decoded (absent when not sent)
 *     trailers: { "x-checksum": "...", ... },         every other trailer minus the ignored ones; -bin values lifted
 *     headers: { "x-served-by": "..." } }             initial metadata minus the ignored ones (compareHeaders)
 *
 * A request's tree is the same without status/message/trailers. Masks are JSON pointers over that tree; a pointer
 * whose first segment is not one of the keys above applies to every message: "/1/3" is "/messages/*\/1/3".
 *
 * The comparator (grpc-comparator.ts; `buildComparator('grpc')` for one without a descriptor set) takes frames made by
 * {@link grpcExchangeFrames} (one frame describing the
 * call — method, headers, trailers — then the DATA chunks as they came); frames without that first frame are read as
 * a bare message stream.
 */
import { gunzipSync, inflateSync } from 'node:zlib';
import { binaryLeaf, bytesLeaf, invalidTree, MAX_INLINE_BINARY, sha256Hex, setKey, shorten, type LiftResult, type Lifter, type MTree, type MessageKind } from '../protocols/lift.js';
import { liftTyped, type DescriptorPool } from './protobuf-descriptor.js';
import { liftProtobuf, liftUnknownBytes, ProtobufDecodeError } from './protobuf-wire.js';

/** A framing error in a gRPC message stream (bad compressed flag, message over the size bound, truncated stream). */
export class GrpcFramingError extends Error {
  readonly code = 'GRPC_FRAMING';
  constructor(message: string) {
    super(`grpc: ${message}`);
    this.name = 'GrpcFramingError';
  }
}

export interface GrpcMessage {
  /** The compressed flag of the 5-byte prefix. */
  readonly compressed: boolean;
  readonly data: Buffer;
}

/** Default bound on one message, as grpc-js's default receive limit. */
export const DEFAULT_MAX_GRPC_MESSAGE = 4 * 1024 * 1024;

/**
 * Reassembles length-prefixed gRPC messages from DATA chunks of any size. Holds at most one partial message (bounded by
 * `maxMessageSize`; a larger prefix throws before anything is buffered).
 */
export class GrpcMessageReader {
  readonly #max: number;
  #parts: Buffer[] = [];
  #buffered = 0;
  /** Length of the message being read (prefix seen), else -1. */
  #need = -1;
  #compressed = false;

  constructor(maxMessageSize = DEFAULT_MAX_GRPC_MESSAGE) {
    this.#max = maxMessageSize;
  }

  /** Bytes held (a partial prefix or message). */
  get pending(): number {
    return this.#buffered;
  }

  /** The messages completed by `chunk`. Throws {@link GrpcFramingError}. */
  push(chunk: Buffer): GrpcMessage[] {
    const out: GrpcMessage[] = [];
    if (chunk.length === 0) return out;
    this.#parts.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < 5) break;
        const head = this.#take(5);
        const flag = head[0]!;
        if (flag > 1) throw new GrpcFramingError(`compressed flag ${flag} (expected 0 or 1)`);
        const len = head.readUInt32BE(1);
        if (len > this.#max) throw new GrpcFramingError(`message of ${len} B exceeds the limit of ${this.#max} B`);
        this.#need = len;
        this.#compressed = flag === 1;
      }
      if (this.#buffered < this.#need) break;
      out.push({ compressed: this.#compressed, data: this.#take(this.#need) });
      this.#need = -1;
    }
    return out;
  }

  /** Bytes of the partial message read so far, its prefix included (0 between messages). */
  get partial(): number {
    return this.#buffered + (this.#need >= 0 ? 5 : 0);
  }

  /** The stream ended: throws {@link GrpcFramingError} when a message is incomplete. */
  end(): void {
    if (this.#buffered > 0 || this.#need > 0) {
      throw new GrpcFramingError(this.#need < 0 ? `stream ends inside a message prefix (${this.#buffered} B)` : `stream ends inside a message (${this.#buffered} of ${this.#need} B)`);
    }
  }

  #take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.#parts[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#parts.shift();
      else this.#parts[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const p = this.#parts[0]!;
        const k = Math.min(p.length, n - off);
        p.copy(out, off, 0, k);
        off += k;
        if (k === p.length) this.#parts.shift();
        else this.#parts[0] = p.subarray(k);
      }
    }
    this.#buffered -= n;
    return out;
  }
}

/** Header/trailer values as node:http2 gives them. */
export type GrpcMetadata = Readonly<Record<string, string | readonly string[] | number | undefined>>;

/** One side of a gRPC call, as the engine saw it. */
export interface GrpcExchange {
  /** Request path "/pkg.Service/Method" (selects the descriptor types; the endpoint for noise learning). */
  readonly method?: string | undefined;
  /** Request headers (requests) or response headers (responses); a trailers-only response's status is here. */
  readonly headers?: GrpcMetadata | undefined;
  /** Response trailers (responses). */
  readonly trailers?: GrpcMetadata | undefined;
  /** DATA chunks in order. */
  readonly data: readonly Buffer[];
}

const STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/** Keys of the call tree; a mask pointer starting with anything else applies to every message. */
export const GRPC_TREE_KEYS: readonly string[] = ['messages', 'status', 'message', 'trailers', 'headers', 'httpStatus', 'incomplete'];

/** Metadata never compared: transport and per-hop values, and what the tree holds elsewhere. */
const ALWAYS_IGNORED = new Set([
  'grpc-status',
  'grpc-message',
  'grpc-encoding',
  'grpc-accept-encoding',
  'accept-encoding',
  'content-length',
  'date',
  'server',
  'te',
  'user-agent',
  'grpc-timeout',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

export interface GrpcLiftOptions {
  /** A parsed descriptor set: messages of methods it knows are lifted with field names. */
  readonly descriptors?: DescriptorPool | undefined;
  /** Extra metadata keys (case-insensitive) not compared, headers and trailers alike. */
  readonly ignoreHeaders?: readonly string[] | undefined;
  /** Compare initial metadata (response headers / request metadata) at all; default true. Trailers always are. */
  readonly compareHeaders?: boolean | undefined;
  /** Largest message (after inflating) that is decoded; larger ones compare as `{ sha256, length }`. Default 4 MiB. */
  readonly maxMessageSize?: number | undefined;
}

function first(v: string | readonly string[] | number | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') return String(v);
  return typeof v === 'string' ? v : v[0];
}

function statusLeaf(raw: string): string | number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n)) return raw;
  return STATUS_NAMES[n] ?? n;
}

function percentDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function metadataTree(md: GrpcMetadata, ignored: ReadonlySet<string>, maxDepth: number): { [k: string]: MTree } {
  const out: { [k: string]: MTree } = {};
  for (const rawKey of Object.keys(md).sort()) {
    const key = rawKey.toLowerCase();
    if (key.startsWith(':') || ignored.has(key) || ALWAYS_IGNORED.has(key)) continue;
    const v = md[rawKey];
    if (v === undefined) continue;
    const values = (typeof v === 'string' || typeof v === 'number' ? [String(v)] : [...v]).flatMap((x) => (key.endsWith('-bin') ? x.split(',') : [x]));
    const leaves = values.map((x): MTree => (key.endsWith('-bin') ? liftUnknownBytes(Buffer.from(x.trim(), 'base64'), { maxDepth }) : x));
    setKey(out, key, leaves.length === 1 ? leaves[0]! : leaves);
  }
  return out;
}

function inflate(encoding: string, data: Buffer, max: number): Buffer {
  const opts = { maxOutputLength: max };
  if (encoding === 'gzip') return gunzipSync(data, opts);
  if (encoding === 'deflate') return inflateSync(data, opts);
  throw new GrpcFramingError(`cannot inflate grpc-encoding ${encoding}`);
}

/** Non-text bytes as the keys of a leaf object (`base64`, or `sha256` and `length` over 64 KiB). */
function binaryFields(buf: Buffer): { [k: string]: MTree } {
  return buf.length > MAX_INLINE_BINARY ? { sha256: sha256Hex(buf), length: buf.length } : { base64: buf.toString('base64') };
}

/** The tree of one message's bytes. */
function messageTree(data: Buffer, typeName: string | undefined, options: GrpcLiftOptions): MTree {
  if (data.length > (options.maxMessageSize ?? DEFAULT_MAX_GRPC_MESSAGE)) return binaryLeaf(data);
  try {
    if (typeName !== undefined && options.descriptors) return liftTyped(data, typeName, options.descriptors);
    return liftProtobuf(data);
  } catch (err) {
    if (!(err instanceof ProtobufDecodeError)) throw err;
    // not a protobuf message (another codec, or garbage): its bytes, and why
    const leaf = bytesLeaf(data);
    return typeof leaf === 'string' ? { notProtobuf: err.message, text: leaf } : { notProtobuf: err.message, ...binaryFields(data) };
  }
}

/** The magic first bytes of the frame {@link grpcExchangeFrames} puts before the DATA chunks. */
const META_MAGIC = Buffer.from('\0swy-grpc-exchange\n');

/** Frames for `Comparator.canonical`: a frame with the call's method, headers and trailers, then the DATA chunks. */
export function grpcExchangeFrames(ex: GrpcExchange): Buffer[] {
  const meta = JSON.stringify({ method: ex.method, headers: ex.headers, trailers: ex.trailers });
  return [Buffer.concat([META_MAGIC, Buffer.from(meta)]), ...ex.data];
}

/** The exchange {@link grpcExchangeFrames} made (frames without its first frame: a bare message stream). */
export function exchangeFromFrames(frames: readonly Buffer[]): GrpcExchange {
  const head = frames[0];
  if (!head || head.length < META_MAGIC.length || !head.subarray(0, META_MAGIC.length).equals(META_MAGIC)) return { data: frames };
  let meta: { method?: unknown; headers?: unknown; trailers?: unknown };
  try {
    meta = JSON.parse(head.subarray(META_MAGIC.length).toString('utf8')) as typeof meta;
  } catch {
    throw new GrpcFramingError('unreadable exchange description');
  }
  const md = (v: unknown): GrpcMetadata | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as GrpcMetadata) : undefined);
  return { method: typeof meta.method === 'string' ? meta.method : undefined, headers: md(meta.headers), trailers: md(meta.trailers), data: frames.slice(1) };
}

/** Lift one side of a gRPC call. Never throws: unreadable input becomes an `invalid` tree. */
export function liftGrpcExchange(ex: GrpcExchange, kind: MessageKind, options: GrpcLiftOptions = {}): LiftResult {
  try {
    return liftExchange(ex, kind, options);
  } catch (err) {
    const reason = err instanceof GrpcFramingError || err instanceof ProtobufDecodeError ? err.message : `grpc: ${err instanceof Error ? err.message : String(err)}`;
    return { tree: invalidTree(reason, Buffer.concat(ex.data)), summary: `invalid: ${shorten(reason, 80)}` };
  }
}

function liftExchange(ex: GrpcExchange, kind: MessageKind, options: GrpcLiftOptions): LiftResult {
  const headers = ex.headers ?? {};
  const ignored = new Set((options.ignoreHeaders ?? []).map((h) => h.toLowerCase()));
  const max = options.maxMessageSize ?? DEFAULT_MAX_GRPC_MESSAGE;
  const method = ex.method ?? first(headers[':path']);
  const m = method !== undefined ? options.descriptors?.methods.get(method) : undefined;
  const typeName = m ? (kind === 'request' ? m.input : m.output) : undefined;
  const encoding = (first(headers['grpc-encoding']) ?? 'identity').trim().toLowerCase();

  const reader = new GrpcMessageReader(Number.MAX_SAFE_INTEGER); // the frames are already in memory; big messages are digested
  const messages: MTree[] = [];
  let size = 0;
  const add = (msg: GrpcMessage): void => {
    size += msg.data.length;
    if (!msg.compressed) {
      messages.push(messageTree(msg.data, typeName, options));
      return;
    }
    if (encoding !== 'gzip' && encoding !== 'deflate') {
      messages.push({ compressed: encoding, ...binaryFields(msg.data) });
      return;
    }
    let plain: Buffer;
    try {
      plain = inflate(encoding, msg.data, max);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      messages.push({ compressed: encoding, inflateError: why, ...binaryFields(msg.data) });
      return;
    }
    messages.push(messageTree(plain, typeName, options));
  };
  for (const chunk of ex.data) for (const msg of reader.push(chunk)) add(msg);

  const tree: { [k: string]: MTree } = { messages };
  if (reader.partial > 0) tree['incomplete'] = reader.partial;
  if (options.compareHeaders !== false) {
    const h = metadataTree(headers, ignored, 32);
    if (kind === 'request') delete h['content-type'];
    tree['headers'] = h; // always present, so that masking a header's only key and not sending it compare equal
    const httpStatus = first(headers[':status']);
    if (httpStatus !== undefined && httpStatus !== '200') tree['httpStatus'] = Number(httpStatus) || httpStatus;
  }
  let statusText = '';
  if (kind === 'response') {
    // trailers-only responses carry the status in the headers
    const trailers = ex.trailers ?? {};
    const rawStatus = first(trailers['grpc-status']) ?? first(headers['grpc-status']);
    const rawMessage = first(trailers['grpc-message']) ?? (first(trailers['grpc-status']) === undefined ? first(headers['grpc-message']) : undefined);
    const status = rawStatus === undefined ? 'missing' : statusLeaf(rawStatus);
    tree['status'] = status;
    statusText = `${String(status)} `;
    if (rawMessage !== undefined) tree['message'] = percentDecode(rawMessage);
    tree['trailers'] = metadataTree(trailers, ignored, 32);
  }
  const summary = `${statusText}${messages.length} message${messages.length === 1 ? '' : 's'} ${size} B${method !== undefined ? ` ${method}` : ''}`;
  return { tree, summary };
}

/** The lifter of gRPC calls (protocol 'grpc'): frames as {@link grpcExchangeFrames} makes them. */
export function createGrpcLifter(options: GrpcLiftOptions = {}): Lifter {
  return {
    protocol: 'grpc',
    liftWithSummary(frames, kind) {
      let ex: GrpcExchange;
      try {
        ex = exchangeFromFrames(frames);
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        return { tree: invalidTree(reason, Buffer.concat(frames)), summary: `invalid: ${shorten(reason, 80)}` };
      }
      return liftGrpcExchange(ex, kind, options);
    },
    lift(frames, kind) {
      return this.liftWithSummary(frames, kind).tree;
    },
    endpoint(requestFrames) {
      try {
        const ex = exchangeFromFrames(requestFrames);
        return ex.method ?? first(ex.headers?.[':path']) ?? '*';
      } catch {
        return '*';
      }
    },
    maskPointer(pointer) {
      if (typeof pointer !== 'string' || !pointer.startsWith('/')) return pointer;
      const seg = pointer.slice(1).split('/')[0]!;
      return GRPC_TREE_KEYS.includes(seg) || seg === '**' ? pointer : `/messages/*${pointer}`;
    },
  };
}
