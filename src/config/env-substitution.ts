/**
 * `${NAME}` and `${NAME:-default}` in string values of a parsed document (after parsing, so a variable can never
 * inject structure); `$${NAME}` is a literal `${NAME}`. An unset variable without a default is an issue naming the
 * path and the variable; `:-` uses the default when the variable is unset or empty.
 */
import { type ConfigIssue, formatPath } from './issues.js';

const VARIABLE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([\s\S]*))?$/;

function substituteString(s: string, env: Record<string, string | undefined>, fail: (message: string) => void): string {
  if (!s.includes('$')) return s;
  let out = '';
  let i = 0;
  while (i < s.length) {
    if (s.startsWith('$${', i)) {
      out += '${';
      i += 3;
      continue;
    }
    if (!s.startsWith('${', i)) {
      out += s[i];
      i++;
      continue;
    }
    const close = s.indexOf('}', i + 2);
    if (close < 0) {
      fail(`unterminated "\${" in ${JSON.stringify(s)} (write "$\${" for a literal "\${")`);
      return s;
    }
    const body = s.slice(i + 2, close);
    const m = VARIABLE.exec(body);
    if (!m) {
      fail(`invalid variable reference "\${${body}}": expected \${NAME} or \${NAME:-default} (write "$\${" for a literal "\${")`);
      return s;
    }
    const name = m[1]!;
    const fallback = m[2];
    const set = env[name];
    if (fallback !== undefined && (set === undefined || set === '')) {
      out += fallback;
    } else if (set === undefined) {
      fail(`environment variable ${name} is not set (write \${${name}:-default} to give a default)`);
      return s;
    } else {
      out += set;
    }
    i = close + 1;
  }
  return out;
}

/**
 * Substitute `${NAME}` / `${NAME:-default}` in every string value (not keys) of a parsed document.
 * Returns the new value and an issue per failed string (the string is then left as written).
 */
export function substituteEnv(
  value: unknown,
  env: Record<string, string | undefined> = process.env,
): { value: unknown; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const walk = (v: unknown, segments: Array<string | number>): unknown => {
    if (typeof v === 'string') {
      return substituteString(v, env, (message) => issues.push({ path: formatPath(segments), segments: [...segments], message, code: 'env' }));
    }
    if (Array.isArray(v)) return v.map((item, i) => walk(item, [...segments, i]));
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) out[k] = walk(item, [...segments, k]);
      return out;
    }
    return v;
  };
  return { value: walk(value, []), issues };
}
