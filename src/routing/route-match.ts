/**
 * A route's `match` compiled for the data path (the forms are config/route-match.ts's): the fault matcher
 * (faults/match.ts) for every attribute, map forms flattened (`headers: {x: 1}` → `header.x`), and `sourceAddress`
 * CIDR blocks tested with node's `net.BlockList`.
 */
import { BlockList, isIPv4 } from 'node:net';
import type { Attributes } from '../protocols/protocol.js';
import { MATCH_NOT, type MatchSpec, type MatchValue } from '../config/fault-input.js';
import { flattenRouteMatch, matchesEverything, parseCidr, SOURCE_ADDRESS } from '../config/route-match.js';
import { compileMatch } from '../faults/match.js';

/** True when the attributes (of a connection, a startup or a request) satisfy a route's match. */
export type RouteMatcher = (attrs: Attributes | undefined) => boolean;

const ALWAYS: RouteMatcher = () => true;

/** Compile a route's match; absent or `{}` matches everything (attributes or not). */
export function compileRouteMatch(spec: MatchSpec | undefined, maps: Readonly<Record<string, string>> = {}): RouteMatcher {
  if (matchesEverything(spec)) return ALWAYS;
  const test = compileSpec(flattenRouteMatch(spec!, maps));
  return (attrs) => attrs !== undefined && test(attrs);
}

function compileSpec(spec: MatchSpec): (attrs: Attributes) => boolean {
  const tests: Array<(attrs: Attributes) => boolean> = [];
  const rest: Record<string, MatchValue | MatchSpec> = {};
  for (const [key, value] of Object.entries(spec)) {
    if (key === MATCH_NOT && typeof value === 'object' && !Array.isArray(value)) {
      const inner = compileSpec(value as MatchSpec);
      tests.push((attrs) => !inner(attrs));
    } else if (key === SOURCE_ADDRESS) tests.push(sourceTest(value as MatchValue));
    else rest[key] = value;
  }
  if (Object.keys(rest).length > 0) {
    const m = compileMatch(rest);
    tests.push(m);
  }
  return tests.length === 1 ? tests[0]! : (attrs) => tests.every((t) => t(attrs));
}

/** `sourceAddress`: CIDR blocks through a BlockList (IPv4-mapped IPv6 addresses tested as IPv4), other forms as faults do. */
function sourceTest(value: MatchValue): (attrs: Attributes) => boolean {
  const values = Array.isArray(value) ? (value as readonly (string | number | boolean)[]) : [value as string | number | boolean];
  const blocks = new BlockList();
  let cidrs = 0;
  const others: Array<string | number | boolean> = [];
  for (const v of values) {
    const c = typeof v === 'string' ? parseCidr(v) : undefined;
    if (c) {
      blocks.addSubnet(c.address, c.prefix, c.family);
      cidrs++;
    } else others.push(v);
  }
  const other = others.length > 0 ? compileMatch({ [SOURCE_ADDRESS]: others }) : undefined;
  return (attrs) => {
    const a = attrs[SOURCE_ADDRESS];
    if (typeof a !== 'string') return false;
    if (cidrs > 0 && inBlocks(blocks, a)) return true;
    return other !== undefined && other(attrs);
  };
}

function inBlocks(blocks: BlockList, address: string): boolean {
  if (isIPv4(address)) return blocks.check(address, 'ipv4');
  if (address.startsWith('::ffff:') && isIPv4(address.slice(7)) && blocks.check(address.slice(7), 'ipv4')) return true;
  try {
    return blocks.check(address, 'ipv6');
  } catch {
    return false;
  }
}
