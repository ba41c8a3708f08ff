/**
 * WAMP serializers: JSON (binary values as `"\u0000" + base64`, the spec's rule), MessagePack and CBOR, with the
 * WebSocket subprotocol names (plain and `.batched`) and the RawSocket serializer ids. Binary values are
 * `Uint8Array` in decoded messages whatever the wire format, so a message decoded from one serializer re-encodes
 * into any other with its binaries intact.
 */
import { decode as cborDecode, encode as cborEncode } from 'cbor2';
import { decode as msgpackDecode, encode as msgpackEncode } from '@msgpack/msgpack';

export type SerializerName = 'json' | 'msgpack' | 'cbor';
export const SERIALIZER_NAMES: readonly SerializerName[] = ['json', 'msgpack', 'cbor'];

/** A decoded WAMP message: `[code, ...fields]`. */
export type WampMessage = unknown[];

export interface Serializer {
  readonly name: SerializerName;
  /** True when the encoding is binary (WebSocket binary frames). */
  readonly binary: boolean;
  /** RawSocket serializer id (1 JSON, 2 MessagePack, 3 CBOR). */
  readonly rawSocketId: number;
  encode(msg: WampMessage): Buffer;
  /** Decode one message; throws on bad input. */
  decode(data: Buffer): unknown;
}

function jsonReplacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  if (raw instanceof Uint8Array) return `\u0000${Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64')}`;
  return value;
}

function jsonReviver(_key: string, value: unknown): unknown {
  if (typeof value === 'string' && value.charCodeAt(0) === 0) return new Uint8Array(Buffer.from(value.slice(1), 'base64'));
  return value;
}

/** Turn Buffers into plain Uint8Arrays (cbor2 would encode a Buffer through its toJSON). */
function plainBytes(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.isBuffer(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : v;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const x = plainBytes(v[i]);
      if (x !== v[i]) (out ??= v.slice())[i] = x;
    }
    return out ?? v;
  }
  if (v !== null && typeof v === 'object') {
    let out: Record<string, unknown> | undefined;
    for (const [k, x] of Object.entries(v)) {
      const y = plainBytes(x);
      if (y !== x) (out ??= { ...(v as Record<string, unknown>) })[k] = y;
    }
    return out ?? v;
  }
  return v;
}

/** cbor2 gives bigint for integers outside 32 bits in some encodings; WAMP ids fit in 2^53. */
function safeNumbers(v: unknown): unknown {
  if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = safeNumbers(v[i]);
    return v;
  }
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) o[String(k)] = safeNumbers(x);
    return o;
  }
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
    for (const [k, x] of Object.entries(v)) (v as Record<string, unknown>)[k] = safeNumbers(x);
  }
  return v;
}

const JSON_SERIALIZER: Serializer = {
  name: 'json',
  binary: false,
  rawSocketId: 1,
  encode: (msg) => Buffer.from(JSON.stringify(msg, jsonReplacer)),
  decode: (data) => {
    const text = data.toString('utf8');
    // Only walk the tree when a binary value can be there.
    return (text.includes('\\u0000') ? JSON.parse(text, jsonReviver) : JSON.parse(text)) as unknown;
  },
};

const MSGPACK_SERIALIZER: Serializer = {
  name: 'msgpack',
  binary: true,
  rawSocketId: 2,
  encode: (msg) => {
    const u = msgpackEncode(msg, { ignoreUndefined: true });
    return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  },
  decode: (data) => safeNumbers(msgpackDecode(data, { useBigInt64: false })),
};

const CBOR_SERIALIZER: Serializer = {
  name: 'cbor',
  binary: true,
  rawSocketId: 3,
  encode: (msg) => {
    const u = cborEncode(plainBytes(msg));
    return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  },
  decode: (data) => safeNumbers(cborDecode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))),
};

export const SERIALIZERS: Readonly<Record<SerializerName, Serializer>> = { json: JSON_SERIALIZER, msgpack: MSGPACK_SERIALIZER, cbor: CBOR_SERIALIZER };

/** RawSocket serializer id → serializer. */
export function serializerByRawSocketId(id: number): Serializer | undefined {
  return SERIALIZER_NAMES.map((n) => SERIALIZERS[n]).find((s) => s.rawSocketId === id);
}

/** A negotiated WebSocket subprotocol: `wamp.2.<name>` or `wamp.2.<name>.batched`. */
export interface Subprotocol {
  readonly id: string;
  readonly serializer: Serializer;
  readonly batched: boolean;
}

/** Parse `wamp.2.json`, `wamp.2.cbor.batched`, ... (undefined for anything else). */
export function parseSubprotocol(id: string): Subprotocol | undefined {
  const m = /^wamp\.2\.(json|msgpack|cbor)(\.batched)?$/.exec(id);
  if (!m) return undefined;
  return { id, serializer: SERIALIZERS[m[1] as SerializerName], batched: m[2] !== undefined };
}

/** The subprotocols a server offering these serializers accepts (each plain and batched). */
export function subprotocolIds(serializers: readonly SerializerName[]): string[] {
  return serializers.flatMap((s) => [`wamp.2.${s}`, `wamp.2.${s}.batched`]);
}

/** Batched WebSocket framing: JSON messages each followed by 0x1E; binary ones each prefixed by a 4-octet length. */
export function splitBatched(serializer: Serializer, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  if (!serializer.binary) {
    let start = 0;
    for (let i = 0; i < data.length; i++) {
      if (data[i] === 0x1e) {
        out.push(data.subarray(start, i));
        start = i + 1;
      }
    }
    if (start < data.length) out.push(data.subarray(start));
    return out;
  }
  let off = 0;
  while (off + 4 <= data.length) {
    const len = data.readUInt32BE(off);
    if (off + 4 + len > data.length) throw new Error('truncated batched message');
    out.push(data.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  if (off !== data.length) throw new Error('truncated batched message');
  return out;
}

/** One message in batched framing. */
export function frameBatched(serializer: Serializer, encoded: Buffer): Buffer {
  if (!serializer.binary) return Buffer.concat([encoded, Buffer.from([0x1e])]);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(encoded.length);
  return Buffer.concat([head, encoded]);
}
