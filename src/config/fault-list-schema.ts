/**
 * The `faults` lists of listeners and routes: each entry is a FaultInput whose type is looked up in the
 * FaultCatalog and whose `attributes` are checked against that type's option specs, with exact paths such as
 * `listeners[0].faults[1].attributes.latency`.
 */
import { z } from 'zod';
import type { FaultCatalog } from './catalogs.js';
import { faultInputSchema, parseStream, type FaultInput } from './fault-input.js';
import { optionsSchema } from './fault-options.js';
import { suggestionSuffix } from './did-you-mean.js';
import { configErrorMap, describeValue } from './issues.js';
import { addPluginIssue } from './fields.js';

/** A list of faults (`faults:` of a listener or route). Each entry is checked against its type's options. */
export function faultListSchema(faults: FaultCatalog): z.ZodType<FaultInput[]> {
  return z.array(z.unknown()).transform((list, ctx): FaultInput[] => {
    const out: FaultInput[] = [];
    const names = new Map<string, number>();
    list.forEach((raw, index) => {
      const r = faultInputSchema.safeParse(raw, { error: configErrorMap });
      if (!r.success) {
        for (const i of r.error.issues) {
          if (i.code === 'unrecognized_keys') {
            for (const k of i.keys) addPluginIssue(ctx, `unknown key${suggestionSuffix(k, Object.keys(faultInputSchema.shape))}`, [index, k], 'unknown_key');
          } else addPluginIssue(ctx, i.message, [index, ...i.path.map((p) => (typeof p === 'number' ? p : String(p)))]);
        }
        return;
      }
      const f = r.data;
      const plugin = faults.get(f.type);
      if (!plugin) {
        addPluginIssue(ctx, `unknown fault type "${f.type}"${suggestionSuffix(f.type, faults.types())} (known: ${faults.types().join(', ')})`, [index, 'type']);
        return;
      }
      let stream = plugin.defaultStream as string;
      if (f.stream !== undefined) {
        try {
          stream = parseStream(f.stream);
        } catch {
          addPluginIssue(ctx, `expected "upstream" or "downstream", got ${describeValue(f.stream)}`, [index, 'stream']);
          return;
        }
      }
      const o = optionsSchema(plugin.options).safeParse(f.attributes ?? {}, { error: configErrorMap });
      if (!o.success) {
        for (const i of o.error.issues) {
          if (i.code === 'unrecognized_keys') {
            for (const k of i.keys) addPluginIssue(ctx, `unknown attribute of ${plugin.type}${suggestionSuffix(k, Object.keys(plugin.options))} (known: ${Object.keys(plugin.options).join(', ') || 'none'})`, [index, 'attributes', k], 'unknown_key');
          } else addPluginIssue(ctx, i.message, [index, 'attributes', ...i.path.map((p) => (typeof p === 'number' ? p : String(p)))]);
        }
        return;
      }
      const name = f.name ?? `${plugin.type}_${stream}`;
      const prev = names.get(name);
      if (prev !== undefined) {
        addPluginIssue(ctx, `duplicate fault name "${name}" (also faults[${prev}]; give one of them a "name")`, [index, 'name']);
        return;
      }
      names.set(name, index);
      out.push({ ...f, name, stream });
    });
    return out;
  });
}
