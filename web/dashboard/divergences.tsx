/**
 * Divergences: the events kept by the admin API, then live from its Server-Sent Events stream (no reload). One
 * event opens with the diff side by side, the variants' answers, the decision, the learned noise of its route,
 * and quarantine/restore for each variant.
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, subscribe, tokenNeeded } from './api.js';

export interface DivergenceEvent {
  id: number;
  route: string;
  mode: string;
  policy?: string;
  decision: string;
  request: { summary: string; endpoint?: string; attributes?: Record<string, unknown> };
  variants: Array<{ name: string; status: string; summary?: string; latencyMs?: number; agreed?: boolean; error?: string }>;
  fields: string[];
  diff: string;
  time: string;
}

interface Row {
  event: DivergenceEvent;
  /** Wall clock (ms) when the page received it live; undefined for the ones loaded at start. */
  receivedAt?: number;
}

const MAX_ROWS = 500;
let rows: Row[] = [];
let streaming = false;
let listed = false;
let connected = false;
const listeners = new Set<() => void>();
const changed = (): void => {
  for (const l of listeners) l();
};

function add(e: DivergenceEvent, live: boolean): void {
  if (rows.some((r) => r.event.id === e.id)) return;
  rows = [{ event: e, ...(live ? { receivedAt: Date.now() } : {}) }, ...rows].slice(0, MAX_ROWS);
}

/**
 * The live stream (started once; it reconnects with Last-Event-ID by itself), and the events the API kept (loaded
 * once it answers: called again when a token is given). Duplicates are dropped by id.
 */
export function startDivergences(): void {
  if (!streaming) {
    streaming = true;
    subscribe(
      '/api/v1/events',
      (type, data) => {
        if (type !== 'divergence') return;
        add(JSON.parse(data) as DivergenceEvent, true);
        changed();
      },
      (c) => {
        connected = c;
        changed();
      },
    );
  }
  if (listed) return;
  listed = true;
  api<DivergenceEvent[]>('GET', '/api/v1/divergences?limit=200').then(
    (list) => {
      for (const e of list) add(e, false);
      rows.sort((a, b) => b.event.id - a.event.id);
      changed();
    },
    () => {
      listed = false;
    },
  );
}

function useDivergences(): Row[] {
  const [, setTick] = useState(0);
  useEffect(() => {
    const l = (): void => setTick((n) => n + 1);
    listeners.add(l);
    return () => listeners.delete(l);
  }, []);
  return rows;
}

function EventRow({ row }: { row: Row }) {
  const ref = useRef<HTMLTableRowElement>(null);
  // When the row reached the screen: the tests compare it with the event's time (the proxy's clock, same machine).
  useLayoutEffect(() => {
    if (ref.current && !ref.current.dataset['renderedAt']) ref.current.dataset['renderedAt'] = String(Date.now());
  }, []);
  const e = row.event;
  const differing = e.variants.filter((v) => v.agreed === false).map((v) => v.name);
  return (
    <tr ref={ref} data-divergence={e.id} data-event-time={Date.parse(e.time)} data-received-at={row.receivedAt}>
      <td>
        <a href={`#/divergences/${e.id}`}>#{e.id}</a>
      </td>
      <td>{new Date(e.time).toLocaleTimeString()}</td>
      <td>{e.route}</td>
      <td>
        <span class={`decision decision-${e.decision}`}>{e.decision}</span>
      </td>
      <td>
        <code>{e.request.summary}</code>
      </td>
      <td>{differing.join(', ') || '—'}</td>
      <td>
        <code>{e.fields.slice(0, 4).join(' ')}</code>
        {e.fields.length > 4 ? ` +${e.fields.length - 4}` : ''}
      </td>
    </tr>
  );
}

interface DiffLine {
  op: string;
  path: string;
  left: string;
  right: string;
}

/** `+ /p: v` (only in the right), `- /p: v` (only in the left), `~ /p: a → b` (changed); other lines are kept as text. */
export function parseDiff(diff: string): { header: string; left: string; right: string; lines: DiffLine[]; other: string[] } {
  const all = diff.split('\n');
  const header = all[0] ?? '';
  const m = /^(\S+) \(([^)]*)\) vs (\S+) \(([^)]*)\)/.exec(header);
  const lines: DiffLine[] = [];
  const other: string[] = [];
  for (const line of all.slice(1)) {
    const d = /^([+\-~]) (\/\S*|\S+): (.*)$/.exec(line);
    if (!d) {
      if (line.trim() !== '') other.push(line);
      continue;
    }
    const [, op, path, rest] = d as unknown as [string, string, string, string];
    if (op === '~') {
      const [a, b] = rest.split(' → ');
      lines.push({ op, path, left: a ?? rest, right: b ?? '' });
    } else if (op === '+') lines.push({ op, path, left: '', right: rest });
    else lines.push({ op, path, left: rest, right: '' });
  }
  return { header, left: m ? `${m[1]} (${m[2]})` : 'reference', right: m ? `${m[3]} (${m[4]})` : 'other', lines, other };
}

/** GET /api/v1/routes/:id/noise: per endpoint (`*`: across endpoints) its exchanges and, per field, noise and raw counts. */
interface NoiseOfEndpoint {
  total: number;
  fields: Record<string, { noise: number; raw: number }>;
}

interface VariantState {
  name: string;
  role?: string;
  cluster?: string;
  state: string;
  quarantine?: unknown;
  latency?: { count: number; meanMs: number };
}

function Detail({ id }: { id: number }) {
  const all = useDivergences();
  const [event, setEvent] = useState<DivergenceEvent | undefined>(all.find((r) => r.event.id === id)?.event);
  const [variants, setVariants] = useState<VariantState[] | null>(null);
  const [noise, setNoise] = useState<unknown>(null);
  const [error, setError] = useState<string | null>(null);
  const load = async (route: string): Promise<void> => {
    try {
      setVariants(await api<VariantState[]>('GET', `/api/v1/routes/${encodeURIComponent(route)}/variants`));
    } catch (err) {
      setVariants(null);
      if (!(err instanceof ApiError && err.status === 404)) setError((err as Error).message);
    }
    try {
      setNoise(await api('GET', `/api/v1/routes/${encodeURIComponent(route)}/noise`));
    } catch {
      setNoise(null);
    }
  };
  useEffect(() => {
    const known = all.find((r) => r.event.id === id)?.event;
    if (known) setEvent(known);
    else api<DivergenceEvent>('GET', `/api/v1/divergences/${id}`).then(setEvent, (err: unknown) => setError((err as Error).message));
  }, [id]);
  useEffect(() => {
    if (event) void load(event.route);
  }, [event?.route]);
  if (!event) return <p class={error ? 'error' : 'muted'}>{error ?? 'loading…'}</p>;
  const diff = parseDiff(event.diff);
  const act = async (variant: string, what: 'quarantine' | 'restore'): Promise<void> => {
    try {
      setError(null);
      await api('POST', `/api/v1/routes/${encodeURIComponent(event.route)}/variants/${encodeURIComponent(variant)}/${what}`);
      await load(event.route);
    } catch (err) {
      setError(err instanceof ApiError ? `${err.status} ${err.code}: ${err.message}` : (err as Error).message);
    }
  };
  const noiseEntries = noise && typeof noise === 'object' ? Object.entries(noise as Record<string, NoiseOfEndpoint>) : [];
  return (
    <section id="divergence-detail" data-divergence-id={event.id}>
      <p>
        <a href="#/divergences">← all divergences</a>
      </p>
      <h2>
        Divergence #{event.id}: <span class={`decision decision-${event.decision}`}>{event.decision}</span>
      </h2>
      <p>
        <code>{event.request.summary}</code> on route <strong>{event.route}</strong> ({event.mode}
        {event.policy ? `, policy ${event.policy}` : ''}) at {new Date(event.time).toLocaleString()}
      </p>
      {error ? <p class="error">{error}</p> : null}
      <h3>Diff</h3>
      <table class="grid diff" id="diff">
        <thead>
          <tr>
            <th>field</th>
            <th>{diff.left}</th>
            <th>{diff.right}</th>
          </tr>
        </thead>
        <tbody>
          {diff.lines.map((l) => (
            <tr key={l.path} class={`diff-${l.op === '+' ? 'added' : l.op === '-' ? 'removed' : 'changed'}`} data-field={l.path}>
              <td>
                <code>{l.path}</code>
              </td>
              <td>
                <code>{l.left}</code>
              </td>
              <td>
                <code>{l.right}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {diff.other.length > 0 ? <pre>{diff.other.join('\n')}</pre> : null}
      <h3>Variants</h3>
      <table class="grid" id="variants">
        <thead>
          <tr>
            <th>variant</th>
            <th>answer (normalised)</th>
            <th>latency</th>
            <th>agreed</th>
            <th>state now</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {event.variants.map((v) => {
            const now = variants?.find((s) => s.name === v.name);
            return (
              <tr key={v.name} data-variant={v.name}>
                <td>
                  <strong>{v.name}</strong>
                  {now?.role ? <span class="muted"> {now.role}</span> : null}
                </td>
                <td>
                  <code>{v.summary ?? v.error ?? v.status}</code>
                </td>
                <td class="num">{v.latencyMs !== undefined ? `${v.latencyMs} ms` : '—'}</td>
                <td>{v.agreed === undefined ? '—' : v.agreed ? 'yes' : 'no'}</td>
                <td class="variant-state">{now ? now.state : '—'}</td>
                <td>
                  {now ? (
                    now.state === 'quarantined' ? (
                      <button type="button" disabled={tokenNeeded()} onClick={() => void act(v.name, 'restore')}>
                        Restore
                      </button>
                    ) : (
                      <button type="button" class="danger" disabled={tokenNeeded()} onClick={() => void act(v.name, 'quarantine')}>
                        Quarantine
                      </button>
                    )
                  ) : null}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <h3>Learned noise ({event.route})</h3>
      {noiseEntries.length === 0 ? (
        <p class="muted">Nothing learned (no filter pair configured, or no noise seen yet).</p>
      ) : (
        <table class="grid" id="noise">
          <thead>
            <tr>
              <th>endpoint</th>
              <th>exchanges</th>
              <th>field</th>
              <th>noise</th>
              <th>raw</th>
            </tr>
          </thead>
          <tbody>
            {noiseEntries.flatMap(([endpoint, n]) => {
              const fields = Object.entries(n.fields);
              if (fields.length === 0) {
                return [
                  <tr key={endpoint}>
                    <td>
                      <code>{endpoint}</code>
                    </td>
                    <td class="num">{n.total}</td>
                    <td class="muted" colSpan={3}>
                      no field differed between identical variants
                    </td>
                  </tr>,
                ];
              }
              return fields.map(([field, f]) => (
                <tr key={`${endpoint} ${field}`} data-endpoint={endpoint} data-field={field}>
                  <td>
                    <code>{endpoint}</code>
                  </td>
                  <td class="num">{n.total}</td>
                  <td>
                    <code>{field}</code>
                  </td>
                  <td class="num noise-count">{f.noise}</td>
                  <td class="num raw-count">{f.raw}</td>
                </tr>
              ));
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function Divergences({ id }: { id: number | undefined }) {
  const all = useDivergences();
  if (id !== undefined) return <Detail id={id} />;
  return (
    <section id="divergences">
      <p class="muted">
        Live from <code>/api/v1/events</code>: <span id="sse-state">{connected ? 'connected' : 'connecting…'}</span>. {all.length} event(s).
      </p>
      <table class="grid">
        <thead>
          <tr>
            <th>id</th>
            <th>time</th>
            <th>route</th>
            <th>decision</th>
            <th>request</th>
            <th>differing</th>
            <th>fields</th>
          </tr>
        </thead>
        <tbody>
          {all.map((r) => (
            <EventRow key={r.event.id} row={r} />
          ))}
        </tbody>
      </table>
    </section>
  );
}
