/**
 * The switchyard dashboard: a small Preact app served by the admin API at `/`. Views have stable URLs in the
 * fragment: #/overview (default), #/faults, #/faults/LISTENER, #/divergences, #/divergences/ID, #/traffic, #/traffic/LISTENER. It reads and
 * changes only through the public admin API (api.ts).
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';
import { onTokenChange, setToken, token, tokenNeeded } from './api.js';
import { Divergences, startDivergences } from './divergences.js';
import { Faults } from './faults.js';
import { Overview } from './overview.js';
import { current, onUpdate, refresh } from './store.js';
import { Traffic } from './traffic.js';

interface Route {
  view: 'overview' | 'faults' | 'divergences' | 'traffic';
  arg: string | undefined;
}

function parseHash(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').map((p) => decodeURIComponent(p));
  const view = parts[0];
  const arg = parts[1] === '' ? undefined : parts[1];
  if (view === 'faults' || view === 'divergences' || view === 'traffic') return { view, arg };
  return { view: 'overview', arg: undefined };
}

function TokenBar() {
  const [value, setValue] = useState('');
  if (!tokenNeeded()) {
    return token() !== null ? (
      <span class="token-state">
        token set for this tab{' '}
        <button type="button" class="link" onClick={() => setToken(null)}>
          forget
        </button>
      </span>
    ) : null;
  }
  return (
    <form
      id="token-form"
      class="token-bar"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(value.trim());
        setValue('');
        void refresh();
      }}
    >
      <span class="badge">read-only</span> This admin API needs its token:
      <input id="token-input" type="password" autocomplete="off" placeholder="admin token" value={value} onInput={(e) => setValue((e.currentTarget).value)} />
      <button type="submit">Use token</button>
      <small class="muted">kept for this tab only (sessionStorage)</small>
    </form>
  );
}

function App() {
  const [route, setRoute] = useState(parseHash(location.hash));
  const [, setTick] = useState(0);
  useEffect(() => {
    const onHash = (): void => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', onHash);
    const off = onUpdate(() => setTick((n) => n + 1));
    const offToken = onTokenChange(() => {
      setTick((n) => n + 1);
      void refresh();
      startDivergences();
    });
    void refresh();
    startDivergences();
    return () => {
      window.removeEventListener('hashchange', onHash);
      off();
      offToken();
    };
  }, []);
  const snap = current();
  const tab = (view: Route['view'], label: string) => (
    <a href={`#/${view}`} class={route.view === view ? 'active' : ''} aria-current={route.view === view ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <>
      <header>
        <h1>switchyard</h1>
        <nav>
          {tab('overview', 'Overview')}
          {tab('faults', 'Faults')}
          {tab('divergences', 'Divergences')}
          {tab('traffic', 'Traffic')}
        </nav>
        <TokenBar />
      </header>
      <main>
        {snap.error ? (
          <p class="error" id="api-error">
            admin API: {snap.error}
          </p>
        ) : null}
        {route.view === 'overview' ? <Overview snap={snap} /> : null}
        {route.view === 'faults' ? <Faults snap={snap} listener={route.arg} /> : null}
        {route.view === 'traffic' ? <Traffic snap={snap} listener={route.arg} /> : null}
        {route.view === 'divergences' ? <Divergences id={route.arg === undefined ? undefined : Number(route.arg)} /> : null}
      </main>
      <footer class="muted">{snap.at ? `updated ${new Date(snap.at).toLocaleTimeString()}` : 'loading…'}</footer>
    </>
  );
}

render(<App />, document.getElementById('app')!);
