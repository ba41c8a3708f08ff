// Cost of a per-session AbortController lifecycle (what src/session/session.ts + src/upstream/connector.ts do per
// connection), against cheaper shapes. Usage: node bench/study/abort.js
const N = 200_000;
const noop = () => {};
const REASON = new Error('session closed');
function bench(name, fn) {
  for (let i = 0; i < 20_000; i++) fn();
  const t = performance.now();
  for (let i = 0; i < N; i++) fn();
  console.log(`| ${name} | ${(((performance.now() - t) * 1000) / N).toFixed(2)} |`);
}
console.log(`| per session (node ${process.version}) | µs |`);
console.log('|:--|--:|');
bench('new AbortController, add + remove an abort listener, abort() (as now)', () => {
  const c = new AbortController();
  c.signal.addEventListener('abort', noop, { once: true });
  c.signal.removeEventListener('abort', noop);
  c.abort();
});
bench('the same with abort(REASON), a preallocated reason (no DOMException)', () => {
  const c = new AbortController();
  c.signal.addEventListener('abort', noop, { once: true });
  c.signal.removeEventListener('abort', noop);
  c.abort(REASON);
});
bench('new AbortController, add + remove a listener, never aborted', () => {
  const c = new AbortController();
  c.signal.addEventListener('abort', noop, { once: true });
  c.signal.removeEventListener('abort', noop);
});
bench('a plain cancel callback slot', () => {
  const c = { cancel: undefined };
  c.cancel = noop;
  c.cancel = undefined;
});
