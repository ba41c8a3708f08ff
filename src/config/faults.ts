/**
 * Config schema parts for chaos: a listener's `protocol`, the `faults` lists of listeners and routes, and their
 * validation against the protocol and fault registries (plugins contribute their option schemas), with exact
 * paths such as `listeners[0].faults[1].attributes.latency`.
 */
import { z } from 'zod';
import type { ProtocolRegistry } from '../protocols/registry.js';
import type { FaultRegistry } from '../faults/registry.js';
import { faultInputSchema, parseStream, type FaultInput } from '../faults/fault-set.js';
import { optionsSchema } from '../faults/plugin.js';
import { createProtocolRegistry } from '../protocols/builtins.js';
import { createFaultRegistry } from '../faults/builtins.js';
import { suggestionSuffix } from './did-you-mean.js';
import { configErrorMap, describeValue } from './issues.js';
import type { ProtocolSpec } from './types.js';

type Ctx = z.core.$RefinementCtx<unknown>;

export interface ChaosRegistries {
  protocols: ProtocolRegistry;
  faults: FaultRegistry;
}

let defaults: ChaosRegistries | undefined;
/** The built-in registries, made once (used when a caller passes none). */
export function defaultChaosRegistries(): ChaosRegistries {
  defaults ??= { protocols: createProtocolRegistry(), faults: createFaultRegistry() };
  return defaults;
}

function issue(ctx: Ctx, message: string, path: Array<string | number> = [], code: 'invalid' | 'unknown_key' = 'invalid'): void {
  ctx.addIssue({ code: 'custom', message, path, params: { configCode: code } });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const PROTOCOL_FORMS = 'a protocol name like "http" or {type: "http", ...options}';

/** `protocol: http` or `{type: http, maxHeaderSize: 64KiB}`; `tcp` means raw bytes (no codec). */
export function protocolSchema(protocols: ProtocolRegistry): z.ZodType<ProtocolSpec | undefined> {
  return z.unknown().transform((v, ctx): ProtocolSpec | undefined => {
    let type: unknown = v;
    let options: Record<string, unknown> = {};
    if (isPlainObject(v)) {
      const { type: t, ...rest } = v;
      type = t;
      options = rest;
    }
    if (typeof type !== 'string') {
      issue(ctx, `expected ${PROTOCOL_FORMS}, got ${describeValue(v)}`, isPlainObject(v) ? ['type'] : []);
      return z.NEVER;
    }
    if (type === 'tcp') {
      if (Object.keys(options).length > 0) issue(ctx, 'protocol "tcp" takes no options', [Object.keys(options)[0]!]);
      return undefined;
    }
    const m = protocols.get(type);
    if (!m) {
      const known = ['tcp', ...protocols.names()];
      issue(ctx, `unknown protocol "${type}"${suggestionSuffix(type, known)} (known: ${known.join(', ')})`, isPlainObject(v) ? ['type'] : []);
      return z.NEVER;
    }
    const r = m.optionsSchema.safeParse(options, { error: configErrorMap });
    if (!r.success) {
      for (const i of r.error.issues) {
        const unknownKeys = i.code === 'unrecognized_keys' ? i.keys : [];
        if (unknownKeys.length > 0) for (const k of unknownKeys) issue(ctx, `unknown option${suggestionSuffix(k, Object.keys(optionKeys(m.optionsSchema)))}`, [k], 'unknown_key');
        else issue(ctx, i.message, i.path.map((p) => (typeof p === 'number' ? p : String(p))));
      }
      return z.NEVER;
    }
    return { type, options: r.data as Record<string, unknown> };
  });
}

function optionKeys(schema: z.ZodType): Record<string, unknown> {
  const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
  return shape ?? {};
}

/** A list of faults (`faults:` of a listener or route). Each entry is checked against its type's options. */
export function faultListSchema(faults: FaultRegistry): z.ZodType<FaultInput[]> {
  return z.array(z.unknown()).transform((list, ctx): FaultInput[] => {
    const out: FaultInput[] = [];
    const names = new Map<string, number>();
    list.forEach((raw, index) => {
      const r = faultInputSchema.safeParse(raw, { error: configErrorMap });
      if (!r.success) {
        for (const i of r.error.issues) {
          if (i.code === 'unrecognized_keys') {
            for (const k of i.keys) issue(ctx, `unknown key${suggestionSuffix(k, Object.keys(faultInputSchema.shape))}`, [index, k], 'unknown_key');
          } else issue(ctx, i.message, [index, ...i.path.map((p) => (typeof p === 'number' ? p : String(p)))]);
        }
        return;
      }
      const f = r.data;
      const plugin = faults.get(f.type);
      if (!plugin) {
        issue(ctx, `unknown fault type "${f.type}"${suggestionSuffix(f.type, faults.types())} (known: ${faults.types().join(', ')})`, [index, 'type']);
        return;
      }
      let stream = plugin.defaultStream as string;
      if (f.stream !== undefined) {
        try {
          stream = parseStream(f.stream);
        } catch {
          issue(ctx, `expected "upstream" or "downstream", got ${describeValue(f.stream)}`, [index, 'stream']);
          return;
        }
      }
      const o = optionsSchema(plugin.options).safeParse(f.attributes ?? {}, { error: configErrorMap });
      if (!o.success) {
        for (const i of o.error.issues) {
          if (i.code === 'unrecognized_keys') {
            for (const k of i.keys) issue(ctx, `unknown attribute of ${plugin.type}${suggestionSuffix(k, Object.keys(plugin.options))} (known: ${Object.keys(plugin.options).join(', ') || 'none'})`, [index, 'attributes', k], 'unknown_key');
          } else issue(ctx, i.message, [index, 'attributes', ...i.path.map((p) => (typeof p === 'number' ? p : String(p)))]);
        }
        return;
      }
      const name = f.name ?? `${plugin.type}_${stream}`;
      const prev = names.get(name);
      if (prev !== undefined) {
        issue(ctx, `duplicate fault name "${name}" (also faults[${prev}]; give one of them a "name")`, [index, 'name']);
        return;
      }
      names.set(name, index);
      out.push({ ...f, name, stream });
    });
    return out;
  });
}

export const seedSchema = z.number().int().min(0).max(2 ** 32 - 1);
