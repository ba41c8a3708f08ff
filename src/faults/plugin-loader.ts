import { pathToFileURL } from 'node:url';
import { isAbsolute, resolve } from 'node:path';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { FaultPlugin } from './plugin.js';
import type { FaultRegistry } from './registry.js';

/**
 * Load custom fault plugins: each module's default export (or its `faultPlugin` / `plugin` export, or an array of
 * plugins) must be a FaultPlugin: `{type, description, options, create}` (`defaultScope` defaults to 'request',
 * `defaultStream` to 'upstream'). Paths are relative to `baseDir` (the config file's folder).
 */
export async function loadFaultPlugins(paths: readonly string[], registry: FaultRegistry, baseDir: string): Promise<FaultPlugin[]> {
  const loaded: FaultPlugin[] = [];
  for (const [index, path] of paths.entries()) {
    const where = `plugins.faults[${index}]`;
    const file = isAbsolute(path) ? path : resolve(baseDir, path);
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    } catch (err) {
      throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `${where}: cannot load ${JSON.stringify(path)}: ${(err as Error).message}`, { cause: err });
    }
    const exported = mod['default'] ?? mod['faultPlugin'] ?? mod['plugin'];
    const list = Array.isArray(exported) ? exported : [exported];
    for (const candidate of list) {
      const plugin = checkPlugin(candidate, `${where} (${path})`);
      const existing = registry.get(plugin.type);
      if (existing === plugin) continue;
      if (existing) throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `${where}: fault type '${plugin.type}' is already registered (pick another type name)`);
      registry.register(plugin);
      loaded.push(plugin);
    }
  }
  return loaded;
}

function checkPlugin(v: unknown, where: string): FaultPlugin {
  const fail = (what: string): never => {
    throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `${where}: not a fault plugin: ${what} (export default {type, description, options, create})`);
  };
  if (typeof v !== 'object' || v === null) return fail('the module exports no object');
  const p = v as Record<string, unknown>;
  if (typeof p['type'] !== 'string' || !/^[a-z][a-z0-9_-]*$/i.test(p['type'])) fail('"type" must be a name like "http_slow_headers"');
  if (typeof p['create'] !== 'function') fail('"create" must be a function (options, ctx) => instance');
  const options = p['options'] ?? {};
  if (typeof options !== 'object' || options === null) fail('"options" must be an object of option specs');
  for (const [name, spec] of Object.entries(options as Record<string, unknown>)) {
    const s = spec as Record<string, unknown> | null;
    if (!s || !['integer', 'number', 'boolean', 'string'].includes(s['type'] as string) || !('default' in s)) {
      fail(`option "${name}" needs {description, type: integer|number|boolean|string, default}`);
    }
  }
  if (p['defaultScope'] !== undefined && p['defaultScope'] !== 'connection' && p['defaultScope'] !== 'request') fail('"defaultScope" must be "connection" or "request"');
  if (p['defaultStream'] !== undefined && p['defaultStream'] !== 'upstream' && p['defaultStream'] !== 'downstream') fail('"defaultStream" must be "upstream" or "downstream"');
  return {
    description: '',
    defaultScope: 'request',
    defaultStream: 'upstream',
    ...(p as object),
    options: options as FaultPlugin['options'],
  } as FaultPlugin;
}
