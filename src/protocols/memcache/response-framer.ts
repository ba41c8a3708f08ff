/** Server → client: replies paired with the requests they answer (quiet meta replies, `watch` log lines unsolicited). */
import type { Frame } from '../../framing/framer.js';
import { END, MID, MemcacheFramerBase, START, UNSOLICITED_START, UNSOLICITED_WHOLE, WHOLE, malformed } from './framer-base.js';
import type { Pending } from './state.js';

/** Reply codes a quiet meta command never sends (so such a reply belongs to a later request). */
const QUIET_SUPPRESSED: Record<string, readonly string[]> = { mg: ['EN'], ms: ['HD'], md: ['HD', 'NF'], ma: ['HD', 'NF', 'EN'] };

function isErrorLine(line: string): boolean {
  return line === 'ERROR' || line.startsWith('ERROR ') || line.startsWith('CLIENT_ERROR') || line.startsWith('SERVER_ERROR');
}

export class MemcacheResponseFramer extends MemcacheFramerBase {
  #entry: Pending | undefined;
  #unsolicited = false;
  #lines = 0;
  #done = false;

  protected decodeOne(): Frame | null {
    for (;;) {
      if (this.#done) {
        this.#done = false;
        return this.#emit(this.scan, true);
      }
      if (this.dataLeft > 0) {
        const step = this.stepData();
        if (step === 'wait') return this.needMore('a data block');
        if (typeof step === 'number') return this.#emit(step, false);
        if (this.#entry?.kind === 'meta') this.#done = true; // VA <size>: one value, then the reply is complete
        else if (this.scan >= this.maxFrame) return this.#emit(this.scan, false);
        continue;
      }
      const line = this.readLine('reply');
      if (!line) return this.needMore('a reply line');
      this.scan = line.next;
      if (!this.inMessage) this.#begin(line.text);
      this.#onLine(line.text);
      this.#lines++;
      if (!this.#done && this.dataLeft === 0 && this.scan >= this.maxFrame) return this.#emit(this.scan, false);
    }
  }

  /** A reply starts: find the request it answers. */
  #begin(first: string): void {
    const st = this.state;
    this.inMessage = true;
    this.started = false;
    this.#lines = 0;
    if (st.watchMode) {
      this.#entry = undefined;
      this.#unsolicited = true;
      return;
    }
    const code = first.split(' ', 1)[0] ?? '';
    // replies of quiet meta commands are optional: skip the quiet requests this reply cannot belong to
    for (let head = st.queue[0]; head?.quiet; head = st.queue[0]) {
      const suppressed = QUIET_SUPPRESSED[head.command] ?? [];
      const otherOpaque = head.opaque !== undefined && !first.split(' ').includes(head.opaque);
      if (suppressed.includes(code) || code === 'MN' || code === 'ME' || otherOpaque) st.queue.shift();
      else break;
    }
    const head = st.queue.shift();
    this.#entry = head;
    this.#unsolicited = head === undefined || head.quiet;
  }

  #onLine(text: string): void {
    const entry = this.#entry;
    if (this.state.watchMode || entry === undefined) {
      this.#done = true;
      return;
    }
    if (isErrorLine(text)) {
      this.#done = true;
      return;
    }
    switch (entry.kind) {
      case 'retrieval': {
        if (text === 'END') {
          this.#done = true;
          return;
        }
        const t = text.split(' ');
        if (t[0] !== 'VALUE') throw malformed(`expected VALUE or END in the reply to ${entry.command}, got ${JSON.stringify(text.slice(0, 40))}`);
        this.dataLen = this.dataLength(t[3], 'VALUE line');
        this.dataLeft = this.dataLen + 2;
        return;
      }
      case 'multiline':
        if (text === entry.terminator || (this.#lines === 0 && !(entry.dataPrefixes ?? []).some((p) => text.startsWith(p)))) this.#done = true;
        return;
      case 'meta':
        if (text.startsWith('VA ')) {
          this.dataLen = this.dataLength(text.split(' ')[1], 'VA line');
          this.dataLeft = this.dataLen + 2;
        } else this.#done = true;
        return;
      case 'watch':
        if (text === 'OK') this.state.watchMode = true;
        this.#done = true;
        return;
      default:
        this.#done = true;
    }
  }

  #emit(len: number, end: boolean): Frame {
    const frame = this.buf.consume(len);
    this.scan = 0;
    if (!this.started) {
      this.started = true;
      this.info = this.#unsolicited ? (end ? UNSOLICITED_WHOLE : UNSOLICITED_START) : end ? WHOLE : START;
    } else this.info = end ? END : MID;
    if (end) this.inMessage = false;
    return frame;
  }
}
