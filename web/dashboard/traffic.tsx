/**
 * Traffic: a live tail of one listener's recent requests (raw TCP: connections; gRPC: calls), newest on top, from
 * GET /api/v1/listeners/:id/traffic polled every second with `since` (only new records travel), and the listener's
 * on/off switch (PUT /api/v1/listeners/:id/traffic). URL: #/traffic/LISTENER.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, onTokenChange, tokenNeeded } from './api.js';
import type { ListenerJson, Snapshot } from './store.js';

export interface TrafficRecord {
  seq: number;
  at: number;
  durationMs: number;
  request: Record<string, string | number | boolean>;
  answer: string;
  error?: string;
  route?: string;
  cluster?: string;
  endpoint?: string;
}
interface TrafficPage {
  listener: string;
  enabled: boolean;
  perSecond: number;
  keep: number;
  records: TrafficRecord[];
  next: number;
}

/** Rows the table shows at most (the newest). */
const SHOWN = 200;
const POLL_MS = 1000;

function errorText(err: unknown): string {
  if (err instanceof ApiError) return `${err.status} ${err.code}: ${err.message}`;
  return (err as Error).message;
}

/** The request in one line: "GET /path", "SET key", "/pkg.Svc/Method ↑12 B ↓30 B" (gRPC), or its attributes as key=value. */
export function requestText(r: Record<string, string | number | boolean>): string {
  if (typeof r['service'] === 'string' && typeof r['method'] === 'string') return `${r['method']}  ↑${String(r['bytesIn'] ?? 0)} B ↓${String(r['bytesOut'] ?? 0)} B`;
  if (typeof r['method'] === 'string') return `${r['method']} ${String(r['path'] ?? '')}${r['query'] ? `?${String(r['query'])}` : ''}`;
  if (typeof r['command'] === 'string') return [r['command'], r['subcommand'], r['key']].filter((v) => v !== undefined && v !== '').map(String).join(' ');
  if (r['source'] !== undefined) return `${String(r['source'])}  ↑${String(r['bytesIn'] ?? 0)} B ↓${String(r['bytesOut'] ?? 0)} B`;
  return Object.entries(r)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
}

/** gRPC status code names that are failures (every one but OK). */
const GRPC_FAILURES = /^(CANCELLED|UNKNOWN|INVALID_ARGUMENT|DEADLINE_EXCEEDED|NOT_FOUND|ALREADY_EXISTS|PERMISSION_DENIED|RESOURCE_EXHAUSTED|FAILED_PRECONDITION|ABORTED|OUT_OF_RANGE|UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA_LOSS|UNAUTHENTICATED)$/;

function answerClass(rec: TrafficRecord): string {
  if (rec.error !== undefined) return 'error';
  const a = rec.answer;
  if (typeof rec.request['service'] === 'string' && GRPC_FAILURES.test(a)) return 'error';
  if (/^[45]\d\d$/.test(a) || a.startsWith('-') || /^(ERR|ErrorResponse|SERVER_ERROR|CLIENT_ERROR|ERROR)/.test(a)) return 'error';
  return '';
}

/** Listeners that have a traffic tail (TCP transport: protocol, gRPC and raw TCP listeners). */
function tapped(listeners: ListenerJson[]): ListenerJson[] {
  return listeners.filter((l) => l.config.transport === 'tcp');
}

export function Traffic({ snap, listener }: { snap: Snapshot; listener: string | undefined }) {
  const candidates = tapped(snap.listeners);
  const id = listener ?? candidates[0]?.id;
  const [rows, setRows] = useState<TrafficRecord[]>([]);
  const [settings, setSettings] = useState<Omit<TrafficPage, 'records' | 'next' | 'listener'> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [paused, setPaused] = useState(false);
  /** Read by the poller (pausing keeps the rows and the `since` position). */
  const pausedRef = useRef(false);
  pausedRef.current = paused;

  useEffect(() => {
    setRows([]);
    setSettings(null);
    setError(null);
    setMessage(null);
    if (id === undefined) return;
    let since = 0;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async (): Promise<void> => {
      timer = undefined;
      if (stopped) return;
      if (!tokenNeeded() && !pausedRef.current) {
        try {
          const page = await api<TrafficPage>('GET', `/api/v1/listeners/${encodeURIComponent(id)}/traffic?since=${since}`);
          if (stopped) return;
          // a listener replaced meanwhile starts over at seq 1
          if (page.next < since) setRows([]);
          since = page.next;
          setSettings({ enabled: page.enabled, perSecond: page.perSecond, keep: page.keep });
          if (page.records.length > 0) setRows((old) => [...page.records.slice().reverse(), ...old].slice(0, SHOWN));
          setError(null);
        } catch (err) {
          if (!stopped) setError(errorText(err));
        }
      }
      if (!stopped) timer = setTimeout(() => void poll(), POLL_MS);
    };
    void poll();
    const offToken = onTokenChange(() => {
      if (timer !== undefined) {
        clearTimeout(timer);
        void poll();
      }
    });
    return () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      offToken();
    };
  }, [id]);

  const toggle = async (): Promise<void> => {
    if (id === undefined || settings === null) return;
    try {
      const next = await api<TrafficPage>('PUT', `/api/v1/listeners/${encodeURIComponent(id)}/traffic`, { enabled: !settings.enabled });
      setSettings({ enabled: next.enabled, perSecond: next.perSecond, keep: next.keep });
      setMessage(`traffic tail ${next.enabled ? 'on' : 'off'} for ${id}`);
    } catch (err) {
      setMessage(errorText(err));
    }
  };

  const readOnly = tokenNeeded();
  const current = snap.listeners.find((l) => l.id === id);
  return (
    <section id="traffic">
      <h2>Traffic</h2>
      {candidates.length === 0 ? <p class="muted">No TCP listeners.</p> : null}
      <form class="inline" onSubmit={(e) => e.preventDefault()}>
        <label class="field" for="traffic-listener">
          <span>listener</span>
          <select id="traffic-listener" value={id ?? ''} onChange={(e) => (location.hash = `#/traffic/${encodeURIComponent((e.currentTarget).value)}`)}>
            {candidates.map((l) => (
              <option key={l.id} value={l.id}>
                {l.id} ({l.protocol ?? 'tcp'})
              </option>
            ))}
          </select>
        </label>
        {settings !== null ? (
          <span id="traffic-state">
            <span class={`state ${settings.enabled ? 'state-started' : 'state-stopping'}`}>{settings.enabled ? 'recording' : 'off'}</span>{' '}
            <span class="muted">
              at most {settings.perSecond}/s sampled, {settings.keep} kept
            </span>
          </span>
        ) : null}
        <button type="button" id="traffic-toggle" disabled={readOnly || settings === null} title={readOnly ? 'needs the admin token' : undefined} onClick={() => void toggle()}>
          {settings?.enabled === true ? 'Turn off' : 'Turn on'}
        </button>
        <button type="button" id="traffic-pause" onClick={() => setPaused(!paused)}>
          {paused ? 'Resume' : 'Pause'}
        </button>
      </form>
      {message ? <p id="traffic-message" class="muted">{message}</p> : null}
      {error ? <p class="error">{error}</p> : null}
      {settings?.enabled === false && current?.protocol === undefined ? (
        <p class="muted">Raw TCP listeners record one row per connection, at its close; the tail is off for them by default.</p>
      ) : null}
      <table class="grid" id="traffic-table">
        <thead>
          <tr>
            <th>time</th>
            <th>request</th>
            <th>answer</th>
            <th>error</th>
            <th class="num">ms</th>
            <th>route</th>
            <th>cluster</th>
            <th>endpoint</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.seq} class="traffic-row" data-seq={r.seq}>
              <td class="muted">{new Date(r.at).toLocaleTimeString()}</td>
              <td>
                <code>{requestText(r.request)}</code>
              </td>
              <td class={answerClass(r)}>
                <code>{r.answer}</code>
              </td>
              <td class="error">{r.error ?? ''}</td>
              <td class="num">{r.durationMs.toFixed(1)}</td>
              <td>{r.route ?? '—'}</td>
              <td>{r.cluster ?? '—'}</td>
              <td>{r.endpoint ?? '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length === 0 && settings !== null ? <p class="muted" id="traffic-empty">No requests recorded yet{settings.enabled ? '' : ' (the tail is off)'}.</p> : null}
    </section>
  );
}
