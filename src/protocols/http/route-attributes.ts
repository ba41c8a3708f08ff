/**
 * The attributes of routes' map forms (docs/routing.md): `header.<name>` (a request header by lower-case name; a
 * repeated header's values joined with ", ") and `query.<name>` (a query parameter, percent-decoded, the first
 * when repeated), read from a request head only when a listener's routes ask for them.
 */
import type { AttributeValue, Attributes } from '../protocol.js';

const HEADER = 'header.';
const QUERY = 'query.';

/** `keys` (`header.x-canary`, `query.v`) from the request head `head` (request line to the blank line). */
export function httpRouteAttributes(head: Buffer, keys: readonly string[]): Attributes {
  const out: Record<string, AttributeValue> = {};
  const headers = new Set<string>();
  const params = new Set<string>();
  for (const k of keys) {
    if (k.startsWith(HEADER)) headers.add(k.slice(HEADER.length));
    else if (k.startsWith(QUERY)) params.add(k.slice(QUERY.length));
  }
  const text = head.toString('latin1');
  let lineEnd = text.indexOf('\r\n');
  if (lineEnd < 0) return out;
  if (params.size > 0) {
    const line = text.slice(0, lineEnd);
    const target = line.split(' ')[1] ?? '';
    const q = target.indexOf('?');
    if (q >= 0) {
      let search: URLSearchParams | undefined;
      try {
        search = new URLSearchParams(target.slice(q + 1));
      } catch {
        search = undefined;
      }
      for (const p of params) {
        const v = search?.get(p);
        if (v !== null && v !== undefined) out[QUERY + p] = v;
      }
    }
  }
  if (headers.size === 0) return out;
  let pos = lineEnd + 2;
  while (pos < text.length) {
    lineEnd = text.indexOf('\r\n', pos);
    if (lineEnd < 0 || lineEnd === pos) break;
    const colon = text.indexOf(':', pos);
    if (colon > pos && colon < lineEnd) {
      const name = text.slice(pos, colon).toLowerCase();
      if (headers.has(name)) {
        const value = text.slice(colon + 1, lineEnd).trim();
        const key = HEADER + name;
        const prev = out[key];
        out[key] = prev === undefined ? value : `${String(prev)}, ${value}`;
      }
    }
    pos = lineEnd + 2;
  }
  return out;
}
