/** What both framers of one PostgreSQL connection share: the codec options and the per-connection state. */
import type { TransactionStatus } from './messages.js';

export interface PostgresCodecOptions {
  /** Largest frame: messages up to this size (header included) are one frame, larger ones are cut into pieces. */
  maxMessageFrame: number;
  /** Largest declared message length accepted (the int32 length field). */
  maxMessageLength: number;
  /** Most bytes one framer holds (default: max(maxMessageFrame, 10000) + 64 KiB). */
  maxBufferedBytes?: number | undefined;
}

export type PendingKind = 'ssl' | 'startup' | 'normal';

/** A request the server still has to answer (in order). */
export interface Pending {
  readonly kind: PendingKind;
  readonly extended: boolean;
  /** Extended batch whose Sync the client already sent. */
  synced: boolean;
}

/** An extended-query batch the client opened and has not yet ended with Sync. */
export interface Batch {
  entry: Pending | undefined;
}

/** The per-connection state both framers share. */
export class PgState {
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
