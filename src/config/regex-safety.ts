/**
 * Regular expressions given in config (`match: {path: "/^\/api\//i"}`): compiled when the config is validated, and
 * refused when they could backtrack catastrophically (V8's engine backtracks: `/^\/(a+)+$/` on a 26-byte path takes
 * ~150 ms, doubling per byte, and stalls every connection of the process meanwhile).
 *
 * The check is static and conservative (a pattern it refuses may be harmless; one it accepts runs in polynomial
 * time). It parses the pattern into groups, alternatives and quantified atoms, then refuses:
 *
 * 1. a **repeated group containing a variable quantifier** — a group under `*`, `+`, `{n,}` or `{n,m}` (m > 1)
 *    holding `*`, `+`, `?` or `{n,m}` (n ≠ m) anywhere inside: `(a+)+`, `(a*b)*`, `(x?y)+` (star height > 1);
 * 2. an **ambiguous alternation under a repetition** — inside a repeated group, an alternation (`|`) of which two
 *    alternatives can start with the same character, or one can match the empty string: `(a|ab)+`, `(\w|\d)*`,
 *    `(x|)+`;
 * 3. **backreferences** (`\1`, `\k<name>`) and **lookarounds** (`(?=`, `(?!`, `(?<=`, `(?<!`), which the check cannot
 *    reason about;
 * 4. flags other than `i`, `m`, `s`, `u` (`g` and `y` make a RegExp remember its position between requests), and
 *    patterns longer than 1000 characters.
 *
 * Fixed repetitions (`(\.\d{3})+`, `(ab)+`, `(GET|PUT)+`) and single quantifiers (`^/api/.*\.json$`) pass.
 */

export const MAX_PATTERN_LENGTH = 1000;
const ALLOWED_FLAGS = new Set(['i', 'm', 's', 'u']);

/** `/source/flags` → its parts; undefined when the string is not in slashes (then it is a plain or wildcard value). */
export function regexParts(value: string): { source: string; flags: string } | undefined {
  // Only JavaScript's flag letters may follow the closing slash: `/api/users` is a path, not /api/ with flags "users".
  const m = /^\/(.+)\/([dgimsuvy]*)$/s.exec(value);
  return m ? { source: m[1]!, flags: m[2]! } : undefined;
}

/**
 * Compile a `/source/flags` match value, or throw an Error whose message names the pattern and the problem
 * (syntax error, refused flag or construct, catastrophic backtracking). Returns undefined for a non-regex value.
 */
export function compileSafeRegex(value: string): RegExp | undefined {
  const parts = regexParts(value);
  if (!parts) return undefined;
  const { source, flags } = parts;
  if (source.length > MAX_PATTERN_LENGTH) throw new Error(`regular expression ${shorten(value)} is too long (${source.length} characters, at most ${MAX_PATTERN_LENGTH})`);
  for (const f of flags) {
    if (!ALLOWED_FLAGS.has(f)) throw new Error(`regular expression ${shorten(value)}: flag "${f}" is not allowed (allowed: i, m, s, u)`);
  }
  let rx: RegExp;
  try {
    rx = new RegExp(source, flags);
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '') : String(err);
    throw new Error(`invalid regular expression ${shorten(value)}: ${why}`, { cause: err });
  }
  const problem = backtrackingProblem(source, flags);
  if (problem !== undefined) throw new Error(`regular expression ${shorten(value)} is refused: ${problem}`);
  return rx;
}

function shorten(v: string): string {
  return v.length > 120 ? `${v.slice(0, 117)}...` : v;
}

// ---------------------------------------------------------------------------------------------------------------
// A small parser for JavaScript regex syntax: enough to see groups, alternatives, quantifiers and first characters.

/** A set of characters: the 128 ASCII ones exactly, everything else as one flag. */
class CharSet {
  readonly ascii = new Uint8Array(128);
  other = false;

  static all(): CharSet {
    const s = new CharSet();
    s.ascii.fill(1);
    s.other = true;
    return s;
  }

  add(code: number, fold: boolean): void {
    if (code >= 128) {
      this.other = true;
      return;
    }
    this.ascii[code] = 1;
    if (fold) {
      const c = String.fromCharCode(code);
      this.ascii[c.toLowerCase().charCodeAt(0) & 127] = 1;
      this.ascii[c.toUpperCase().charCodeAt(0) & 127] = 1;
    }
  }

  addRange(from: number, to: number, fold: boolean): void {
    for (let c = from; c <= Math.min(to, 127); c++) this.add(c, fold);
    if (to >= 128) this.other = true;
  }

  union(o: CharSet): void {
    for (let i = 0; i < 128; i++) this.ascii[i] ||= o.ascii[i]!;
    this.other ||= o.other;
  }

  negate(): void {
    for (let i = 0; i < 128; i++) this.ascii[i] = this.ascii[i] ? 0 : 1;
    this.other = true;
  }

  intersects(o: CharSet): boolean {
    if (this.other && o.other) return true;
    for (let i = 0; i < 128; i++) if (this.ascii[i] && o.ascii[i]) return true;
    return false;
  }
}

type Atom = { kind: 'chars'; set: CharSet } | { kind: 'empty' } | { kind: 'group'; alts: Term[][]; text: string };
interface Term {
  atom: Atom;
  min: number;
  max: number;
}

class Refused extends Error {}

const CLASS_ESCAPES: Record<string, (s: CharSet) => void> = {
  d: (s) => s.addRange(48, 57, false),
  w: (s) => {
    s.addRange(48, 57, false);
    s.addRange(65, 90, false);
    s.addRange(97, 122, false);
    s.add(95, false);
  },
  s: (s) => {
    for (const c of [9, 10, 11, 12, 13, 32]) s.add(c, false);
    s.other = true;
  },
};

class Parser {
  #i = 0;
  readonly #s: string;
  readonly #fold: boolean;
  readonly #unicode: boolean;

  constructor(source: string, flags: string) {
    this.#s = source;
    this.#fold = flags.includes('i');
    this.#unicode = flags.includes('u') || flags.includes('v');
  }

  parse(): Term[][] {
    const alts = this.#alternatives();
    if (this.#i < this.#s.length) throw new Refused(`unexpected "${this.#s[this.#i]}"`);
    return alts;
  }

  #alternatives(): Term[][] {
    const alts = [this.#sequence()];
    while (this.#s[this.#i] === '|') {
      this.#i++;
      alts.push(this.#sequence());
    }
    return alts;
  }

  #sequence(): Term[] {
    const seq: Term[] = [];
    while (this.#i < this.#s.length && this.#s[this.#i] !== '|' && this.#s[this.#i] !== ')') {
      const at = this.#i;
      const atom = this.#atom();
      const [min, max] = this.#quantifier();
      if (this.#i <= at) throw new Refused(`cannot read the pattern at position ${at}`); // never loops
      seq.push({ atom, min, max });
    }
    return seq;
  }

  #quantifier(): [number, number] {
    const c = this.#s[this.#i];
    let q: [number, number] | undefined;
    if (c === '*') q = [0, Infinity];
    else if (c === '+') q = [1, Infinity];
    else if (c === '?') q = [0, 1];
    if (q) this.#i++;
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.#s.slice(this.#i));
      if (m) {
        const min = Number(m[1]);
        q = [min, m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3])];
        this.#i += m[0].length;
      }
    }
    if (!q) return [1, 1];
    if (this.#s[this.#i] === '?') this.#i++; // lazy: same backtracking
    return q;
  }

  #atom(): Atom {
    const s = this.#s;
    const c = s[this.#i]!;
    if (c === '(') return this.#group();
    if (c === '[') return { kind: 'chars', set: this.#class() };
    if (c === '\\') return this.#escape();
    this.#i++;
    if (c === '^' || c === '$') return { kind: 'empty' };
    if (c === '.') return { kind: 'chars', set: CharSet.all() };
    const set = new CharSet();
    set.add(s.codePointAt(this.#i - 1)!, this.#fold);
    if (s.codePointAt(this.#i - 1)! > 0xffff) this.#i++;
    return { kind: 'chars', set };
  }

  #group(): Atom {
    const s = this.#s;
    const start = this.#i;
    this.#i++;
    if (s[this.#i] === '?') {
      const rest = s.slice(this.#i, this.#i + 3);
      if (rest.startsWith('?=') || rest.startsWith('?!') || rest === '?<=' || rest === '?<!') throw new Refused(`lookarounds such as "(${rest}" are not supported`);
      if (rest.startsWith('?:')) this.#i += 2;
      else if (rest.startsWith('?<') && s.indexOf('>', this.#i) > 0) this.#i = s.indexOf('>', this.#i) + 1; else throw new Refused(`the group syntax "(${rest}" is not supported`);
    }
    const alts = this.#alternatives();
    if (s[this.#i] !== ')') throw new Refused('unbalanced parentheses');
    this.#i++;
    return { kind: 'group', alts, text: s.slice(start, this.#i) };
  }

  #escape(): Atom {
    const s = this.#s;
    const c = s[this.#i + 1] ?? '';
    this.#i += 2;
    if (/[1-9]/.test(c)) throw new Refused(`backreferences such as "\\${c}" are not supported`);
    if (c === 'k' && s[this.#i] === '<') throw new Refused('named backreferences ("\\k<name>") are not supported');
    if (c === 'b' || c === 'B') return { kind: 'empty' };
    return { kind: 'chars', set: this.#escapedSet(c) };
  }

  /** The characters of the escape `\c` (the backslash and c consumed; longer escapes consume the rest). */
  #escapedSet(c: string): CharSet {
    const s = this.#s;
    const set = new CharSet();
    const lower = c.toLowerCase();
    const cls = CLASS_ESCAPES[lower];
    if (cls) {
      cls(set);
      if (c !== lower) set.negate();
      return set;
    }
    if (c === 'p' || c === 'P') {
      const end = s.indexOf('}', this.#i);
      if (s[this.#i] === '{' && end > 0) this.#i = end + 1;
      return CharSet.all();
    }
    const simple: Record<string, number> = { n: 10, r: 13, t: 9, f: 12, v: 11, '0': 0 };
    if (simple[c] !== undefined) set.add(simple[c], false);
    else if (c === 'x' && /^[0-9a-fA-F]{2}/.test(s.slice(this.#i))) {
      set.add(parseInt(s.slice(this.#i, this.#i + 2), 16), this.#fold);
      this.#i += 2;
    } else if (c === 'u' && this.#unicode && /^\{[0-9a-fA-F]+\}/.test(s.slice(this.#i))) {
      const end = s.indexOf('}', this.#i);
      set.add(parseInt(s.slice(this.#i + 1, end), 16), this.#fold);
      this.#i = end + 1;
    } else if (c === 'u' && /^[0-9a-fA-F]{4}/.test(s.slice(this.#i))) {
      set.add(parseInt(s.slice(this.#i, this.#i + 4), 16), this.#fold);
      this.#i += 4;
    } else if (c === 'c' && /^[A-Za-z]/.test(s[this.#i] ?? '')) {
      set.add(s.charCodeAt(this.#i) % 32, false);
      this.#i++;
    } else set.add(c.codePointAt(0) ?? 92, this.#fold);
    return set;
  }

  #class(): CharSet {
    const s = this.#s;
    this.#i++;
    const set = new CharSet();
    const negated = s[this.#i] === '^';
    if (negated) this.#i++;
    while (this.#i < s.length && s[this.#i] !== ']') {
      if (s[this.#i] === '[') return this.#skipNestedClass(); // `v` flag set notation: treat as any character
      const from = this.#classChar(set);
      if (from === undefined) continue;
      if (s[this.#i] === '-' && s[this.#i + 1] !== ']' && this.#i + 1 < s.length) {
        this.#i++;
        const to = this.#classChar(set);
        if (to === undefined) set.add(45, false);
        else set.addRange(from, to, this.#fold);
      } else set.add(from, this.#fold);
    }
    this.#i++; // ]
    if (negated) set.negate();
    return set;
  }

  #skipNestedClass(): CharSet {
    let depth = 1;
    while (this.#i < this.#s.length && depth > 0) {
      const c = this.#s[this.#i++];
      if (c === '\\') this.#i++;
      else if (c === '[') depth++;
      else if (c === ']') depth--;
    }
    return CharSet.all();
  }

  /** One class member: its code point, or undefined when it was a class escape (`\d`), already added to `set`. */
  #classChar(set: CharSet): number | undefined {
    const s = this.#s;
    if (s[this.#i] !== '\\') {
      const cp = s.codePointAt(this.#i)!;
      this.#i += cp > 0xffff ? 2 : 1;
      return cp;
    }
    const c = s[this.#i + 1] ?? '';
    this.#i += 2;
    if (c === 'b') return 8;
    const sub = this.#escapedSet(c);
    const single = sub.other ? -1 : sub.ascii.reduce((n, v) => n + v, 0) === 1 ? sub.ascii.indexOf(1) : -1;
    if (single >= 0 && !CLASS_ESCAPES[c.toLowerCase()]) return single;
    set.union(sub);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The analysis.

function nullableSeq(seq: Term[]): boolean {
  return seq.every((t) => t.min === 0 || nullableAtom(t.atom));
}

function nullableAtom(a: Atom): boolean {
  return a.kind === 'empty' || (a.kind === 'group' && a.alts.some(nullableSeq));
}

/** The characters a sequence can start with. */
function firstSet(seq: Term[]): CharSet {
  const out = new CharSet();
  for (const t of seq) {
    if (t.atom.kind === 'chars') out.union(t.atom.set);
    else if (t.atom.kind === 'group') for (const alt of t.atom.alts) out.union(firstSet(alt));
    if (!(t.min === 0 || nullableAtom(t.atom))) break;
  }
  return out;
}

/** The first variable quantifier inside these alternatives, as text for the message. */
function variableQuantifier(alts: Term[][]): Term | undefined {
  for (const seq of alts) {
    for (const t of seq) {
      if (t.min !== t.max) return t;
      if (t.atom.kind === 'group') {
        const inner = variableQuantifier(t.atom.alts);
        if (inner) return inner;
      }
    }
  }
  return undefined;
}

/** An alternation inside these alternatives (this level included) whose alternatives overlap or can be empty. */
function ambiguousAlternation(alts: Term[][], text: string): string | undefined {
  if (alts.length > 1) {
    if (alts.some(nullableSeq)) return `${text} has an alternative that can match the empty string`;
    const firsts = alts.map(firstSet);
    for (let i = 0; i < firsts.length; i++) {
      for (let j = i + 1; j < firsts.length; j++) {
        if (firsts[i]!.intersects(firsts[j]!)) return `the alternatives of ${text} can start with the same character`;
      }
    }
  }
  for (const seq of alts) {
    for (const t of seq) {
      if (t.atom.kind !== 'group') continue;
      const inner = ambiguousAlternation(t.atom.alts, t.atom.text);
      if (inner) return inner;
    }
  }
  return undefined;
}

function describeQuantifier(t: Term): string {
  if (t.min === 0 && t.max === Infinity) return '*';
  if (t.min === 1 && t.max === Infinity) return '+';
  if (t.min === 0 && t.max === 1) return '?';
  if (t.min === t.max) return `{${t.min}}`;
  return t.max === Infinity ? `{${t.min},}` : `{${t.min},${t.max}}`;
}

function check(alts: Term[][]): string | undefined {
  for (const seq of alts) {
    for (const t of seq) {
      if (t.atom.kind !== 'group') continue;
      if (t.max > 1) {
        const where = `${t.atom.text}${describeQuantifier(t)}`;
        const inner = variableQuantifier(t.atom.alts);
        if (inner) return `the repeated group ${where} contains the quantifier "${describeQuantifier(inner)}" (nested quantifiers can backtrack catastrophically; write it without the nesting)`;
        const amb = ambiguousAlternation(t.atom.alts, t.atom.text);
        if (amb) return `in the repeated group ${where}, ${amb} (ambiguous alternation under a quantifier can backtrack catastrophically)`;
      }
      const deeper = check(t.atom.alts);
      if (deeper) return deeper;
    }
  }
  return undefined;
}

/** Why `source` could backtrack catastrophically (or uses a refused construct); undefined when it is accepted. */
export function backtrackingProblem(source: string, flags = ''): string | undefined {
  let tree: Term[][];
  try {
    tree = new Parser(source, flags).parse();
  } catch (err) {
    if (err instanceof Refused) return err.message;
    throw err;
  }
  return check(tree);
}
