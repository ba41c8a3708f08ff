/**
 * The `faults` lists of listeners and routes: each entry is a FaultInput whose type is looked up in the
 * FaultCatalog and whose `attributes` are checked against that type's option specs, with exact paths such as
 * `listeners[0].faults[1].attributes.latency`. Every part of every entry is checked in one pass (a bad `toxicity`
 * does not hide a bad attribute). `match` keys are checked here against every protocol's attribute names (a typo
 * such as `pth` is caught wherever the fault sits); the listener schema and the cross-reference pass check them
 * against the listener's own protocol.
 */
import { z } from 'zod';
import { allMatchKeys, type FaultCatalog, type ProtocolCatalog } from './catalogs.js';
import { faultInputSchema, matchKeyProblems, parseStream, type FaultInput } from './fault-input.js';
import { optionsSchema } from './fault-options.js';
import { suggestionSuffix } from './did-you-mean.js';
import { configErrorMap, describeValue } from './issues.js';
import { addPluginIssue, isPlainObject } from './fields.js';
import { GRPC_FAULT_MATCH_KEYS } from './grpc-schema.js';

/** A list of faults (`faults:` of a listener or route). Each entry is checked against its type's options. */
export function faultListSchema(faults: FaultCatalog, protocols?: ProtocolCatalog): z.ZodType<FaultInput[]> {
  return z.array(z.unknown()).transform((list, ctx): FaultInput[] => {
    const out: FaultInput[] = [];
    const names = new Map<string, number>();
    const anyKeys = protocols ? [...new Set([...allMatchKeys(protocols), ...GRPC_FAULT_MATCH_KEYS])].sort() : undefined;
    list.forEach((raw, index) => {
      const r = faultInputSchema.safeParse(raw, { error: configErrorMap });
      let ok = r.success;
      if (!r.success) {
        for (const i of r.error.issues) {
          if (i.code === 'unrecognized_keys') {
            for (const k of i.keys) addPluginIssue(ctx, `unknown key${suggestionSuffix(k, Object.keys(faultInputSchema.shape))}`, [index, k], 'unknown_key');
          } else addPluginIssue(ctx, i.message, [index, ...i.path.map((p) => (typeof p === 'number' ? p : String(p)))]);
        }
      }
      // The rest is checked on the raw entry too, so every issue of the entry shows at once.
      const f = (r.success ? r.data : isPlainObject(raw) ? raw : {}) as Partial<FaultInput>;
      const plugin = typeof f.type === 'string' ? faults.get(f.type) : undefined;
      if (!plugin && typeof f.type === 'string' && f.type !== '') {
        addPluginIssue(ctx, `unknown fault type "${f.type}"${suggestionSuffix(f.type, faults.types())} (known: ${faults.types().join(', ')})`, [index, 'type']);
        ok = false;
      }
      let stream = plugin?.defaultStream as string | undefined;
      if (typeof f.stream === 'string') {
        try {
          stream = parseStream(f.stream);
        } catch {
          addPluginIssue(ctx, `expected "upstream" or "downstream", got ${describeValue(f.stream)}`, [index, 'stream']);
          ok = false;
        }
      }
      if (plugin && (f.attributes === undefined || isPlainObject(f.attributes))) {
        const o = optionsSchema(plugin.options).safeParse(f.attributes ?? {}, { error: configErrorMap });
        if (!o.success) {
          ok = false;
          for (const i of o.error.issues) {
            if (i.code === 'unrecognized_keys') {
              for (const k of i.keys) addPluginIssue(ctx, `unknown attribute of ${plugin.type}${suggestionSuffix(k, Object.keys(plugin.options))} (known: ${Object.keys(plugin.options).join(', ') || 'none'})`, [index, 'attributes', k], 'unknown_key');
            } else addPluginIssue(ctx, i.message, [index, 'attributes', ...i.path.map((p) => (typeof p === 'number' ? p : String(p)))]);
          }
        }
      }
      if (anyKeys && isPlainObject(f.match)) {
        for (const p of matchKeyProblems(f.match, anyKeys, `no protocol reports it; known attributes: ${anyKeys.join(', ')}`)) addPluginIssue(ctx, p.message, [index, 'match', ...p.path], 'unknown_key');
      }
      if (!ok || !plugin || stream === undefined) return;
      const name = f.name ?? `${plugin.type}_${stream}`;
      const prev = names.get(name);
      if (prev !== undefined) {
        addPluginIssue(ctx, `duplicate fault name "${name}" (also faults[${prev}]; give one of them a "name")`, [index, 'name']);
        return;
      }
      names.set(name, index);
      out.push({ ...(f as FaultInput), name, stream });
    });
    for (const p of groupShareProblems(out)) addPluginIssue(ctx, p.message, [p.index, 'toxicity']);
    return out;
  });
}

/**
 * Exclusive groups whose shares (the members' `toxicity`, default 1) add up to more than 1 in one direction: one
 * problem per group and stream, at its last member (`index` in `faults`). `already` adds members from elsewhere
 * (a route's faults join its listener's).
 */
export function groupShareProblems(faults: readonly FaultInput[], already: readonly FaultInput[] = []): { index: number; message: string }[] {
  const groups = new Map<string, { members: string[]; sum: number; last: number }>();
  const add = (f: FaultInput, index: number): void => {
    if (f.group === undefined) return;
    const key = `${f.group}\0${f.stream ?? ''}`;
    const g = groups.get(key) ?? { members: [], sum: 0, last: -1 };
    g.members.push(`${f.name ?? f.type} ${f.toxicity ?? 1}`);
    g.sum += f.toxicity ?? 1;
    if (index >= 0) g.last = index;
    groups.set(key, g);
  };
  already.forEach((f) => add(f, -1));
  faults.forEach((f, i) => add(f, i));
  const out: { index: number; message: string }[] = [];
  for (const [key, g] of groups) {
    if (g.last < 0 || g.sum <= 1 + 1e-9) continue;
    const [group, stream] = key.split('\0');
    out.push({ index: g.last, message: `the shares (toxicity) of group "${group}" on ${stream} add up to ${+g.sum.toFixed(6)}, more than 1 (${g.members.join(', ')}): at most one member fires per request, so they must total 1 or less` });
  }
  return out;
}
