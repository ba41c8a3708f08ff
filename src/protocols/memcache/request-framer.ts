/** Client → server: text and meta commands with their data blocks, their attributes and the replies each expects. */
import type { Frame } from '../../framing/framer.js';
import type { MessageInfo } from '../protocol.js';
import { END, MID, MemcacheFramerBase, START } from './framer-base.js';
import type { Pending, ReplyKind } from './state.js';

const STORAGE = new Set(['set', 'add', 'replace', 'append', 'prepend', 'cas']);
const RETRIEVAL = new Set(['get', 'gets', 'gat', 'gats']);
const NOREPLY_CAPABLE = new Set([...STORAGE, 'delete', 'incr', 'decr', 'touch', 'flush_all', 'verbosity']);
const META = new Set(['mg', 'ms', 'md', 'ma', 'mn', 'me']);
const STATS_PREFIXES = ['STAT ', 'ITEM ', 'PREFIX '];

export class MemcacheRequestFramer extends MemcacheFramerBase {
  #pendingInfo: MessageInfo | undefined;

  protected decodeOne(): Frame | null {
    for (;;) {
      if (!this.inMessage) {
        const line = this.readLine('command');
        if (!line) return this.needMore('a command line');
        this.inMessage = true;
        this.started = false;
        this.scan = line.next;
        const info = this.#startRequest(line.text);
        if (this.dataLeft === 0) return this.#emit(this.scan, true, info);
        const step = this.stepData();
        if (step === 'done') return this.#emit(this.scan, true, info);
        if (step === 'wait') {
          this.#pendingInfo = info;
          return this.needMore('a data block');
        }
        return this.#emit(step, false, info);
      }
      const step = this.stepData();
      if (step === 'done') return this.#emit(this.scan, true, this.#pendingInfo);
      if (step === 'wait') return this.needMore('a data block');
      return this.#emit(step, false, this.#pendingInfo);
    }
  }

  #emit(len: number, end: boolean, startInfo: MessageInfo | undefined): Frame {
    const frame = this.buf.consume(len);
    this.scan = 0;
    if (!this.started) {
      this.started = true;
      this.info = startInfo === undefined ? START : end ? { ...startInfo, end: true } : startInfo;
      this.#pendingInfo = undefined;
    } else this.info = end ? END : MID;
    if (end) this.inMessage = false;
    return frame;
  }

  #startRequest(text: string): MessageInfo {
    const st = this.state;
    const tokens = text.split(' ').filter((t) => t.length > 0);
    const command = tokens[0] ?? '';
    const attributes: Record<string, string | number> = { command };
    let key: string | undefined;
    let kind: ReplyKind = 'line';
    let quiet = false;
    let opaque: string | undefined;
    let responses = 1;
    let terminator: string | undefined;
    let dataPrefixes: readonly string[] | undefined;
    this.dataLeft = 0;
    if (STORAGE.has(command)) {
      key = tokens[1];
      // an invalid length gets `CLIENT_ERROR bad command line format` and memcached reads no data block
      if (tokens.length >= 5 && /^\d{1,15}$/.test(tokens[4] ?? '')) {
        this.dataLen = this.dataLength(tokens[4], `${command} command`);
        this.dataLeft = this.dataLen + 2;
      }
    } else if (RETRIEVAL.has(command)) {
      const keys = tokens.slice(command.startsWith('gat') ? 2 : 1);
      key = keys[0];
      attributes['keys'] = keys.length;
      kind = 'retrieval';
    } else if (META.has(command)) {
      key = command === 'mn' ? undefined : tokens[1];
      const flags = tokens.slice(command === 'ms' ? 3 : 2);
      quiet = command !== 'mn' && flags.includes('q');
      opaque = flags.find((f) => f.startsWith('O'));
      if (command === 'ms' && /^\d{1,15}$/.test(tokens[2] ?? '')) {
        this.dataLen = this.dataLength(tokens[2], 'ms command');
        this.dataLeft = this.dataLen + 2;
      }
      kind = command === 'mg' || command === 'ma' ? 'meta' : 'line';
    } else if (command === 'stats') {
      kind = 'multiline';
      terminator = 'END';
      dataPrefixes = STATS_PREFIXES;
    } else if (command === 'lru_crawler' && (tokens[1] === 'metadump' || tokens[1] === 'mgdump')) {
      kind = 'multiline';
      terminator = tokens[1] === 'mgdump' ? 'EN' : 'END';
      dataPrefixes = tokens[1] === 'mgdump' ? ['mg '] : ['key='];
    } else if (command === 'watch') kind = 'watch';
    else if (command !== '') key = tokens[1];
    if (key !== undefined) attributes['key'] = key;

    if (NOREPLY_CAPABLE.has(command) && tokens[tokens.length - 1] === 'noreply') responses = 0;
    if (command === 'quit' || quiet || st.watchRequested) responses = 0;
    if (command === 'watch') st.watchRequested = true;
    const entry: Pending | undefined =
      responses > 0 || quiet ? { kind, command, quiet, opaque, ...(terminator ? { terminator } : {}), ...(dataPrefixes ? { dataPrefixes } : {}) } : undefined;
    if (entry) st.queue.push(entry);
    st.last = { entry, responses, replaced: false };
    st.byAttributes.set(attributes, st.last);
    return { start: true, end: false, responses, attributes };
  }
}
