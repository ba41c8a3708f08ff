/**
 * "Did you mean ...?" suggestions for misspelt keys, enum values and ids.
 * Distance is Damerau-Levenshtein (optimal string alignment: insert, delete, substitute, swap two neighbours),
 * compared case-insensitively so `IdleTimeout` and `idle_timeout` still find `idleTimeout`.
 */

/** Optimal-string-alignment Damerau-Levenshtein distance between two strings. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  const cols = b.length + 1;
  // Three rows: two back (for transpositions), previous, current.
  let prev2 = new Array<number>(cols).fill(0);
  let prev = Array.from({ length: cols }, (_, j) => j);
  let cur = new Array<number>(cols).fill(0);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2]! + 1);
      cur[j] = d;
    }
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[b.length]!;
}

function normalise(s: string): string {
  return s.toLowerCase().replace(/[_-]/g, '');
}

/**
 * The closest candidate, if it is close enough: distance ≤ 2, or ≤ a third of the longer word's length
 * (and always less than the input's own length, so "ab" never suggests "id"). Ties go to the first candidate.
 */
export function didYouMean(input: string, candidates: Iterable<string>): string | undefined {
  const needle = normalise(input);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    if (candidate === input) continue;
    const other = normalise(candidate);
    const limit = Math.max(2, Math.floor(Math.max(needle.length, other.length) / 3));
    // The distance is at least the difference in length: skip hopeless (and huge) inputs without the O(n·m) work.
    if (Math.abs(needle.length - other.length) > limit) continue;
    const d = editDistance(needle, other);
    if (d <= limit && d < Math.max(needle.length, 1) && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** ` (did you mean "x"?)` or the empty string: ready to append to a message. */
export function suggestionSuffix(input: string, candidates: Iterable<string>): string {
  const s = didYouMean(input, candidates);
  return s === undefined ? '' : ` (did you mean ${JSON.stringify(s)}?)`;
}
