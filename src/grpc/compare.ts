/**
 * `compare: {policy: report}`: each destination's answer (its response messages, reassembled from the 5-byte
 * prefixes, and its final status) is kept up to a bound; when the call is over, every secondary that answered on its
 * own (not cancelled by the proxy) is compared with the primary byte for byte, and a difference becomes a divergence
 * event (mode `grpc`, decision `reported`). The primary's answer is served either way.
 */
import { createHash } from 'node:crypto';
import type { DivergenceLog, VariantOutcome } from '../replication/events.js';
import { codeName, type GrpcStatusError } from './status.js';

/** Response bytes kept per destination for comparison; past it the destination is `oversized` (not compared). */
export const MAX_COMPARED_BYTES = 4 * 1024 * 1024;

export class ResponseCapture {
  readonly #chunks: Buffer[] = [];
  readonly #limit: number;
  #bytes = 0;
  overflow = false;

  constructor(limit = MAX_COMPARED_BYTES) {
    this.#limit = limit;
  }

  /** The DATA chunks kept, in order (empty after an overflow). */
  get chunks(): readonly Buffer[] {
    return this.#chunks;
  }

  add(chunk: Buffer): void {
    if (this.overflow) return;
    this.#bytes += chunk.length;
    if (this.#bytes > this.#limit) {
      this.overflow = true;
      this.#chunks.length = 0;
      return;
    }
    this.#chunks.push(chunk);
  }

  /** The response messages (payloads with their compressed flag as the first byte); a torn tail is kept as is. */
  messages(): Buffer[] {
    const all = Buffer.concat(this.#chunks);
    const out: Buffer[] = [];
    let at = 0;
    while (at + 5 <= all.length) {
      const len = all.readUInt32BE(at + 1);
      const end = Math.min(all.length, at + 5 + len);
      out.push(Buffer.concat([all.subarray(at, at + 1), all.subarray(at + 5, end)]));
      at = end;
    }
    if (at < all.length) out.push(all.subarray(at));
    return out;
  }
}

export interface CompareOutcome {
  readonly name: string;
  readonly status: GrpcStatusError;
  readonly capture: ResponseCapture;
  readonly latencyMs: number;
}

function describe(o: CompareOutcome, messages: readonly Buffer[]): string {
  const bytes = messages.reduce((n, m) => n + m.length - 1, 0);
  return `${codeName(o.status.code)}${o.status.message ? ` "${o.status.message}"` : ''}, ${messages.length} message(s), ${bytes} B`;
}

function hex(m: Buffer | undefined): string {
  if (!m) return '(none)';
  const body = m.subarray(1);
  return `${body.length} B ${body.subarray(0, 24).toString('hex')}${body.length > 24 ? '…' : ''}`;
}

/** Compare the secondaries with the primary; record one event when any differs. */
export function reportDivergence(log: DivergenceLog, route: string, method: string, peer: string, primary: CompareOutcome, secondaries: readonly CompareOutcome[]): void {
  if (secondaries.length === 0 || primary.capture.overflow) return;
  const pm = primary.capture.messages();
  const fields = new Set<string>();
  const lines: string[] = [];
  const variants: VariantOutcome[] = [];
  const digest = (o: CompareOutcome, ms: readonly Buffer[]): string => {
    const h = createHash('sha256').update(String(o.status.code)).update(o.status.message);
    for (const m of ms) h.update(m);
    return h.digest('hex');
  };
  variants.push({ name: primary.name, status: 'ok', digest: digest(primary, pm), summary: describe(primary, pm), latencyMs: primary.latencyMs, agreed: true });
  let differs = false;
  for (const s of secondaries) {
    if (s.capture.overflow) {
      variants.push({ name: s.name, status: 'oversized', latencyMs: s.latencyMs, agreed: false });
      continue;
    }
    const sm = s.capture.messages();
    let same = true;
    if (s.status.code !== primary.status.code || s.status.message !== primary.status.message) {
      same = false;
      fields.add('/status');
      lines.push(`status: ${primary.name} ${codeName(primary.status.code)} "${primary.status.message}", ${s.name} ${codeName(s.status.code)} "${s.status.message}"`);
    }
    if (sm.length !== pm.length) {
      same = false;
      fields.add('/messages');
      lines.push(`messages: ${primary.name} ${pm.length}, ${s.name} ${sm.length}`);
    }
    for (let i = 0; i < Math.max(pm.length, sm.length); i++) {
      const a = pm[i];
      const b = sm[i];
      if (a && b && a.equals(b)) continue;
      same = false;
      fields.add(`/messages/${i}`);
      lines.push(`message ${i}: ${primary.name} ${hex(a)}, ${s.name} ${hex(b)}`);
    }
    if (!same) differs = true;
    variants.push({ name: s.name, status: 'ok', digest: digest(s, sm), summary: describe(s, sm), latencyMs: s.latencyMs, agreed: same });
  }
  if (!differs) return;
  log.record({
    route,
    mode: 'grpc',
    policy: 'report',
    decision: 'reported',
    request: { summary: method, endpoint: peer, attributes: { method } },
    variants,
    served: primary.name,
    fields: [...fields],
    diff: lines.join('\n'),
  });
}
