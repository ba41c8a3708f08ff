/**
 * Request bodies: read with a byte limit, parsed as JSON. The limit and every error (status, message) belong to the
 * server, given as its {@link BodyRules}; the reading and parsing are the same for all.
 */
import type { IncomingMessage } from 'node:http';

/** How one server reads bodies: its limit and the errors it answers with. */
export interface BodyRules {
  /** The largest body accepted, in bytes. */
  readonly maxBytes: number;
  /** The error thrown once the body grows past `maxBytes`. */
  tooLarge(maxBytes: number): Error;
  /** Checks the request's content type (called with '' when there is none); throws to refuse it. */
  contentType?(type: string): void;
  /** The value of an empty (or all-whitespace) JSON body; throws to refuse it. */
  empty(): unknown;
  /** The error for a body that is not JSON (`message` is the parser's). */
  invalid(message: string): Error;
}

/** The body as UTF-8 text; throws `rules.tooLarge` past the limit. */
export async function readText(req: IncomingMessage, rules: BodyRules): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > rules.maxBytes) throw rules.tooLarge(rules.maxBytes);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Parse JSON text by the server's rules (empty text → `rules.empty()`, bad JSON → `rules.invalid`). */
export function parseJsonText(text: string, rules: Pick<BodyRules, 'empty' | 'invalid'>): unknown {
  if (text.trim() === '') return rules.empty();
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw rules.invalid((err as Error).message);
  }
}

/** The content type checked, the body read and parsed as JSON. */
export async function readJson(req: IncomingMessage, rules: BodyRules): Promise<unknown> {
  rules.contentType?.(req.headers['content-type'] ?? '');
  return parseJsonText(await readText(req, rules), rules);
}
