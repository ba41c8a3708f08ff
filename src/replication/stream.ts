import type { Socket } from 'node:net';
import { ErrorCodes } from '../core/errors.js';
import type { AcceptContext, EngineSession } from '../routing/engine.js';
import type { VariantStatus } from './events.js';
import { EngineConnection } from './engine-connection.js';
import type { ReplicaEnv } from './replicate-env.js';
import { connectVariant } from './variant.js';
import { majorityOf } from './vote.js';

interface StreamVariant {
  readonly index: number;
  readonly name: string;
  socket: Socket | undefined;
  /** Bytes received and not yet forwarded/compared (offset `base` of the stream is pending[0][0]). */
  pending: Buffer[];
  pendingBytes: number;
  ended: boolean;
  dead: VariantStatus | undefined;
  /** Bytes written before the connection was up. */
  queued: Buffer[];
  /** Odd variant already reported (majority, primary: compared no further). */
  reported: boolean;
}

/**
 * Replication of a raw byte stream (no framer, no protocol): there are no message boundaries, so the variants'
 * answer streams are compared byte for byte as they arrive. `unanimous` forwards the prefix all variants agree on
 * and closes the connection at the first differing byte (or when a variant lags `timeout` behind the others);
 * `majority` forwards what a majority agrees on and drops the odd variant; `primary` forwards variant 0's bytes at
 * once and reports the first difference of each other variant.
 */
export class StreamReplicaSession implements EngineSession {
  readonly #conn: EngineConnection;
  readonly #env: ReplicaEnv;
  readonly #ctx: AcceptContext;
  readonly #client: Socket;
  readonly #v: StreamVariant[];
  #forwarded = 0;
  #timer: NodeJS.Timeout | undefined;
  #done = false;
  #clientEnded = false;
  #firstBytes: Buffer | undefined;

  constructor(env: ReplicaEnv, socket: Socket, ctx: AcceptContext) {
    this.#env = env;
    this.#ctx = ctx;
    this.#client = socket;
    this.#conn = new EngineConnection(ctx);
    this.#v = env.variants.map((t, index) => ({ index, name: t.name, socket: undefined, pending: [], pendingBytes: 0, ended: false, dead: undefined, queued: [], reported: false }));
  }

  get closed(): Promise<void> {
    return this.#conn.closed;
  }

  start(): void {
    const c = this.#client;
    c.on('data', (chunk: Buffer) => {
      for (const s of this.#ctx.stats) s.bytesToUpstream += chunk.length;
      this.#firstBytes ??= chunk.subarray(0, 256);
      for (const v of this.#v) {
        if (v.dead) continue;
        if (v.socket) v.socket.write(chunk);
        else v.queued.push(chunk);
      }
    });
    c.on('end', () => {
      this.#clientEnded = true;
      for (const v of this.#v) if (!v.dead && v.socket) v.socket.end();
    });
    c.on('error', () => this.destroy());
    c.on('close', () => this.#finish());
    // Raw streams: no bytes from the client and none pending from the variants for that long.
    this.#conn.watchIdle(c, () => this.#v.some((v) => v.pendingBytes > 0), () => this.destroy());
    for (const v of this.#v) {
      if (this.#env.isQuarantined(v.name)) v.dead = 'quarantined';
      else void this.#connect(v);
    }
    c.resume();
  }

  async #connect(v: StreamVariant): Promise<void> {
    const socket = await connectVariant(this.#env.variants[v.index]!, this.#ctx.logger);
    if (typeof socket === 'string') return this.#kill(v, socket);
    if (this.#done || v.dead) {
      socket.destroy();
      return;
    }
    v.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      v.pending.push(chunk);
      v.pendingBytes += chunk.length;
      if (v.pendingBytes > this.#env.settings.maxMessageBytes) this.#kill(v, 'oversized');
      else this.#advance();
    });
    socket.on('end', () => {
      v.ended = true;
      this.#advance();
    });
    socket.on('error', () => this.#kill(v, 'reset'));
    socket.on('close', () => {
      if (!v.ended) this.#kill(v, 'closed');
    });
    for (const b of v.queued) socket.write(b);
    v.queued = [];
    if (this.#clientEnded) socket.end();
  }

  /** Variants in the set (quarantined ones are out of it). */
  #active(): number {
    return this.#v.filter((v) => v.dead !== 'quarantined').length;
  }

  #live(): StreamVariant[] {
    return this.#v.filter((v) => !v.dead);
  }

  #kill(v: StreamVariant, status: VariantStatus): void {
    if (v.dead) return;
    v.dead = status;
    v.socket?.destroy();
    v.pending = [];
    v.pendingBytes = 0;
    const policy = this.#env.settings.policy;
    if (policy === 'unanimous' || (policy === 'primary' && v.index === 0)) {
      this.#diverge(`${v.name}: ${status}`, [v.index], status);
      return;
    }
    if (policy === 'majority' && this.#live().length < majorityOf(this.#active())) {
      this.#diverge(`${v.name}: ${status}; no majority left`, [v.index], status);
      return;
    }
    if (!v.reported) {
      v.reported = true;
      this.#record(policy === 'primary' ? 'reported' : 'outvoted', `${v.name}: ${status}`, [v.index], status);
    }
    this.#advance();
  }

  /** Forward (and compare) what can be forwarded now. */
  #advance(): void {
    if (this.#done) return;
    const policy = this.#env.settings.policy;
    const live = this.#live();
    if (policy === 'primary') {
      const p = this.#v[0]!;
      for (const v of live) if (v !== p && !v.reported) this.#compareAgainst(p, v);
      // The primary's bytes go out at once; the others are trimmed to what was compared.
      const n = p.pendingBytes;
      if (n > 0) {
        const out = take(p, n);
        this.#forwarded += n;
        this.#writeClient(out);
        for (const v of live) if (v !== p) take(v, Math.min(v.pendingBytes, n - 0));
      }
      this.#maybeEnd();
      return;
    }
    // unanimous / majority: forward the prefix agreed by all live variants (unanimous) or a majority.
    let agreed = Math.min(...live.map((v) => v.pendingBytes));
    if (live.length === 0) agreed = 0;
    if (agreed > 0) {
      const ref = live[0]!;
      const refBytes = peek(ref, agreed);
      const odd = live.filter((v) => v !== ref && !peek(v, agreed).equals(refBytes));
      if (odd.length > 0) {
        this.#resolveDifference(live, agreed);
        return;
      }
      take(ref, agreed);
      for (const v of live) if (v !== ref) take(v, agreed);
      this.#forwarded += agreed;
      this.#writeClient(refBytes);
    }
    // Some variant is ahead of another: start the lag clock.
    const ahead = live.some((v) => v.pendingBytes > 0);
    if (ahead && !this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        for (const v of this.#live()) if (v.pendingBytes === 0 && !v.ended) this.#kill(v, 'timeout');
        const still = this.#live();
        const ended = still.filter((v) => v.ended && v.pendingBytes === 0);
        if (ended.length > 0 && still.some((v) => v.pendingBytes > 0)) for (const v of ended) this.#kill(v, 'closed');
      }, this.#env.settings.timeout);
    } else if (!ahead && this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    // A variant that ended while others still have bytes is a difference.
    if (live.some((v) => v.ended && v.pendingBytes === 0) && live.some((v) => v.pendingBytes > 0)) {
      for (const v of live) if (v.ended && v.pendingBytes === 0) this.#kill(v, 'closed');
      return;
    }
    this.#maybeEnd();
  }

  /** Byte-level vote over the first `n` pending bytes of each live variant. */
  #resolveDifference(live: StreamVariant[], n: number): void {
    const bufs = live.map((v) => peek(v, n));
    let at = 0;
    while (at < n && bufs.every((b) => b[at] === bufs[0]![at])) at++;
    if (at > 0) {
      // What all agree on goes out first.
      const agreed = Buffer.from(bufs[0]!.subarray(0, at));
      for (const v of live) take(v, at);
      this.#forwarded += at;
      this.#writeClient(agreed);
      for (let i = 0; i < bufs.length; i++) bufs[i] = bufs[i]!.subarray(at);
      at = 0;
    }
    const groups = new Map<number, StreamVariant[]>();
    live.forEach((v, i) => {
      const b = bufs[i]![at]!;
      const g = groups.get(b);
      if (g) g.push(v);
      else groups.set(b, [v]);
    });
    const largest = [...groups.values()].sort((a, b) => b.length - a.length)[0]!;
    const odd = live.filter((v) => !largest.includes(v));
    const detail = `streams differ at byte ${this.#forwarded + at}: ${live.map((v, i) => `${v.name}=${JSON.stringify(bufs[i]!.subarray(at, at + 40).toString('latin1'))}`).join(', ')}`;
    if (this.#env.settings.policy === 'majority' && largest.length >= majorityOf(this.#active())) {
      for (const v of odd) {
        v.reported = true;
        v.dead = 'ok';
        v.socket?.destroy();
        v.pending = [];
        v.pendingBytes = 0;
      }
      this.#record('outvoted', detail, odd.map((v) => v.index), 'ok');
      this.#advance();
      return;
    }
    this.#diverge(detail, odd.map((v) => v.index), 'ok');
  }

  #compareAgainst(p: StreamVariant, v: StreamVariant): void {
    const n = Math.min(p.pendingBytes, v.pendingBytes);
    if (n === 0) return;
    const a = peek(p, n);
    const b = peek(v, n);
    if (a.equals(b)) return;
    let at = 0;
    while (a[at] === b[at]) at++;
    v.reported = true;
    this.#record('reported', `streams differ at byte ${this.#forwarded + at}: ${p.name}=${JSON.stringify(a.subarray(at, at + 40).toString('latin1'))}, ${v.name}=${JSON.stringify(b.subarray(at, at + 40).toString('latin1'))}`, [v.index], 'ok');
  }

  #record(decision: 'blocked' | 'outvoted' | 'reported', diff: string, odd: number[], status: VariantStatus): void {
    const first = this.#firstBytes ? this.#firstBytes.toString('latin1').replace(/[^\x20-\x7e]/g, '.').slice(0, 120) : '';
    const served = decision === 'blocked' ? -1 : this.#v.findIndex((v) => !odd.includes(v.index));
    this.#env.report.record({
      policy: this.#env.settings.policy,
      decision,
      request: { summary: `raw stream${first ? ` starting ${JSON.stringify(first)}` : ''}`, endpoint: '*' },
      names: this.#v.map((v) => v.name),
      statuses: this.#v.map((v) => (odd.includes(v.index) ? status : v.dead && v.dead !== 'ok' ? v.dead : 'ok')),
      agreed: (i) => !odd.includes(i),
      served: served < 0 ? undefined : served,
      fields: [],
      diff,
    });
  }

  #diverge(diff: string, odd: number[], status: VariantStatus): void {
    if (this.#done) return;
    this.#record('blocked', diff, odd, status);
    for (const s of this.#ctx.stats) s.error(ErrorCodes.DIVERGENCE);
    // Raw TCP has no error message: the connection closes (after what was already agreed).
    this.#client.end();
    setTimeout(() => this.#client.destroy(), 1000).unref();
    for (const v of this.#v) v.socket?.destroy();
    this.#done = true;
    this.#cleanup();
  }

  #maybeEnd(): void {
    const live = this.#live();
    if (live.length > 0 && live.every((v) => v.ended && v.pendingBytes === 0)) this.#client.end();
  }

  #writeClient(bytes: Buffer): void {
    for (const s of this.#ctx.stats) s.bytesToDownstream += bytes.length;
    if (!this.#client.write(bytes)) {
      for (const v of this.#v) v.socket?.pause();
      this.#client.once('drain', () => {
        for (const v of this.#v) if (!v.dead) v.socket?.resume();
      });
    }
  }

  destroy(): void {
    this.#client.destroy();
    for (const v of this.#v) v.socket?.destroy();
    this.#finish();
  }

  #cleanup(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #finish(): void {
    this.#cleanup();
    for (const v of this.#v) v.socket?.destroy();
    this.#done = true;
    this.#conn.release();
  }
}

/** The first n pending bytes (copied only when they span chunks). */
function peek(v: StreamVariant, n: number): Buffer {
  const first = v.pending[0];
  if (first && first.length >= n) return first.subarray(0, n);
  return Buffer.concat(v.pending, v.pendingBytes).subarray(0, n);
}

/** Remove and return the first n pending bytes. */
function take(v: StreamVariant, n: number): Buffer {
  if (n <= 0) return Buffer.alloc(0);
  const out = peek(v, n);
  let left = n;
  while (left > 0) {
    const f = v.pending[0]!;
    if (f.length <= left) {
      v.pending.shift();
      left -= f.length;
    } else {
      v.pending[0] = f.subarray(left);
      left = 0;
    }
  }
  v.pendingBytes -= n;
  return Buffer.from(out);
}
