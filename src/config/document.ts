/**
 * Config text → a plain value, keeping positions: YAML (or JSON, read by JSON.parse for its strictness and by the
 * YAML reader for duplicate keys and positions) with every syntax error as a ConfigIssue carrying line:column, and
 * a locator from an issue's path to its line:column in the text.
 */
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import type { ConfigIssue } from './issues.js';

export interface ParsedText {
  value: unknown;
  issues: ConfigIssue[];
  /** 1-based line/column of the node at `segments` (or of its nearest existing ancestor). */
  locate(segments: ReadonlyArray<string | number>, preferKey: boolean): { line: number; column: number } | undefined;
}

function syntaxIssue(message: string, pos: { line: number; col: number } | undefined): ConfigIssue {
  return { path: '', segments: [], message, code: 'syntax', ...(pos ? { line: pos.line, column: pos.col } : {}) };
}

function yamlDocument(text: string): { doc: Document; lines: LineCounter } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, merge: true });
  return { doc, lines };
}

function locator(doc: Document, lines: LineCounter): ParsedText['locate'] {
  return (segments, preferKey) => {
    let node: unknown = doc.contents;
    let offset: number | undefined = (doc.contents as { range?: [number, number, number] } | null)?.range?.[0];
    for (let i = 0; i < segments.length; i++) {
      if (isAlias(node)) node = node.resolve(doc);
      const seg = segments[i];
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
        if (!pair) break;
        const keyStart = (pair.key as { range?: [number, number, number] } | null)?.range?.[0];
        const valueStart = (pair.value as { range?: [number, number, number] } | null)?.range?.[0];
        if (i === segments.length - 1 && preferKey && keyStart !== undefined) {
          offset = keyStart;
          break;
        }
        offset = valueStart ?? keyStart ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        const start = (item as { range?: [number, number, number] } | null | undefined)?.range?.[0];
        if (start === undefined) break;
        offset = start;
        node = item;
      } else {
        break;
      }
    }
    if (offset === undefined) return undefined;
    const pos = lines.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
}

export function parseYaml(text: string): ParsedText {
  const { doc, lines } = yamlDocument(text);
  const issues = doc.errors.map((e) => syntaxIssue(`YAML syntax error: ${e.message}`, lines.linePos(e.pos[0])));
  let value: unknown = undefined;
  if (issues.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      issues.push(syntaxIssue(`YAML error: ${(err as Error).message}`, undefined));
    }
  }
  return { value, issues, locate: locator(doc, lines) };
}

class JsonSyntax extends Error {
  readonly offset: number;

  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}

/** Find the first JSON syntax error with its offset (V8's messages do not always carry a position). */
function findJsonError(text: string): JsonSyntax {
  let i = 0;
  const fail = (message: string, at = i): never => {
    throw new JsonSyntax(at >= text.length ? 'unexpected end of input' : message, at);
  };
  const found = (): string => (i >= text.length ? 'end of input' : JSON.stringify(text[i]));
  const ws = (): void => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const literal = (word: string): void => {
    if (!text.startsWith(word, i)) fail(`expected a value, got ${found()}`);
    i += word.length;
  };
  const string = (): void => {
    const start = i;
    i++;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        const e = text[i + 1];
        if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail('invalid escape in string');
      } else if (c < ' ') {
        fail('unescaped control character (a line break?) in string');
      } else {
        i++;
      }
    }
    fail('unterminated string', start);
  };
  const NUMBER = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`expected a property name in double quotes, got ${found()}`);
        string();
        ws();
        if (text[i] !== ':') fail(`expected ":" after the property name, got ${found()}`);
        i++;
        value();
        ws();
        if (text[i] === ',') {
          const comma = i++;
          ws();
          if (text[i] === '}') fail('trailing comma before "}"', comma);
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        fail(`expected "," or "}", got ${found()}`);
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          const comma = i++;
          ws();
          if (text[i] === ']') fail('trailing comma before "]"', comma);
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        fail(`expected "," or "]", got ${found()}`);
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    NUMBER.lastIndex = i;
    if (c !== undefined && NUMBER.test(text)) {
      i = NUMBER.lastIndex;
      return;
    }
    fail(`expected a value, got ${found()}`);
  };
  try {
    value();
    ws();
    if (i < text.length) fail(`unexpected ${found()} after the JSON value`);
  } catch (err) {
    if (err instanceof JsonSyntax) return err;
    throw err;
  }
  return new JsonSyntax('invalid JSON', 0);
}

export function parseJson(text: string): ParsedText {
  const { doc, lines } = yamlDocument(text);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const err = findJsonError(text);
    return { value: undefined, issues: [syntaxIssue(`JSON syntax error: ${err.message}`, lines.linePos(err.offset))], locate: () => undefined };
  }
  // JSON.parse silently keeps the last of duplicate keys; the YAML reader (JSON is YAML 1.2) notices them.
  const issues = doc.errors
    .filter((e) => e.code === 'DUPLICATE_KEY')
    .map((e) => syntaxIssue(`JSON error: duplicate key (${e.message})`, lines.linePos(e.pos[0])));
  return { value, issues, locate: doc.errors.length === 0 ? locator(doc, lines) : () => undefined };
}
