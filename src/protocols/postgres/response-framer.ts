/** Server → client: the answer to SSLRequest/GSSENCRequest, then typed messages paired with the pending requests. */
import type { Frame } from '../../framing/framer.js';
import type { Pending, PgState, PostgresCodecOptions } from './codec-state.js';
import { BE, HEADER_LENGTH, errorSeverity, readyForQueryStatus } from './messages.js';
import { PgFramer, malformed } from './message-framer.js';

const S = 0x53; // 'S' answer to SSLRequest
const G = 0x47; // 'G' answer to GSSENCRequest
const N = 0x4e; // 'N' refusal

/** Server → client. */
export class ResponseFramer extends PgFramer {
  /** The request whose response is in progress (its first message was returned, ReadyForQuery not yet). */
  #current: Pending | undefined;

  constructor(state: PgState, options: PostgresCodecOptions) {
    super(state, 'server', options);
  }

  protected decodeOne(): Frame | null {
    const st = this.state;
    if (st.opaque) return this.opaqueChunk();
    const p = this.piece();
    if (p !== undefined) return p;
    const head = st.pending[0];
    if (this.#current === undefined && head?.kind === 'ssl') {
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
    let current = this.#current;
    if (current === undefined) {
      const head = st.pending[0];
      // a NotificationResponse never opens a response (it comes just before ReadyForQuery or while idle)
      if (head === undefined || type === BE.NotificationResponse) {
        if (type === BE.ReadyForQuery) this.#readyForQuery(payload);
        return this.set(true, true, undefined, undefined, true);
      }
      current = this.#current = head;
      start = true;
    }
    let end = false;
    switch (type) {
      case BE.ReadyForQuery:
        this.#readyForQuery(payload);
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
      this.#current = undefined;
    }
    this.set(start, end);
  }

  #readyForQuery(payload: Buffer): void {
    const status = readyForQueryStatus(payload);
    if (status === undefined) throw malformed(`ReadyForQuery ('Z') with invalid transaction status (payload ${payload.toString('hex')})`);
    const st = this.state;
    st.txStatus = status;
    st.copyIn = false;
    st.extraSyncs = 0;
  }
}
