/**
 * The splice(2) addon (native/splice.c, built at install by node-gyp into build/Release/switchyard_splice.node):
 * loading it (with its driver: a worker thread, or the JS thread's event loop), handing a pair of plain TCP sockets
 * over to it, and dispatching its batched records.
 *
 * Everything here is optional: when the addon is missing (no compiler at install, not Linux), fails to load, or a
 * pair of sockets does not qualify, {@link spliceSockets} returns undefined and the caller keeps its JS path.
 *
 * Rules (see docs/benchmarks.md, "splice"): the addon dup()s both fds and owns the dups; libuv must never have read
 * either socket (`bytesRead === 0`, not reading); while the addon holds a pair, JS must not read, write, end or
 * destroy either socket — it calls {@link SpliceHandle.abort} and waits for `done`.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { availableParallelism } from 'node:os';

/** 0: client → upstream, 1: upstream → client. */
export type SpliceDirection = 0 | 1;

export type SpliceEnd =
  /** Both FINs went through; JS closes its sockets. */
  | 'closed'
  /** A socket failed (`side`, `code`): an RST read, a write to a reset peer; or the addon itself (`side` undefined). */
  | 'error'
  /** No byte either way for the idle timeout. */
  | 'idle'
  /** JS asked ({@link SpliceHandle.abort}); `pending` holds the bytes that were in flight. */
  | 'aborted';

export interface SpliceResult {
  readonly end: SpliceEnd;
  readonly side: 'client' | 'upstream' | undefined;
  readonly errno: number;
  /** The errno's name ('ECONNRESET'), for `error`. */
  readonly code: string | undefined;
  /** Totals moved by the addon: client → upstream, upstream → client. */
  readonly bytes: readonly [number, number];
  /** Reads that moved bytes, per direction (what the JS path counts as chunks). */
  readonly reads: readonly [number, number];
  /** The FIN was handed on (shutdown of the destination), per direction. */
  readonly fin: readonly [boolean, boolean];
  /** `aborted`: bytes read from a direction's source but not yet written to its destination. */
  readonly pending: readonly [Buffer | undefined, Buffer | undefined];
}

export interface SpliceWatcher {
  /** Totals so far (every ~250 ms while bytes move): bytes and reads per direction. */
  progress(toUpstream: number, toDownstream: number, readsToUpstream: number, readsToDownstream: number): void;
  /** The FIN of `dir` was handed on. */
  fin(dir: SpliceDirection): void;
  /** The addon closed its dups and pipes: the sockets are JS's alone again. Exactly once. */
  done(result: SpliceResult): void;
}

export interface SpliceHandle {
  /** Stop moving bytes; `done` follows with `aborted` (or with how the connection ended, when that came first). */
  abort(): void;
}

/** What the addon offers, and how much of it is used (tests, debugging). */
export interface SpliceInfo {
  readonly available: boolean;
  /** Why not, when unavailable. */
  readonly reason: string | undefined;
  /** Who waits on the spliced sockets, once loaded: a thread of the addon's own, or the JS thread's event loop. */
  readonly driver: SpliceDriver | undefined;
  /** Connections the addon holds now. */
  readonly connections: number;
  /** Connections handed over since start. */
  readonly handedOver: number;
  /** Pipes open (in use and pooled), the pool's cap, and directions copying through a buffer because it was spent. */
  readonly pipes: number;
  readonly maxPipes: number;
  readonly copyDirections: number;
  /** Times a direction found the pool spent and copied through a buffer instead, since start. */
  readonly copyFallbacks: number;
}

interface Addon {
  init(onRecords: (records: Float64Array, pending: (Buffer | undefined)[] | undefined) => void, maxPipes: number, driver: 0 | 1): void;
  add(clientFd: number, upstreamFd: number, idleMs: number): number;
  abort(id: number): void;
  info(): { connections: number; pipes: number; maxPipes: number; copyDirections: number; copyFallbacks: number };
}

/** Doubles per record: id, kind, bytes up, bytes down, reason|fin direction, side, errno, flags, reads up, reads down. */
const STRIDE = 10;
const KIND_PROGRESS = 1;
const KIND_FIN = 2;
const ENDS: readonly SpliceEnd[] = ['closed', 'error', 'idle', 'aborted'];
const DEFAULT_MAX_PIPES = 1024;

let addon: Addon | null | undefined;
let unavailable: string | undefined;
let handedOver = 0;
const watchers = new Map<number, SpliceWatcher>();

/** Where the addon is: `SWITCHYARD_SPLICE_ADDON` (a path; `off` disables it) or the node-gyp build output. */
function addonPath(): string | undefined {
  const env = process.env['SWITCHYARD_SPLICE_ADDON'];
  if (env === 'off') return undefined;
  return env !== undefined && env !== '' ? env : fileURLToPath(new URL('../../build/Release/switchyard_splice.node', import.meta.url));
}

function maxPipes(): number {
  const raw = process.env['SWITCHYARD_SPLICE_MAX_PIPES'];
  const n = raw === undefined || raw === '' ? DEFAULT_MAX_PIPES : Number(raw);
  return Number.isInteger(n) && n >= 0 ? n : DEFAULT_MAX_PIPES;
}

/** How the addon moves bytes (`SWITCHYARD_SPLICE_THREAD`, read once when it loads). */
export type SpliceDriver = 'worker' | 'loop';

/**
 * `worker`: a thread of the addon's own waits on the spliced sockets; `loop`: the JS thread's event loop does, with
 * no thread. `auto` (the default): `loop` when the process may run on one CPU only (`taskset -c 1`, a cpuset of one
 * CPU), where a second thread only adds wake-ups and context switches to every connection, else `worker`.
 */
function driver(): SpliceDriver {
  const raw = process.env['SWITCHYARD_SPLICE_THREAD'];
  if (raw === 'worker' || raw === 'loop') return raw;
  if (raw !== undefined && raw !== '' && raw !== 'auto') {
    process.emitWarning(`SWITCHYARD_SPLICE_THREAD=${raw} is not one of worker, loop, auto: using auto`, { code: 'SWY_SPLICE_THREAD' });
  }
  return availableParallelism() <= 1 ? 'loop' : 'worker';
}

let chosenDriver: SpliceDriver | undefined;

function load(): Addon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.platform !== 'linux') {
    unavailable = `splice(2) is Linux-only (this is ${process.platform})`;
    return null;
  }
  const path = addonPath();
  if (path === undefined) {
    unavailable = 'disabled by SWITCHYARD_SPLICE_ADDON=off';
    return null;
  }
  try {
    const a = createRequire(import.meta.url)(path) as Addon;
    const d = driver();
    a.init(onRecords, maxPipes(), d === 'loop' ? 1 : 0);
    chosenDriver = d;
    addon = a;
  } catch (err) {
    unavailable = `the addon did not load (${(err as Error).message.split('\n')[0]})`;
  }
  return addon;
}

/** True when raw passthrough connections can be handed to the addon (loads it on first call). */
export function spliceAvailable(): boolean {
  return load() !== null;
}

/** {@link spliceInfo} once something has loaded the addon (a listener that may splice), else undefined: a metrics scrape never loads it. */
export function spliceInfoIfLoaded(): SpliceInfo | undefined {
  return addon === undefined ? undefined : spliceInfo();
}

export function spliceInfo(): SpliceInfo {
  const a = load();
  const i = a?.info();
  return {
    available: a !== null,
    reason: unavailable,
    driver: chosenDriver,
    connections: i?.connections ?? 0,
    handedOver,
    pipes: i?.pipes ?? 0,
    maxPipes: i?.maxPipes ?? 0,
    copyDirections: i?.copyDirections ?? 0,
    copyFallbacks: i?.copyFallbacks ?? 0,
  };
}

/**
 * The OS descriptor behind a plain TCP socket (a Node internal: feature-checked). A TCP handle is told from a Unix
 * socket's (Pipe) by its `setNoDelay` method, which Pipe handles lack: no getpeername(2) per connection as
 * `socket.remotePort` would cost (a system call and an address object, per socket).
 */
function fdOf(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown; reading?: unknown; setNoDelay?: unknown } | null })._handle;
  if (handle == null || handle.reading === true || typeof handle.setNoDelay !== 'function') return undefined;
  const fd = handle.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

/** A connected socket, not TLS, that JS has never read and has nothing buffered for (TCP: checked by {@link fdOf}). */
function qualifies(s: Socket): boolean {
  return (
    !s.destroyed &&
    !s.connecting &&
    !(s as { encrypted?: boolean }).encrypted &&
    s.bytesRead === 0 &&
    s.readableLength === 0 &&
    s.writableLength === 0 &&
    !s.readableEnded &&
    !s.writableEnded &&
    s.readableFlowing !== true
  );
}

/**
 * Hand both sockets to the addon, or return undefined (nothing changed: the caller wires its JS path). `idleMs`:
 * close after that long without a byte either way (0 = never); reported as `done` with `idle`.
 */
export function spliceSockets(client: Socket, upstream: Socket, idleMs: number, watcher: SpliceWatcher): SpliceHandle | undefined {
  const a = load();
  if (a === null || !qualifies(client) || !qualifies(upstream)) return undefined;
  const cfd = fdOf(client);
  const ufd = fdOf(upstream);
  if (cfd === undefined || ufd === undefined) return undefined;
  let id: number;
  try {
    id = a.add(cfd, ufd, idleMs);
  } catch {
    return undefined;
  }
  handedOver++;
  watchers.set(id, watcher);
  return { abort: () => a.abort(id) };
}

function onRecords(records: Float64Array, pending: (Buffer | undefined)[] | undefined): void {
  for (let i = 0; i + STRIDE <= records.length; i += STRIDE) {
    const id = records[i]!;
    const kind = records[i + 1]!;
    const watcher = watchers.get(id);
    if (watcher === undefined) continue;
    try {
      if (kind === KIND_PROGRESS) {
        watcher.progress(records[i + 2]!, records[i + 3]!, records[i + 8]!, records[i + 9]!);
      } else if (kind === KIND_FIN) {
        watcher.fin(records[i + 4] === 0 ? 0 : 1);
      } else {
        watchers.delete(id);
        const side = records[i + 5]!;
        const errno = records[i + 6]!;
        const flags = records[i + 7]!;
        const r = i / STRIDE;
        watcher.done({
          end: ENDS[records[i + 4]!] ?? 'error',
          side: side === 0 ? 'client' : side === 1 ? 'upstream' : undefined,
          errno,
          code: errno > 0 ? systemErrorName(errno) : undefined,
          bytes: [records[i + 2]!, records[i + 3]!],
          reads: [records[i + 8]!, records[i + 9]!],
          fin: [(flags & 4) !== 0, (flags & 8) !== 0],
          pending: [pending?.[r * 2], pending?.[r * 2 + 1]],
        });
      }
    } catch (err) {
      // a bug in a watcher: surface it like any uncaught error, without losing the other records of the batch
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}

function systemErrorName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}
