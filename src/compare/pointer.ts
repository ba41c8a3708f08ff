/**
 * JSON pointers (RFC 6901) as comparison paths: "/body/items/0/id", "~1" for "/" and "~0" for "~" in keys; "" is
 * the root.
 */
import { configError } from './config-error.js';

/** Escape one key as a JSON-pointer segment. */
export function escapeSegment(key: string): string {
  return key.includes('~') || key.includes('/') ? key.replace(/~/g, '~0').replace(/\//g, '~1') : key;
}

/** The key a JSON-pointer segment names (no validation). */
export function unescapeSegment(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Segments of a JSON pointer ("/a/b~1c" → ["a", "b/c"]); throws CONFIG_INVALID naming `what`. */
export function parsePointer(pointer: string, what = 'pointer'): string[] {
  if (typeof pointer !== 'string') throw configError(`${what}: must be a string, got ${typeof pointer}`);
  if (!pointer.startsWith('/')) throw configError(`${what} ${JSON.stringify(pointer)}: a JSON pointer must start with "/"`);
  return pointer
    .slice(1)
    .split('/')
    .map((seg) => {
      if (/~[^01]|~$/.test(seg)) throw configError(`${what} ${JSON.stringify(pointer)}: invalid escape in segment ${JSON.stringify(seg)} (use ~0 for "~" and ~1 for "/")`);
      return unescapeSegment(seg);
    });
}
