/** The per-connection memcached state both framers read and update: the replies still expected, `watch` mode. */
import type { Attributes } from '../protocol.js';

/** How the server answers a request. */
export type ReplyKind = 'line' | 'retrieval' | 'multiline' | 'meta' | 'watch';

export interface Pending {
  readonly kind: ReplyKind;
  readonly command: string;
  /** Meta command with the `q` flag: its reply may be suppressed (responses: 0). */
  readonly quiet: boolean;
  /** `O<opaque>` flag of a meta request, echoed in its reply. */
  readonly opaque: string | undefined;
  /** multiline: the line that ends the reply and the prefixes of its data lines. */
  readonly terminator?: string;
  readonly dataPrefixes?: readonly string[];
}

export class MemcacheState {
  readonly queue: Pending[] = [];
  last: { entry: Pending | undefined; responses: number; replaced: boolean } | undefined;
  /** Request start attributes → their record: a fault stage may answer a request after later pipelined ones were framed. */
  readonly byAttributes = new WeakMap<Attributes, { entry: Pending | undefined; responses: number; replaced: boolean }>();
  /** `watch` was sent: the connection streams log lines from now on. */
  watchRequested = false;
  watchMode = false;
}
