/** The per-connection Redis state both framers read and update: pending replies, pub/sub, MONITOR, MULTI, CLIENT REPLY. */
import type { Attributes } from '../protocol.js';

export type Kind = 'normal' | 'pubsub' | 'monitor' | 'reset' | 'hello';

export interface Pending {
  left: number;
  readonly kind: Kind;
}

/** What a request does to the connection state once it is complete (applied unless it was replaced by an error reply). */
export interface RequestRecord {
  entry: Pending | undefined;
  responses: number;
  replaced: boolean;
  complete: boolean;
  effects: (() => void) | undefined;
}

/** Per-connection state shared by the two framers. */
export class RedisState {
  readonly queue: Pending[] = [];
  // request side (what the client asked for, in order)
  readonly channels = new Set<string>();
  readonly patterns = new Set<string>();
  readonly shardChannels = new Set<string>();
  monitorRequested = false;
  replyOff = false;
  skipNext = false;
  inMulti = false;
  /** The database the client selected (`SELECT n`, applied once the command is complete; `RESET` → 0). */
  db = 0;
  /** An INFO was framed on this connection (only the first one is connection setup: client libraries' ready check). */
  infoSeen = false;
  last: RequestRecord | undefined;
  /** Request start attributes → their record: a fault stage may answer a request after later pipelined ones were framed. */
  readonly byAttributes = new WeakMap<Attributes, RequestRecord>();
  // response side (what the server confirmed)
  monitorMode = false;
  resp3 = false;
  subscriptions = 0;
  shardSubscriptions = 0;

  /** Apply the effects of the last complete request, unless an error reply replaced it. */
  commit(): void {
    const last = this.last;
    if (last === undefined || !last.complete) return;
    this.last = undefined;
    if (!last.replaced && last.effects) last.effects();
  }

  setFor(cmd: string): Set<string> {
    return cmd.startsWith('P') ? this.patterns : cmd.startsWith('S') ? this.shardChannels : this.channels;
  }
}
