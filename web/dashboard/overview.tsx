/** Overview: every listener, cluster and route with its state, protocol, live rates and errors by code. */
import { Spark } from './chart.js';
import { rates, type ClusterJson, type ListenerJson, type RouteJson, type Snapshot } from './store.js';

export function addressText(a: ListenerJson['address']): string {
  if (!a) return '—';
  if (a.kind === 'unix') return `unix:${a.path ?? ''}`;
  const host = a.host ?? '';
  return `${host.includes(':') ? `[${host}]` : host}:${a.port ?? ''}`;
}

function Errors({ errors }: { errors: Record<string, number> }) {
  const entries = Object.entries(errors);
  if (entries.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="errors">
      {entries.map(([code, n]) => (
        <li key={code}>
          <code>{code}</code> {n}
        </li>
      ))}
    </ul>
  );
}

function State({ state }: { state: string }) {
  return <span class={`state state-${state}`}>{state}</span>;
}

function ListenerRow({ l }: { l: ListenerJson }) {
  const series = rates(l.id);
  return (
    <tr data-listener={l.id}>
      <td>
        <strong>{l.id}</strong>
        <div class="muted">{addressText(l.address)}</div>
      </td>
      <td>
        <State state={l.down ? 'down' : l.state} />
      </td>
      <td>{l.protocol ?? (l.config.transport === 'udp' ? 'udp' : `tcp (${l.config.framing?.toUpstream?.type ?? 'passthrough'})`)}</td>
      <td class="num">{l.stats.active}</td>
      <td>
        <Spark values={series.map((p) => p.connections)} unit="conn/s" label="connections per second" />
      </td>
      <td>
        <Spark values={series.map((p) => p.requests)} unit="req/s" label="requests per second" />
      </td>
      <td>
        <Spark values={series.map((p) => p.bytesUp)} unit="B/s" label="bytes per second to upstream" />
        <Spark values={series.map((p) => p.bytesDown)} unit="B/s" label="bytes per second to downstream" />
      </td>
      <td>
        <Errors errors={l.stats.errors} />
      </td>
      <td>{l.faults ? <a href={`#/faults/${encodeURIComponent(l.id)}`}>{l.faults.length} active</a> : <span class="muted">n/a</span>}</td>
    </tr>
  );
}

function ClusterRow({ c }: { c: ClusterJson }) {
  return (
    <tr data-cluster={c.id}>
      <td>
        <strong>{c.id}</strong>
        <div class="muted">{c.config.balancer}</div>
      </td>
      <td>
        <State state={c.panic ? 'panic' : c.state} />
      </td>
      <td>
        <ul class="endpoints">
          {c.endpoints.map((e) => (
            <li key={e.address}>
              <code>{e.address}</code> <span class={`health health-${e.health}`}>{e.health}</span>
              {e.ejected ? <span class="state state-failed"> ejected{e.ejectedUntil ? ` until ${new Date(e.ejectedUntil).toLocaleTimeString()}` : ''}</span> : null}
              {e.timesEjected > 0 ? <span class="muted"> ({e.timesEjected}× ejected)</span> : null} <span class="muted">{e.active} active</span>
            </li>
          ))}
        </ul>
      </td>
      <td class="num">{c.stats.active}</td>
      <td class="num">{c.stats.total}</td>
      <td>
        <Errors errors={c.stats.errors} />
      </td>
    </tr>
  );
}

function routeTarget(r: RouteJson): string {
  if (r.engine) return `${r.engine.mode}${r.engine.policy ? ` (${r.engine.policy})` : ''}: ${(r.engine.variants ?? []).map((v) => `${v.name}${v.state === 'active' ? '' : ` [${v.state}]`}`).join(', ')}`;
  return r.config.cluster ? `cluster ${r.config.cluster}` : '—';
}

function RouteRow({ r }: { r: RouteJson }) {
  return (
    <tr data-route={r.id}>
      <td>
        <strong>{r.id}</strong>
      </td>
      <td>
        {r.listener} <span class="muted">#{r.position}</span>
      </td>
      <td>
        <State state={r.state} />
      </td>
      <td>{routeTarget(r)}</td>
      <td class="num">{r.requests ?? r.stats.total}</td>
      <td>
        <Errors errors={r.stats.errors} />
      </td>
    </tr>
  );
}

export function Overview({ snap }: { snap: Snapshot }) {
  return (
    <section id="overview">
      <h2>Listeners</h2>
      <table class="grid">
        <thead>
          <tr>
            <th>listener</th>
            <th>state</th>
            <th>protocol</th>
            <th>active</th>
            <th>connections/s</th>
            <th>requests/s</th>
            <th>bytes/s up · down</th>
            <th>errors</th>
            <th>faults</th>
          </tr>
        </thead>
        <tbody>
          {snap.listeners.map((l) => (
            <ListenerRow key={l.id} l={l} />
          ))}
        </tbody>
      </table>
      {snap.listeners.length === 0 ? <p class="muted">No listeners.</p> : null}
      <h2>Clusters</h2>
      <table class="grid">
        <thead>
          <tr>
            <th>cluster</th>
            <th>state</th>
            <th>endpoints (health, ejection)</th>
            <th>active</th>
            <th>connections</th>
            <th>errors</th>
          </tr>
        </thead>
        <tbody>
          {snap.clusters.map((c) => (
            <ClusterRow key={c.id} c={c} />
          ))}
        </tbody>
      </table>
      <h2>Routes</h2>
      <table class="grid">
        <thead>
          <tr>
            <th>route</th>
            <th>listener</th>
            <th>state</th>
            <th>to</th>
            <th>requests</th>
            <th>errors</th>
          </tr>
        </thead>
        <tbody>
          {snap.routes.map((r) => (
            <RouteRow key={r.id} r={r} />
          ))}
        </tbody>
      </table>
    </section>
  );
}
