/**
 * A compiled FileDescriptorSet (`protoc --include_imports --descriptor_set_out=x.protoset`, `buf build -o x.protoset`)
 * read with the wire reader of protobuf-wire.ts (descriptor.proto's field numbers are fixed), so that gRPC messages
 * can be lifted with field names instead of numbers:
 *
 * - a field known to the descriptor is keyed by its name and typed: int32, int64, sint32/64 and sfixed32/64 signed, uint* unsigned,
 *   bool, enum → value name (the number when the name is unknown), float/double → number (NaN/±Infinity as strings),
 *   string, bytes → `{ base64 }`, message → nested tree, packed repeated scalars unpacked; repeated fields are always
 *   arrays; map fields are objects keyed by the map key;
 * - a field the descriptor does not know (or whose wire type does not match its declaration) is keyed by its number
 *   and lifted like protobuf-wire.ts does without a schema.
 */
import { readFileSync } from 'node:fs';
import { binaryLeaf, bytesLeaf, setKey, type MTree } from '../protocols/lift.js';
import { configError } from './config-error.js';
import { ProtobufDecodeError, rawLeaf, readFields, readVarint, uintLeaf, wireBudget, type Budget, type WireField } from './protobuf-wire.js';

/** FieldDescriptorProto.Type values. */
const T = {
  DOUBLE: 1,
  FLOAT: 2,
  INT64: 3,
  UINT64: 4,
  INT32: 5,
  FIXED64: 6,
  FIXED32: 7,
  BOOL: 8,
  STRING: 9,
  GROUP: 10,
  MESSAGE: 11,
  BYTES: 12,
  UINT32: 13,
  ENUM: 14,
  SFIXED32: 15,
  SFIXED64: 16,
  SINT32: 17,
  SINT64: 18,
} as const;

const LABEL_REPEATED = 3;

export interface FieldType {
  readonly name: string;
  readonly number: number;
  readonly type: number;
  /** Fully qualified, without the leading dot (messages and enums). */
  readonly typeName: string | undefined;
  readonly repeated: boolean;
}

export interface MessageType {
  /** Fully qualified name, e.g. "pkg.Outer.Inner". */
  readonly fullName: string;
  readonly fields: ReadonlyMap<number, FieldType>;
  /** A map field's entry type (option map_entry). */
  readonly mapEntry: boolean;
}

export interface MethodType {
  /** "/pkg.Service/Method" — the gRPC request path. */
  readonly path: string;
  readonly input: string;
  readonly output: string;
  readonly clientStreaming: boolean;
  readonly serverStreaming: boolean;
}

/** Every message, enum and method of a descriptor set. */
export interface DescriptorPool {
  readonly messages: ReadonlyMap<string, MessageType>;
  /** Enum full name → number → value name. */
  readonly enums: ReadonlyMap<string, ReadonlyMap<number, string>>;
  /** By request path "/pkg.Service/Method". */
  readonly methods: ReadonlyMap<string, MethodType>;
}

function str(f: WireField | undefined): string | undefined {
  return f?.wireType === 2 ? f.value.toString('utf8') : undefined;
}

function num(f: WireField | undefined): number | undefined {
  return f && (f.wireType === 0 || f.wireType === 5) && typeof f.value === 'number' ? f.value : undefined;
}

function byNumber(fields: readonly WireField[]): { one(n: number): WireField | undefined; all(n: number): WireField[] } {
  return {
    one: (n) => {
      let last: WireField | undefined;
      for (const f of fields) if (f.number === n) last = f;
      return last;
    },
    all: (n) => fields.filter((f) => f.number === n),
  };
}

function sub(f: WireField, what: string): WireField[] {
  if (f.wireType !== 2) throw new ProtobufDecodeError(`${what}: expected a message, got wire type ${f.wireType}`, f.offset);
  return readFields(f.value);
}

function qualify(scope: string, name: string): string {
  return scope === '' ? name : `${scope}.${name}`;
}

/** Parse a FileDescriptorSet. Throws {@link ProtobufDecodeError} when the bytes are not one. */
export function parseDescriptorSet(bytes: Buffer): DescriptorPool {
  const messages = new Map<string, MessageType>();
  const enums = new Map<string, Map<number, string>>();
  const methods = new Map<string, MethodType>();

  const addEnum = (f: WireField, scope: string): void => {
    const e = byNumber(sub(f, 'enum'));
    const name = str(e.one(1));
    if (name === undefined) throw new ProtobufDecodeError('enum without a name', f.offset);
    const values = new Map<number, string>();
    for (const v of e.all(2)) {
      const vf = byNumber(sub(v, `enum ${name} value`));
      const vname = str(vf.one(1));
      const vfield = vf.one(2);
      // enum numbers are int32: negative ones arrive as 64-bit varints
      const vnum = vfield?.wireType === 0 ? Number(BigInt.asIntN(32, BigInt(vfield.value))) : undefined;
      if (vname !== undefined && vnum !== undefined && !values.has(vnum)) values.set(vnum, vname);
    }
    enums.set(qualify(scope, name), values);
  };

  const addMessage = (f: WireField, scope: string): void => {
    const m = byNumber(sub(f, 'message'));
    const name = str(m.one(1));
    if (name === undefined) throw new ProtobufDecodeError('message without a name', f.offset);
    const fullName = qualify(scope, name);
    const fields = new Map<number, FieldType>();
    for (const fd of m.all(2)) {
      const x = byNumber(sub(fd, `message ${fullName} field`));
      const fname = str(x.one(1));
      const fnum = num(x.one(3));
      const ftype = num(x.one(5));
      if (fname === undefined || fnum === undefined || ftype === undefined) throw new ProtobufDecodeError(`message ${fullName}: a field without name, number or type`, fd.offset);
      fields.set(fnum, { name: fname, number: fnum, type: ftype, typeName: str(x.one(6)), repeated: num(x.one(4)) === LABEL_REPEATED });
    }
    const opts = m.one(7);
    const mapEntry = opts !== undefined && num(byNumber(sub(opts, `message ${fullName} options`)).one(7)) === 1;
    messages.set(fullName, { fullName, fields, mapEntry });
    for (const n of m.all(3)) addMessage(n, fullName);
    for (const e of m.all(4)) addEnum(e, fullName);
  };

  for (const file of byNumber(readFields(bytes)).all(1)) {
    const fd = byNumber(sub(file, 'file'));
    const pkg = str(fd.one(2)) ?? '';
    for (const m of fd.all(4)) addMessage(m, pkg);
    for (const e of fd.all(5)) addEnum(e, pkg);
    for (const s of fd.all(6)) {
      const sv = byNumber(sub(s, 'service'));
      const sname = str(sv.one(1));
      if (sname === undefined) throw new ProtobufDecodeError('service without a name', s.offset);
      for (const md of sv.all(2)) {
        const x = byNumber(sub(md, `service ${sname} method`));
        const mname = str(x.one(1));
        const input = str(x.one(2));
        const output = str(x.one(3));
        if (mname === undefined || input === undefined || output === undefined) throw new ProtobufDecodeError(`service ${sname}: a method without name, input or output`, md.offset);
        const path = `/${qualify(pkg, sname)}/${mname}`;
        methods.set(path, { path, input, output, clientStreaming: num(x.one(5)) === 1, serverStreaming: num(x.one(6)) === 1 });
      }
    }
  }
  // protoc writes fully qualified names (".pkg.Msg"); other compilers may write them relative to the scope
  const resolve = (name: string | undefined, scope: string): string | undefined => {
    if (name === undefined) return undefined;
    if (name.startsWith('.')) return name.slice(1);
    for (let s = scope; ; s = s.includes('.') ? s.slice(0, s.lastIndexOf('.')) : '') {
      const candidate = qualify(s, name);
      if (messages.has(candidate) || enums.has(candidate)) return candidate;
      if (s === '') return name;
    }
  };
  for (const [name, m] of messages) {
    const fields = new Map<number, FieldType>();
    for (const [n, f] of m.fields) fields.set(n, { ...f, typeName: resolve(f.typeName, name) });
    messages.set(name, { ...m, fields });
  }
  for (const [p, m] of methods) {
    const scope = p.slice(1, p.lastIndexOf('/'));
    methods.set(p, { ...m, input: resolve(m.input, scope)!, output: resolve(m.output, scope)! });
  }
  return { messages, enums, methods };
}

/** Read a `.protoset` file; a missing, unreadable or malformed file throws CONFIG_INVALID naming `what` and the path. */
export function loadDescriptorSet(path: string, what = 'descriptorSet'): DescriptorPool {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw configError(`${what}: cannot read ${JSON.stringify(path)}: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    const pool = parseDescriptorSet(bytes);
    if (pool.messages.size === 0) throw new ProtobufDecodeError('no message types (compile with --include_imports?)', 0);
    return pool;
  } catch (err) {
    if (err instanceof ProtobufDecodeError) throw configError(`${what}: ${JSON.stringify(path)} is not a FileDescriptorSet (${err.message})`);
    throw err;
  }
}

// ---- typed lifting ---------------------------------------------------------------------------------------------

function signed64(v: number | bigint): number | string {
  const s = BigInt.asIntN(64, BigInt(v));
  return s >= BigInt(Number.MIN_SAFE_INTEGER) && s <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(s) : s.toString();
}

function zigzag(v: number | bigint): number | string {
  const u = BigInt.asUintN(64, BigInt(v));
  const s = (u >> 1n) ^ -(u & 1n);
  return s >= BigInt(Number.MIN_SAFE_INTEGER) && s <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(s) : s.toString();
}

function float(v: number): number | string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? 'Infinity' : '-Infinity';
  return v === 0 ? 0 : v;
}

function fixed64Bytes(v: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}

function fixed32Bytes(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}

/** Wire type a scalar type is encoded with (packed arrays aside). */
function wireTypeOf(type: number): number {
  switch (type) {
    case T.DOUBLE:
    case T.FIXED64:
    case T.SFIXED64:
      return 1;
    case T.FLOAT:
    case T.FIXED32:
    case T.SFIXED32:
      return 5;
    case T.STRING:
    case T.BYTES:
    case T.MESSAGE:
      return 2;
    case T.GROUP:
      return 3;
    default:
      return 0;
  }
}

interface Ctx {
  readonly pool: DescriptorPool;
  readonly budget: Budget;
  readonly maxDepth: number;
}

function scalar(type: number, typeName: string | undefined, value: number | bigint, ctx: Ctx): MTree {
  switch (type) {
    case T.INT32:
      return Number(BigInt.asIntN(32, BigInt(value)));
    case T.UINT32:
      return Number(BigInt.asUintN(32, BigInt(value)));
    case T.INT64:
    case T.SFIXED64:
      return signed64(value);
    case T.UINT64:
    case T.FIXED64:
      return uintLeaf(value);
    case T.SINT32:
    case T.SINT64:
      return zigzag(value);
    case T.BOOL:
      return value !== 0 && value !== 0n;
    case T.ENUM: {
      const n = Number(BigInt.asIntN(32, BigInt(value)));
      return (typeName !== undefined ? ctx.pool.enums.get(typeName)?.get(n) : undefined) ?? n;
    }
    case T.FIXED32:
      return Number(value);
    case T.SFIXED32:
      return fixed32Bytes(Number(value)).readInt32LE(0);
    case T.FLOAT:
      return float(fixed32Bytes(Number(value)).readFloatLE(0));
    case T.DOUBLE:
      return float(fixed64Bytes(value).readDoubleLE(0));
    default:
      return uintLeaf(value);
  }
}

/** A packed repeated scalar's values, or undefined when the bytes do not decode as such. */
function unpack(f: FieldType, bytes: Buffer, ctx: Ctx): MTree[] | undefined {
  const wt = wireTypeOf(f.type);
  const out: MTree[] = [];
  let pos = 0;
  try {
    while (pos < bytes.length) {
      if (wt === 0) {
        const [v, p] = readVarint(bytes, pos);
        out.push(scalar(f.type, f.typeName, v, ctx));
        pos = p;
      } else if (wt === 1) {
        if (pos + 8 > bytes.length) return undefined;
        out.push(scalar(f.type, f.typeName, bytes.readBigUInt64LE(pos), ctx));
        pos += 8;
      } else if (wt === 5) {
        if (pos + 4 > bytes.length) return undefined;
        out.push(scalar(f.type, f.typeName, bytes.readUInt32LE(pos), ctx));
        pos += 4;
      } else return undefined;
    }
  } catch (err) {
    if (err instanceof ProtobufDecodeError) return undefined;
    throw err;
  }
  return out;
}

function typedValue(f: FieldType, w: WireField, depth: number, ctx: Ctx): MTree | undefined {
  if (w.wireType === 2) {
    switch (f.type) {
      case T.STRING:
        return bytesLeaf(w.value);
      case T.BYTES:
        return binaryLeaf(w.value);
      case T.MESSAGE: {
        const mt = f.typeName !== undefined ? ctx.pool.messages.get(f.typeName) : undefined;
        if (!mt || depth >= ctx.maxDepth) return rawLeaf(w, ctx.budget, depth, ctx.maxDepth);
        try {
          return liftWithType(readFields(w.value), mt, depth + 1, ctx);
        } catch (err) {
          if (err instanceof ProtobufDecodeError) return binaryLeaf(w.value);
          throw err;
        }
      }
      default:
        return undefined; // packed: the caller unpacks
    }
  }
  if (w.wireType !== wireTypeOf(f.type)) return undefined;
  return scalar(f.type, f.typeName, w.value, ctx);
}

function liftWithType(fields: readonly WireField[], mt: MessageType, depth: number, ctx: Ctx): { [k: string]: MTree } {
  const out: { [k: string]: MTree } = {};
  const unknown: WireField[] = [];
  for (const w of fields) {
    const f = mt.fields.get(w.number);
    let values: MTree[] | undefined;
    if (f) {
      const v = typedValue(f, w, depth, ctx);
      if (v !== undefined) values = [v];
      else if (w.wireType === 2 && f.repeated) values = unpack(f, w.value, ctx);
    }
    if (!f || values === undefined) {
      unknown.push(w);
      continue;
    }
    const entryType = f.type === T.MESSAGE && f.typeName !== undefined ? ctx.pool.messages.get(f.typeName) : undefined;
    if (f.repeated && entryType?.mapEntry) {
      // map<K, V>: an object keyed by the key (entries with equal keys: the last wins, as protobuf does)
      const map = (Object.prototype.hasOwnProperty.call(out, f.name) ? out[f.name] : {}) as { [k: string]: MTree };
      for (const entry of values) {
        if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) continue;
        const e = entry;
        const k = e['key'];
        setKey(map, typeof k === 'string' ? k : JSON.stringify(k ?? ''), e['value'] ?? null);
      }
      setKey(out, f.name, map);
    } else if (f.repeated) {
      const arr = (Object.prototype.hasOwnProperty.call(out, f.name) ? out[f.name] : []) as MTree[];
      arr.push(...values);
      setKey(out, f.name, arr);
    } else {
      setKey(out, f.name, values[values.length - 1]!); // a singular field seen twice: the last wins
    }
  }
  if (unknown.length > 0) {
    const raw = new Map<string, MTree[]>();
    for (const w of unknown) {
      const k = String(w.number);
      const list = raw.get(k) ?? [];
      list.push(rawLeaf(w, ctx.budget, depth, ctx.maxDepth));
      raw.set(k, list);
    }
    for (const [k, list] of raw) setKey(out, k, list.length === 1 ? list[0]! : list);
  }
  return out;
}

/**
 * The tree of one message of type `typeName` (fully qualified, no leading dot). Throws {@link ProtobufDecodeError}
 * when the bytes are not a message, and when the pool has no such type.
 */
export function liftTyped(bytes: Buffer, typeName: string, pool: DescriptorPool, options: { maxDepth?: number } = {}): { [k: string]: MTree } {
  const mt = pool.messages.get(typeName);
  if (!mt) throw new ProtobufDecodeError(`no message type ${typeName} in the descriptor set`, 0);
  return liftWithType(readFields(bytes), mt, 0, { pool, budget: wireBudget(bytes.length), maxDepth: options.maxDepth ?? 32 });
}
