/**
 * Faults: per listener, the live faults with their options and injection counts; add (the form is generated from
 * GET /api/v1/faults/types, so fault plugins appear with their option schemas), edit, toggle (toxicity 0 and back),
 * remove; and the same proxies as the Toxiproxy-compatible API shows them.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, tokenNeeded } from './api.js';
import { addressText } from './overview.js';
import { refresh, type Fault, type ListenerJson, type Snapshot } from './store.js';

interface OptionSpec {
  description: string;
  type: 'integer' | 'number' | 'boolean' | 'string';
  default: number | boolean | string | null;
  min?: number;
  max?: number;
  choices?: Array<string | number>;
  unit?: string;
}
interface FaultType {
  type: string;
  description: string;
  defaultStream: string;
  defaultScope: string;
  listenerEffect?: string;
  options: Record<string, OptionSpec>;
}

let typesCache: FaultType[] | undefined;
/** Toxicity of a fault before the page switched it off, to switch it back on. */
const toggled = new Map<string, number>();

function errorText(err: unknown): string {
  if (err instanceof ApiError) return `${err.status} ${err.code}: ${err.message}`;
  return (err as Error).message;
}

function text(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function OptionInput({ name, spec, value, onInput }: { name: string; spec: OptionSpec; value: unknown; onInput: (v: unknown) => void }) {
  const id = `opt-${name}`;
  let input;
  if (spec.type === 'boolean') {
    input = <input id={id} name={name} type="checkbox" checked={value === true} onChange={(e) => onInput((e.currentTarget).checked)} />;
  } else if (spec.choices) {
    input = (
      <select id={id} name={name} value={text(value)} onChange={(e) => onInput((e.currentTarget).value)}>
        {spec.choices.map((c) => (
          <option key={String(c)} value={String(c)}>
            {String(c)}
          </option>
        ))}
      </select>
    );
  } else {
    const numeric = spec.type === 'integer' || spec.type === 'number';
    input = (
      <input
        id={id}
        name={name}
        type={numeric ? 'number' : 'text'}
        step={spec.type === 'integer' ? 1 : 'any'}
        min={spec.min}
        max={spec.max}
        value={text(value)}
        onInput={(e) => {
          const raw = (e.currentTarget).value;
          onInput(numeric ? (raw === '' ? undefined : Number(raw)) : raw);
        }}
      />
    );
  }
  return (
    <label class="field" for={id}>
      <span>
        {name}
        {spec.unit ? <span class="muted"> ({spec.unit})</span> : null}
      </span>
      {input}
      <small class="muted">{spec.description}</small>
    </label>
  );
}

function defaultsOf(t: FaultType | undefined): Record<string, unknown> {
  if (!t) return {};
  return Object.fromEntries(Object.entries(t.options).map(([k, o]) => [k, o.default]));
}

function AddFault({ listeners, types, initialListener }: { listeners: ListenerJson[]; types: FaultType[]; initialListener: string | undefined }) {
  const [listener, setListener] = useState(initialListener ?? listeners[0]?.id ?? '');
  const [typeName, setTypeName] = useState('latency');
  const type = types.find((t) => t.type === typeName) ?? types[0];
  const [stream, setStream] = useState('');
  const [name, setName] = useState('');
  const [toxicity, setToxicity] = useState(1);
  // The options typed so far, with the fault type they belong to. Switching the type shows that type's defaults in
  // the same render; an effect that reset them after the render could swallow what was typed in between.
  const [edited, setEdited] = useState<{ type: string; values: Record<string, unknown> } | undefined>(undefined);
  const attrs = edited !== undefined && edited.type === type?.type ? edited.values : defaultsOf(type);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  useEffect(() => {
    if (initialListener) setListener(initialListener);
  }, [initialListener]);
  if (!type) return <p class="muted">No fault types.</p>;
  const setOption = (t: FaultType, k: string, v: unknown): void =>
    setEdited((prev) => ({ type: t.type, values: { ...(prev !== undefined && prev.type === t.type ? prev.values : defaultsOf(t)), [k]: v } }));
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const attributes = Object.fromEntries(Object.entries(attrs).filter(([, v]) => v !== undefined && v !== null && v !== ''));
    const body: Record<string, unknown> = { type: type.type, toxicity, attributes };
    if (stream !== '') body['stream'] = stream;
    if (name !== '') body['name'] = name;
    try {
      const f = await api<Fault>('POST', `/api/v1/listeners/${encodeURIComponent(listener)}/faults`, body);
      setMessage({ ok: true, text: `added ${f.name} to ${listener}` });
      setName('');
      await refresh();
    } catch (err) {
      setMessage({ ok: false, text: errorText(err) });
    }
  };
  return (
    <form class="card" id="add-fault" onSubmit={(e) => void submit(e)}>
      <h3>Add a fault</h3>
      <div class="row">
        <label class="field" for="fault-listener">
          <span>listener</span>
          <select id="fault-listener" name="listener" value={listener} onChange={(e) => setListener((e.currentTarget).value)}>
            {listeners.map((l) => (
              <option key={l.id} value={l.id}>
                {l.id}
              </option>
            ))}
          </select>
        </label>
        <label class="field" for="fault-type">
          <span>type</span>
          <select id="fault-type" name="type" value={type.type} onChange={(e) => setTypeName((e.currentTarget).value)}>
            {types.map((t) => (
              <option key={t.type} value={t.type}>
                {t.type}
              </option>
            ))}
          </select>
        </label>
        <label class="field" for="fault-stream">
          <span>stream</span>
          <select id="fault-stream" name="stream" value={stream} onChange={(e) => setStream((e.currentTarget).value)}>
            <option value="">default ({type.defaultStream})</option>
            <option value="upstream">upstream</option>
            <option value="downstream">downstream</option>
          </select>
        </label>
        <label class="field" for="fault-toxicity">
          <span>toxicity</span>
          <input id="fault-toxicity" name="toxicity" type="number" min={0} max={1} step="0.05" value={toxicity} onInput={(e) => setToxicity(Number((e.currentTarget).value))} />
        </label>
        <label class="field" for="fault-name">
          <span>name</span>
          <input id="fault-name" name="name" type="text" placeholder={`${type.type}_${stream || type.defaultStream}`} value={name} onInput={(e) => setName((e.currentTarget).value)} />
        </label>
      </div>
      <p class="muted">{type.description}</p>
      <div class="row">
        {Object.entries(type.options).map(([k, spec]) => (
          <OptionInput key={`${type.type}.${k}`} name={k} spec={spec} value={attrs[k]} onInput={(v) => setOption(type, k, v)} />
        ))}
      </div>
      <button type="submit" disabled={tokenNeeded() || listener === ''}>
        Add fault
      </button>
      {message ? <p class={message.ok ? 'ok' : 'error'} role="status">{message.text}</p> : null}
    </form>
  );
}

function FaultRow({ listener, f, type }: { listener: string; f: Fault; type: FaultType | undefined }) {
  const [editing, setEditing] = useState(false);
  const [attrs, setAttrs] = useState<Record<string, unknown>>(f.attributes);
  const [error, setError] = useState<string | null>(null);
  const path = `/api/v1/listeners/${encodeURIComponent(listener)}/faults/${encodeURIComponent(f.name)}`;
  const act = async (fn: () => Promise<unknown>): Promise<void> => {
    try {
      setError(null);
      await fn();
      await refresh();
    } catch (err) {
      setError(errorText(err));
    }
  };
  const key = `${listener}/${f.name}`;
  const off = f.toxicity === 0;
  const ro = tokenNeeded();
  return (
    <tr data-fault={f.name}>
      <td>
        <strong>{f.name}</strong>
        <div class="muted">
          {f.type}, {f.stream}, {f.scope}
        </div>
      </td>
      <td class="num">{f.toxicity}</td>
      <td>
        {editing && type ? (
          <form
            class="inline"
            onSubmit={(e) => {
              e.preventDefault();
              void act(async () => {
                await api('PATCH', path, { attributes: attrs });
                setEditing(false);
              });
            }}
          >
            {Object.entries(type.options).map(([k, spec]) => (
              <OptionInput key={k} name={k} spec={spec} value={attrs[k]} onInput={(v) => setAttrs({ ...attrs, [k]: v })} />
            ))}
            <button type="submit" disabled={ro}>
              Save
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </form>
        ) : (
          <code>{Object.entries(f.attributes).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}</code>
        )}
        {error ? <p class="error">{error}</p> : null}
      </td>
      <td class="num">{f.injected}</td>
      <td class="actions">
        <button type="button" disabled={ro} onClick={() => setEditing(!editing)}>
          Edit
        </button>
        <button
          type="button"
          disabled={ro}
          onClick={() =>
            void act(async () => {
              if (off) {
                await api('PATCH', path, { toxicity: toggled.get(key) ?? 1 });
              } else {
                toggled.set(key, f.toxicity);
                await api('PATCH', path, { toxicity: 0 });
              }
            })
          }
        >
          {off ? 'Enable' : 'Disable'}
        </button>
        <button type="button" class="danger" disabled={ro} onClick={() => void act(() => api('DELETE', path))}>
          Remove
        </button>
      </td>
    </tr>
  );
}

/** The Toxiproxy view: each TCP listener with one fixed route as a Toxiproxy proxy (name, listen, upstream, enabled, toxics). */
function ToxiproxyView({ snap }: { snap: Snapshot }) {
  const rows = snap.listeners
    .filter((l) => l.faults)
    .map((l) => {
      const routes = snap.routes.filter((r) => r.listener === l.id);
      const cluster = routes.length === 1 ? snap.clusters.find((c) => c.id === routes[0]!.config.cluster) : undefined;
      return { l, upstream: cluster ? cluster.endpoints.map((e) => e.address).join(', ') : routes.length === 0 ? '—' : `${routes.length === 1 ? routes[0]!.engine?.mode ?? 'route' : 'routes'}` };
    });
  return (
    <table class="grid" id="toxiproxy-view">
      <thead>
        <tr>
          <th>name</th>
          <th>listen</th>
          <th>upstream</th>
          <th>enabled</th>
          <th>toxics</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(({ l, upstream }) => (
          <tr key={l.id}>
            <td>{l.id}</td>
            <td>
              <code>{addressText(l.address)}</code>
            </td>
            <td>
              <code>{upstream}</code>
            </td>
            <td>{l.down ? 'false' : 'true'}</td>
            <td>{(l.faults ?? []).map((f) => `${f.name} (${f.type})`).join(', ') || '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Faults({ snap, listener }: { snap: Snapshot; listener: string | undefined }) {
  const [types, setTypes] = useState<FaultType[] | undefined>(typesCache);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (typesCache) return;
    api<FaultType[]>('GET', '/api/v1/faults/types').then(
      (t) => setTypes((typesCache = t)),
      (err: unknown) => setError(errorText(err)),
    );
  }, [snap.error === null]);
  const tcp = snap.listeners.filter((l) => l.faults);
  const shown = listener ? tcp.filter((l) => l.id === listener) : tcp;
  return (
    <section id="faults">
      {error ? <p class="error">{error}</p> : null}
      {types ? <AddFault listeners={tcp} types={types} initialListener={listener} /> : null}
      {listener ? (
        <p>
          Showing listener <strong>{listener}</strong>. <a href="#/faults">All listeners</a>
        </p>
      ) : null}
      {shown.map((l) => (
        <div class="card" key={l.id} data-faults-of={l.id}>
          <h3>
            <a href={`#/faults/${encodeURIComponent(l.id)}`}>{l.id}</a> <span class="muted">{addressText(l.address)}</span>
          </h3>
          {(l.faults ?? []).length === 0 ? (
            <p class="muted">No active faults.</p>
          ) : (
            <table class="grid">
              <thead>
                <tr>
                  <th>fault</th>
                  <th>toxicity</th>
                  <th>options</th>
                  <th>injected</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {(l.faults ?? []).map((f) => (
                  <FaultRow key={f.name} listener={l.id} f={f} type={types?.find((t) => t.type === f.type)} />
                ))}
              </tbody>
            </table>
          )}
        </div>
      ))}
      <h2>Toxiproxy view</h2>
      <p class="muted">The same listeners as the Toxiproxy-compatible API names them: a proxy per listener, its faults as toxics.</p>
      <ToxiproxyView snap={snap} />
    </section>
  );
}
