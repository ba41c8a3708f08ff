/**
 * What the config schema needs to know about plugins: the names of the framers, protocol modules and fault types,
 * and the shape of their options. The registries (framing/registry.ts, protocols/registry.ts, faults/registry.ts)
 * implement these; config/ never sees a plugin's run-time side. runtime/config.ts passes the built-in registries
 * when a caller gives none.
 */
import type { z } from 'zod';
import type { Stream } from './fault-input.js';
import type { OptionSpecs } from './fault-options.js';

/** A plugin whose options are a zod object schema (strict: unknown keys rejected), without the `type` key. */
export interface OptionsSchemaEntry {
  readonly optionsSchema: z.ZodType;
}

/** Framers by name (`framing:` of listeners). */
export interface FramerCatalog {
  names(): string[];
  get(name: string): OptionsSchemaEntry | undefined;
}

/**
 * What a protocol module supports for routes' `match` (docs/routing.md): which attributes can pick a route and
 * when. Connection attributes (`sni`, `alpn`, `sourceAddress`, `destinationPort`) work on every TCP listener and are
 * not listed here.
 */
export interface ProtocolRouting {
  /**
   * Attributes of the connection's startup (PostgreSQL: database, user, application_name): a route matching on them
   * is decided once per connection, after the proxy has read the startup; the module provides the startup reader.
   */
  readonly startupAttributes?: readonly string[];
  /** Routes may match the module's request attributes: decided per request (HTTP) / per command (Redis). */
  readonly perRequest?: boolean;
  /**
   * Map forms of a route's `match`: key written in config → attribute prefix, e.g. `headers` → `header`
   * (`headers: {x-canary: "1"}` matches attribute `header.x-canary`); names are lower-cased.
   */
  readonly maps?: Readonly<Record<string, string>>;
  /** Routes may answer without an upstream and rewrite requests (`rewrite`, `redirect`, `directResponse`). */
  readonly answers?: boolean;
  /** Attributes a route cannot match on this protocol, with the reason (shown in the config error). */
  readonly unsupported?: Readonly<Record<string, string>>;
}

/** A protocol module as the schema sees it: its options, and the request attribute names `match` may use. */
export interface ProtocolEntry extends OptionsSchemaEntry {
  /** Attribute names (with a description each) the module reports on requests; absent = not checked. */
  readonly attributes?: Readonly<Record<string, string>>;
  /** Route matching support (absent: routes may match connection attributes only). */
  readonly routing?: ProtocolRouting;
}

/** Protocol modules by name (`protocol:` of listeners). */
export interface ProtocolCatalog {
  names(): string[];
  get(name: string): ProtocolEntry | undefined;
}

/**
 * The request attribute names a listener's `match` keys may use: those of its protocol (undefined = raw TCP, which
 * reports none). Undefined when the
 * module does not declare them (nothing to check against).
 */
export function matchKeysOf(protocols: ProtocolCatalog, protocol: string | undefined): { keys: string[]; text: string } | undefined {
  if (protocol === undefined) return { keys: [], text: 'a listener without a protocol (raw TCP) reports no request attributes: a fault with match never applies there' };
  const attrs = protocols.get(protocol)?.attributes;
  return attrs ? { keys: Object.keys(attrs), text: `protocol "${protocol}" reports: ${Object.keys(attrs).join(', ')}` } : undefined;
}

/** What a fault on a `protocol: wamp` listener may match (docs/wamp.md; that listener is not a protocol module). */
export const WAMP_FAULT_KEYS: readonly string[] = ['procedure', 'topic', 'realm', 'authrole'];

/** Every attribute name any protocol module reports (for faults whose listener is not known yet: route faults). */
export function allMatchKeys(protocols: ProtocolCatalog): string[] {
  const keys = new Set<string>(WAMP_FAULT_KEYS);
  for (const name of protocols.names()) for (const k of Object.keys(protocols.get(name)?.attributes ?? {})) keys.add(k);
  return [...keys].sort();
}

/** What the schema reads of a fault type: its options and the direction used when a fault names none. */
export interface FaultTypeEntry {
  readonly type: string;
  readonly options: OptionSpecs;
  readonly defaultStream: Stream;
  /** The scope used when a fault names none (grpc listeners split faults by it). */
  readonly defaultScope?: 'connection' | 'request';
}

/** Fault types by name (`faults:` of listeners and routes). */
export interface FaultCatalog {
  types(): string[];
  get(type: string): FaultTypeEntry | undefined;
}

/** The catalogs behind `protocol:` and `faults:`. */
export interface ChaosCatalogs {
  protocols: ProtocolCatalog;
  faults: FaultCatalog;
}
