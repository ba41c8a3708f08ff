/**
 * Hot reload: apply a new validated config to a running Switchyard as the difference from what runs now (the plan
 * of reload-plan.ts), one step at a time, in an order where a route never points at a missing cluster. Used by the
 * CLI (SIGHUP, --watch) and the admin API (PUT /api/v1/config). Reloads of one Switchyard run one after another.
 */
import type { SwitchyardConfig } from '../config/types.js';
import type { ConfigIssue } from '../config/issues.js';
import { formatConfigIssue } from '../config/issues.js';
import { declaredIds, type Switchyard } from './switchyard.js';
import { describePlan, planReload, type ReloadPlan } from './reload-plan.js';
import * as objects from './reload-objects.js';

/** Object ids per kind. */
export interface IdsByKind {
  listeners: string[];
  clusters: string[];
  routes: string[];
}

export interface ReloadOutcome {
  /** `applied`: every step ran; `failed`: a step threw (see `error`): the steps before it stay applied. */
  result: 'applied' | 'failed' | 'dry-run';
  plan: ReloadPlan;
  /** The plan as one line per change. */
  changes: string[];
  /** The steps that ran, in order. */
  applied: string[];
  /**
   * Objects created at run time (admin API, Toxiproxy API) that neither the running config nor the new one
   * declares: left as they are.
   */
  untouched: IdsByKind;
  /** When failed: the step that threw, its error, and the steps that did not run. */
  failedStep?: string;
  error?: string;
  notApplied?: string[];
}

/** The config the proxy runs now: its sections and the configs of its live objects (routes in evaluation order). */
export function currentConfig(yard: Switchyard): SwitchyardConfig {
  return {
    ...yard.sections,
    listeners: [...yard.listeners.values()].map((l) => l.config),
    clusters: [...yard.clusters.values()].map((c) => c.config),
    routes: [...yard.routes.values()].map((r) => r.config),
  };
}

interface Step {
  name: string;
  run(): Promise<void> | void;
}

type Kind = 'listeners' | 'clusters' | 'routes';
const KINDS: readonly Kind[] = ['listeners', 'clusters', 'routes'];

/**
 * What a reload compares `next` with: the running config minus the objects created at run time that no config
 * declared (they are not the file's to remove), unless `next` names them.
 */
function managedConfig(yard: Switchyard, next: SwitchyardConfig): { current: SwitchyardConfig; untouched: IdsByKind } {
  const all = currentConfig(yard);
  const current = { ...all };
  const untouched: IdsByKind = { listeners: [], clusters: [], routes: [] };
  for (const kind of KINDS) {
    const named = new Set(next[kind].map((o) => o.id));
    const keep = (id: string): boolean => yard.declared[kind].has(id) || named.has(id);
    untouched[kind] = all[kind].filter((o) => !keep(o.id)).map((o) => o.id);
    (current as Record<Kind, Array<{ id: string }>>)[kind] = all[kind].filter((o) => keep(o.id));
  }
  return { current, untouched };
}

const queues = new WeakMap<Switchyard, Promise<unknown>>();

/** Run reloads of one yard one after another. */
function serial<T>(yard: Switchyard, body: () => Promise<T>): Promise<T> {
  const prev = queues.get(yard) ?? Promise.resolve();
  const next = prev.then(body, body);
  queues.set(yard, next.catch(() => undefined));
  return next;
}

/** Count and log a config that failed validation (every issue with its path); the running config stays. */
export function rejectConfig(yard: Switchyard, issues: readonly ConfigIssue[], source: string, message?: string): void {
  yard.reloads.rejected++;
  const lines = issues.length > 0 ? issues.map((i) => formatConfigIssue(i, undefined)) : [message ?? 'invalid configuration'];
  for (const line of lines) yard.logger.error({ source, issue: line }, `config reload rejected: ${line}`);
  yard.logger.warn({ source, issues: lines.length }, 'config reload rejected: the running configuration is kept');
}

/** Plan `next` against what runs, and (unless dryRun) apply it. Counts `applied`/`failed` (not dry runs). */
export function applyConfig(yard: Switchyard, next: SwitchyardConfig, options: { dryRun?: boolean; source?: string } = {}): Promise<ReloadOutcome> {
  return serial(yard, async () => {
    const { current, untouched } = managedConfig(yard, next);
    const plan = planReload(current, next);
    const changes = describePlan(plan);
    if (options.dryRun) return { result: 'dry-run', plan, changes, applied: [], untouched };
    const before = yard.declared;
    const source = options.source ?? 'reload';
    const steps = stepsOf(yard, plan, next);
    const applied: string[] = [];
    for (const [i, step] of steps.entries()) {
      try {
        await step.run();
      } catch (err) {
        yard.reloads.failed++;
        // What either config declares stays the file's: the next reload adds what is missing, removes what is left.
        const now = declaredIds(next);
        for (const kind of KINDS) for (const id of before[kind]) now[kind].add(id);
        yard.declared = now;
        const notApplied = steps.slice(i + 1).map((s) => s.name);
        const error = (err as Error).message;
        yard.logger.error({ source, step: step.name, err, applied, notApplied }, `config reload failed at "${step.name}": ${error}; the steps before it stay applied, the rest did not run`);
        return { result: 'failed', plan, changes, applied, untouched, failedStep: step.name, error, notApplied };
      }
      applied.push(step.name);
      yard.logger.info({ source, step: step.name }, `config reload: ${step.name}`);
    }
    for (const r of plan.requiresRestart) yard.logger.warn({ source, section: r.section, keys: r.keys }, `config reload: ${r.section} changed; it takes effect only after a restart`);
    yard.declared = declaredIds(next);
    yard.reloads.applied++;
    yard.logger.info({ source, changes: changes.length }, changes.length === 0 ? 'config reload: nothing changed' : 'config reload applied');
    return { result: 'applied', plan, changes, applied, untouched };
  });
}

/** Stop an object that left the config once the connections that hold it have had the drain deadline. */
function retire(obj: { stop(): void }, drainTimeout: number): void {
  if (drainTimeout <= 0) {
    obj.stop();
    return;
  }
  setTimeout(() => obj.stop(), drainTimeout).unref();
}

/** A background drain: its failure is logged, never thrown. */
function background(yard: Switchyard, what: string, p: Promise<unknown>): void {
  p.then(
    () => yard.logger.info(`config reload: ${what} drained`),
    (err: unknown) => yard.logger.error({ err }, `config reload: ${what}: draining failed`),
  );
}

/**
 * The steps, in order: settings; clusters added and replaced; listeners removed (stop accepting); routes removed,
 * replaced, rebuilt, added, reordered; listeners updated, replaced, added; clusters removed.
 */
function stepsOf(yard: Switchyard, plan: ReloadPlan, next: SwitchyardConfig): Step[] {
  const drain = next.shutdown.drainTimeout;
  const byId = <T extends { id: string }>(list: readonly T[]): Map<string, T> => new Map(list.map((x) => [x.id, x]));
  const listeners = byId(next.listeners);
  const clusters = byId(next.clusters);
  const routes = byId(next.routes);
  const steps: Step[] = [];
  for (const s of plan.settings) {
    steps.push({ name: `${s.id}: set (${s.keys.join(', ')})`, run: () => void (yard.sections = { ...yard.sections, [s.id]: (next as unknown as Record<string, unknown>)[s.id] }) });
  }
  for (const id of plan.clusters.added) steps.push({ name: `cluster ${id}: add`, run: async () => void (await yard.addCluster(clusters.get(id)!)) });
  for (const c of plan.clusters.changed) {
    steps.push({ name: `cluster ${c.id}: replace (${c.keys.join(', ')})`, run: () => retire(objects.replaceCluster(yard, clusters.get(c.id)!), drain) });
  }
  for (const id of plan.listeners.removed) {
    steps.push({
      name: `listener ${id}: remove (drain ${drain} ms)`,
      run: () => background(yard, `listener ${id}`, objects.detachListener(yard, id, drain)),
    });
  }
  for (const id of plan.routes.removed) steps.push({ name: `route ${id}: remove`, run: () => retire(objects.detachRoute(yard, id), drain) });
  for (const c of plan.routes.changed) {
    steps.push({ name: `route ${c.id}: replace (${c.keys.join(', ')})`, run: () => retire(objects.replaceRoute(yard, routes.get(c.id)!), drain) });
  }
  for (const r of plan.routes.rebuilt) {
    steps.push({ name: `route ${r.id}: rebuild (cluster ${r.clusters.join(', ')} changed)`, run: () => retire(objects.replaceRoute(yard, routes.get(r.id)!), drain) });
  }
  for (const id of plan.routes.added) steps.push({ name: `route ${id}: add`, run: async () => void (await yard.addRoute(routes.get(id)!)) });
  if (plan.routes.reordered || plan.routes.added.length > 0) {
    steps.push({ name: 'routes: order as in the config', run: () => objects.orderRoutes(yard, next.routes.map((r) => r.id)) });
  }
  for (const c of plan.listeners.changed) {
    const cfg = listeners.get(c.id)!;
    if (c.action === 'update') steps.push({ name: `listener ${c.id}: update in place (${c.keys.join(', ')})`, run: () => objects.reconfigureListener(yard, cfg) });
    else {
      steps.push({
        name: `listener ${c.id}: replace (${c.keys.join(', ')}; the old one drains ${drain} ms)`,
        run: async () => background(yard, `old listener ${c.id}`, (await objects.replaceListener(yard, cfg, drain)).drained),
      });
    }
  }
  for (const id of plan.listeners.added) steps.push({ name: `listener ${id}: add`, run: async () => void (await yard.addListener(listeners.get(id)!)) });
  for (const id of plan.clusters.removed) steps.push({ name: `cluster ${id}: remove`, run: () => retire(objects.detachCluster(yard, id), drain) });
  return steps;
}
