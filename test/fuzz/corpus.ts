/**
 * The fuzz seed corpora: per protocol (or generic framer), recorded connections as ordered steps of the bytes each
 * side sent, stored as `test/fuzz/corpus/<name>/transcripts.json` (`[[["c"|"s", base64], …], …]`, one inner list per
 * connection). Written by `record.ts`, read by the fuzz driver and the end-to-end fuzz test.
 */
import { readFileSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Step {
  /** 'c' = client → server, 's' = server → client. */
  from: 'c' | 's';
  bytes: Buffer;
}
export type Transcript = Step[];
export type Corpus = Record<string, Transcript[]>;

export const CORPUS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'corpus');

/** Write one corpus file; returns its size in bytes. */
export function writeCorpus(dir: string, name: string, transcripts: readonly Transcript[]): number {
  mkdirSync(join(dir, name), { recursive: true });
  const json = `[\n${transcripts.map((t) => ` ${JSON.stringify(t.map((s) => [s.from, s.bytes.toString('base64')]))}`).join(',\n')}\n]\n`;
  writeFileSync(join(dir, name, 'transcripts.json'), json);
  return Buffer.byteLength(json);
}

/** Read one corpus (throws when it is missing: run `npm run fuzz:record`). */
export function readCorpus(name: string, dir = CORPUS_DIR): Transcript[] {
  const raw = JSON.parse(readFileSync(join(dir, name, 'transcripts.json'), 'utf8')) as [string, string][][];
  return raw.map((t) => t.map(([from, b64]) => ({ from: from === 's' ? 's' : 'c', bytes: Buffer.from(b64, 'base64') })));
}

/** Names of the stored corpora. */
export function corpusNames(dir = CORPUS_DIR): string[] {
  return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
}
