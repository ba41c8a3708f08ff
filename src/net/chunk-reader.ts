/**
 * Reading a plain socket without Node's per-read allocation and stream machinery.
 *
 * By default every read of a `net.Socket` costs a fresh 64 KiB `malloc` that becomes the chunk's own ArrayBuffer
 * (freed only when a scavenge sweeps it), then `Readable.push`, `addChunk`, a `'data'` emit and a `maybeReadMore`
 * tick. Node also offers reading into a buffer the program supplies (`onread`, a documented `net.Socket` option):
 * the read lands there and one callback gets the byte count. {@link onChunks} switches a socket to that mode, into
 * one buffer shared by every such socket, and hands each read on as an owned copy of exactly its bytes
 * (`Buffer.allocUnsafe`: for reads under 4 KiB a slice of Node's pool). Nothing of the shared buffer outlives the
 * callback, so a consumer gets what `'data'` gave it: a Buffer it may keep, write later or hold in a frame. A read
 * that fills the buffer (a bulk transfer) gets the socket a 64 KiB buffer of its own for its next read, which is
 * handed on without a copy; at most {@link LEND_MAX} sockets hold one at a time.
 *
 * Measured (callgrind, user-space instructions per 1 KiB keep-alive request through a bare forwarding proxy): 26.7 k
 * with `'data'` and `pipe`, 16.4 k with reads into a shared buffer and copied writes.
 *
 * Sockets Node made itself (accepted by a server) cannot be given `onread`, so the switch sets the same private
 * fields the option sets, found by their symbols' descriptions, and tells the handle to read into the buffer
 * (`useUserBuffer`, the call the option leads to). Every step is feature-checked: a socket that does not qualify, or
 * a Node without these internals, keeps `'data'` and nothing changes. `SWITCHYARD_SHARED_READS=off` turns it off.
 */
import { Socket } from 'node:net';

/** Where one read goes: a consumer that takes owned chunks. */
export type ChunkListener = (chunk: Buffer) => void;

const SHARED_SIZE = 64 * 1024;
let shared: Buffer | undefined;

interface Hook {
  /** The consumers, in the order they came (almost always one: the session that owns the socket). */
  fns: ChunkListener[];
  /** A buffer lent to this socket for its next read (after a read that filled the shared one), else undefined. */
  next: Buffer | undefined;
  /** A close listener gives back what the socket was lent. */
  watched?: boolean;
}

/**
 * Sockets that may hold a buffer of their own at once (64 KiB each, 4 MiB in all). A bulk transfer reads full
 * buffers: handing those on without a copy keeps the JS path's bulk throughput where Node's own reads had it.
 */
const LEND_MAX = 64;
let lent = 0;

/**
 * A switched socket's hook, kept on the socket under this key. Not in a WeakMap: the scavenger treats a WeakMap's
 * values as strong, and a hook reaches its socket (through its consumers), so every switched socket outlived the young
 * generation until the next full collection (measured: 2.4 KiB promoted per short connection).
 */
const HOOK = Symbol('switchyard.chunkHook');

type Hooked = Socket & { [HOOK]?: Hook };

function hookIn(socket: Socket): Hook | undefined {
  return (socket as Hooked)[HOOK];
}

interface UserBufferHandle {
  reading?: unknown;
  useUserBuffer?: (buf: Uint8Array) => void;
  readStop?: () => number;
}

/** The private symbols `net.Socket` keeps its `onread` option in (undefined: this Node lacks them). */
let symbols: { buffer: symbol; callback: symbol; generator: symbol } | null | undefined;

function findSymbols(socket: Socket): { buffer: symbol; callback: symbol; generator: symbol } | null {
  if (symbols !== undefined) return symbols;
  let buffer: symbol | undefined;
  let callback: symbol | undefined;
  let generator: symbol | undefined;
  for (const s of Object.getOwnPropertySymbols(socket)) {
    if (s.description === 'kBuffer') buffer = s;
    else if (s.description === 'kBufferCb') callback = s;
    else if (s.description === 'kBufferGen') generator = s;
  }
  symbols = buffer !== undefined && callback !== undefined && generator !== undefined ? { buffer, callback, generator } : null;
  return symbols;
}

const enabled = process.env['SWITCHYARD_SHARED_READS'] !== 'off';

/**
 * The buffer the read being handled chose for the socket's next read: Node calls the generator right after the
 * callback, for the same socket, in the same synchronous step.
 */
let chosenNext: Uint8Array | undefined;

/** Called after every read: the buffer the next read goes into (a lent one, else the shared one). */
function nextReadBuffer(): Uint8Array {
  const next = chosenNext ?? shared!;
  chosenNext = undefined;
  return next;
}

/** A read of a switched socket (`this`): `n` bytes in `from` (the shared buffer, or one lent to this socket). */
function onSharedRead(this: Socket, n: number, from: Uint8Array): boolean {
  return readInto(this, n, from);
}

function readInto(socket: Socket, n: number, from: Uint8Array): boolean {
  const hook = hookIn(socket);
  if (hook === undefined) {
    // cannot happen (switched sockets have a hook); hand the bytes to the stream rather than lose them
    chosenNext = undefined;
    return socket.push(Buffer.from(from.subarray(0, n)));
  }
  let chunk: Buffer;
  if (from !== shared) {
    // a buffer lent to this socket alone: the read is handed on in it, without a copy
    lent--;
    hook.next = undefined;
    chunk = n === from.length ? (from as Buffer) : (from as Buffer).subarray(0, n);
  } else {
    chunk = Buffer.allocUnsafe(n);
    chunk.set(n === from.length ? from : from.subarray(0, n));
  }
  // A read that filled the buffer: more is probably waiting (a bulk transfer), so the next read goes into a buffer
  // of its own, handed on as it is, while fewer than LEND_MAX sockets hold one (an idle socket keeps what it was
  // lent until its next read or its close).
  if (n === SHARED_SIZE && lent < LEND_MAX && !socket.destroyed) {
    lent++;
    hook.next = Buffer.allocUnsafeSlow(SHARED_SIZE);
    if (!hook.watched) {
      hook.watched = true;
      socket.once('close', () => {
        if (hook.next !== undefined) lent--;
        hook.next = undefined;
      });
    }
  }
  const fns = hook.fns;
  let more = true;
  if (fns.length === 1) fns[0]!(chunk);
  // no consumer (between two owners of the socket): the stream takes it, as it took every read before
  else if (fns.length === 0) more = socket.push(chunk);
  else for (const fn of fns.slice()) fn(chunk);
  // chosen only once the consumers returned: the generator Node calls next is this socket's
  chosenNext = hook.next;
  return more;
}

/**
 * The hook of a socket switched to shared-buffer reads (switched now if it qualifies), or undefined: the socket keeps
 * `'data'`. Qualifies: a plain TCP or Unix socket (not TLS), connected, open for reading, with nothing read and
 * buffered by the stream yet, no `'data'` listener, and whose own `onread` fields are unset.
 */
function hookOf(socket: Socket): Hook | undefined {
  const own = hookIn(socket);
  if (own !== undefined) return own;
  if (!enabled || !(socket instanceof Socket) || (socket as { encrypted?: boolean }).encrypted === true) return undefined;
  // a socket someone else reads too (a 'data' listener) keeps 'data': its reads must reach them as well
  if (socket.destroyed || socket.connecting || socket.readableEnded || socket.readableLength > 0 || socket.listenerCount('data') > 0) return undefined;
  const handle = (socket as unknown as { _handle?: UserBufferHandle | null })._handle;
  if (handle == null || typeof handle.useUserBuffer !== 'function') return undefined;
  const sym = findSymbols(socket);
  if (sym === null) return undefined;
  const fields = socket as unknown as Record<symbol, unknown>;
  if (fields[sym.buffer] != null || fields[sym.callback] != null || fields[sym.generator] != null) return undefined;
  const hook: Hook = { fns: [], next: undefined };
  const buf = (shared ??= Buffer.allocUnsafeSlow(SHARED_SIZE));
  fields[sym.buffer] = buf;
  // One callback and one generator for every socket (Node calls the callback as the socket's method), so nothing per
  // socket but the hook: the closures they replace were assigned straight to the socket's fields, which V8 allocates
  // in the old generation, keeping each connection's objects through every scavenge (docs/architecture.md).
  fields[sym.callback] = onSharedRead;
  fields[sym.generator] = nextReadBuffer;
  try {
    handle.useUserBuffer(buf);
  } catch {
    fields[sym.buffer] = null;
    fields[sym.callback] = null;
    fields[sym.generator] = null;
    return undefined;
  }
  (socket as Hooked)[HOOK] = hook;
  // Paused on purpose while Node was already reading it (an outgoing socket reads from its connect on): with
  // 'data', the reads would wait in the stream's buffer until resume(); here they would reach the consumer at once.
  // Stop the reads instead, as Socket#pause does for a socket in this mode; Socket#resume starts them again.
  if (socket.readableFlowing === false && handle.reading === true && typeof handle.readStop === 'function') {
    handle.reading = false;
    handle.readStop();
  }
  return hook;
}

/**
 * Give `socket`'s reads to `fn`, each as an owned Buffer, in order: through the shared buffer when the socket
 * qualifies (see the module comment), else as a `'data'` listener. Returns the function that takes `fn` off again.
 * Pause/resume, `'end'`, `'error'` and `'close'` are the stream's as before. A read that arrives while the socket
 * has no consumer goes into the stream as before (its `'data'` listeners, or its buffer); a consumer that comes
 * later gets what the buffer holds first, at once.
 */
export function onChunks(socket: Socket, fn: ChunkListener): () => void {
  const hook = hookOf(socket);
  if (hook === undefined) {
    socket.on('data', fn);
    return () => {
      socket.off('data', fn);
    };
  }
  hook.fns.push(fn);
  while (socket.readableLength > 0) {
    const held = socket.read() as Buffer | null;
    if (held === null) break;
    fn(held);
  }
  return () => {
    const i = hook.fns.indexOf(fn);
    if (i >= 0) hook.fns.splice(i, 1);
  };
}

/**
 * The drop-in for `socket.on('data', fn)`: {@link onChunks}, and the reads start as adding a `'data'` listener starts
 * them (the socket resumes unless it was paused on purpose: `readableFlowing === false`).
 */
export function readChunks(socket: Socket, fn: ChunkListener): () => void {
  const off = onChunks(socket, fn);
  if (socket.readableFlowing !== false) socket.resume();
  return off;
}

/**
 * Take every {@link onChunks} consumer off `socket`: the counterpart of `removeAllListeners('data')` for a socket that
 * reads into the shared buffer. Its later reads go to the stream again (its `'data'` listeners, or its buffer).
 */
export function offAllChunks(socket: Socket): void {
  const hook = hookIn(socket);
  if (hook !== undefined) hook.fns = [];
}

/** Whether `socket` reads into the shared buffer (for tests and diagnostics). */
export function readsShared(socket: Socket): boolean {
  return hookIn(socket) !== undefined;
}

/** Buffers lent to sockets for their next read right now (for tests and diagnostics; at most {@link LEND_MAX}). */
export function lentBuffers(): number {
  return lent;
}
