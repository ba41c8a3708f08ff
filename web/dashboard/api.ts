/**
 * The dashboard's only way to the proxy: the public admin API, same origin. The token (when the API needs one) is
 * asked once and kept in sessionStorage, so it lasts for the tab and is never written to disk by us.
 */
const TOKEN_KEY = 'switchyard.adminToken';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

type Listener = () => void;
const tokenListeners = new Set<Listener>();
/** True once the API answered 401: the page then asks for a token and disables its buttons until it has one. */
let needsToken = false;

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function tokenNeeded(): boolean {
  return needsToken && token() === null;
}

export function setToken(value: string | null): void {
  if (value === null || value === '') sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, value);
  for (const l of tokenListeners) l();
}

export function onTokenChange(l: Listener): () => void {
  tokenListeners.add(l);
  return () => tokenListeners.delete(l);
}

function headers(body: boolean): Record<string, string> {
  const h: Record<string, string> = { accept: 'application/json' };
  const t = token();
  if (t !== null) h['authorization'] = `Bearer ${t}`;
  if (body) h['content-type'] = 'application/json';
  return h;
}

/** One JSON call; an error answer (`{"error": {code, message}}`) is thrown as an ApiError. */
export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, { method, headers: headers(body !== undefined), body: body === undefined ? null : JSON.stringify(body), cache: 'no-store' });
  const text = await res.text();
  let value: unknown;
  try {
    value = text === '' ? undefined : JSON.parse(text);
  } catch {
    value = text;
  }
  if (res.status === 401) {
    const wasNeeded = tokenNeeded();
    needsToken = true;
    if (token() !== null) setToken(null); // a wrong token: forget it and ask again
    else if (!wasNeeded) for (const l of tokenListeners) l();
  }
  if (!res.ok) {
    const err = (value as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message ?? `${method} ${path}: HTTP ${res.status}`);
  }
  return value as T;
}

/**
 * Server-Sent Events read with fetch (EventSource cannot send the Authorization header): calls `onEvent` for
 * each event, reconnects after `retry` ms with Last-Event-ID, until the returned function is called.
 */
export function subscribe(path: string, onEvent: (type: string, data: string, id: string | undefined) => void, onState: (connected: boolean) => void): () => void {
  let stopped = false;
  let lastId: string | undefined;
  let controller: AbortController | undefined;
  let retry = 2000;
  const run = async (): Promise<void> => {
    while (!stopped) {
      // Without the token the stream would only be refused: wait until one is given.
      while (tokenNeeded() && !stopped) await new Promise<void>((resolve) => {
        const off = onTokenChange(() => {
          off();
          resolve();
        });
      });
      if (stopped) break;
      controller = new AbortController();
      try {
        const h: Record<string, string> = { ...headers(false), accept: 'text/event-stream' };
        if (lastId !== undefined) h['last-event-id'] = lastId;
        const res = await fetch(path, { headers: h, signal: controller.signal, cache: 'no-store' });
        if (res.status === 401) {
          needsToken = true;
          for (const l of tokenListeners) l();
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        onState(true);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i: number;
          while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(buf.slice(i).match(/^\r?\n\r?\n/)![0].length + i);
            let type = 'message';
            let id: string | undefined;
            const data: string[] = [];
            for (const line of block.split(/\r?\n/)) {
              if (line.startsWith(':')) continue;
              const c = line.indexOf(':');
              const field = c < 0 ? line : line.slice(0, c);
              const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
              if (field === 'event') type = v;
              else if (field === 'data') data.push(v);
              else if (field === 'id') id = v;
              else if (field === 'retry' && /^\d+$/.test(v)) retry = Number(v);
            }
            if (id !== undefined) lastId = id;
            if (data.length > 0) onEvent(type, data.join('\n'), id);
          }
        }
      } catch {
        // reconnect below
      }
      onState(false);
      if (!stopped) await new Promise((r) => setTimeout(r, retry));
    }
  };
  void run();
  return () => {
    stopped = true;
    controller?.abort();
  };
}
