import type { AttributeValue, Attributes } from '../protocols/protocol.js';
import type { MatchSpec } from '../config/fault-input.js';

/** A compiled MatchSpec (config/fault-input.ts describes the forms): true when a request's attributes match. */
export type Matcher = (attributes: Attributes | undefined) => boolean;

export function compileMatch(spec: MatchSpec): Matcher {
  const tests = Object.entries(spec).map(([key, value]) => {
    const alternatives = (Array.isArray(value) ? value : [value]).map(compileValue);
    return (attrs: Attributes): boolean => {
      const v = attrs[key];
      if (v === undefined) return false;
      return alternatives.some((t) => t(v));
    };
  });
  return (attrs) => attrs !== undefined && tests.every((t) => t(attrs));
}

function compileValue(value: AttributeValue): (v: AttributeValue) => boolean {
  if (typeof value !== 'string') return (v) => v === value || String(v) === String(value);
  const re = /^\/(.+)\/([a-z]*)$/s.exec(value);
  if (re) {
    const rx = new RegExp(re[1]!, re[2]);
    return (v) => rx.test(String(v));
  }
  if (value.includes('*')) {
    const rx = new RegExp(`^${value.split('*').map(escape).join('.*')}$`, 'is');
    return (v) => rx.test(String(v));
  }
  const lower = value.toLowerCase();
  return (v) => String(v).toLowerCase() === lower;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
