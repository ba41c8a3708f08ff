/**
 * The demo's background traffic, so the dashboard's charts move: a few requests a second through the line proxy and
 * the N-variant proxy (requests the variants agree on, so no divergence is logged). Bounded in rate and in time:
 * at most `rate` requests a second, one at a time, stopping after `duration` ms or when stop() is called.
 */
import net from 'node:net';
import http from 'node:http';

export interface DemoLoadTargets {
  line: { host: string; port: number };
  http: { host: string; port: number; path: string };
}

export interface DemoLoad {
  /** Requests sent so far. */
  readonly sent: number;
  stop(): void;
}

function lineOnce(host: string, port: number, line: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port }, () => socket.end(`${line}\n`));
    socket.setTimeout(5000, () => socket.destroy());
    socket.on('data', () => undefined);
    socket.on('close', () => resolve());
    socket.on('error', () => undefined);
  });
}

function httpOnce(host: string, port: number, path: string): Promise<void> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve());
      res.on('error', () => resolve());
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve());
  });
}

export function startDemoLoad(targets: DemoLoadTargets, options: { rate?: number; duration?: number } = {}): DemoLoad {
  const interval = 1000 / (options.rate ?? 5);
  const until = Date.now() + (options.duration ?? 30 * 60_000);
  let sent = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async (): Promise<void> => {
    if (stopped || Date.now() >= until) return;
    const started = Date.now();
    const n = sent++;
    if (n % 2 === 0) await lineOnce(targets.line.host, targets.line.port, `demo traffic ${n}`);
    else await httpOnce(targets.http.host, targets.http.port, targets.http.path);
    if (stopped) return;
    timer = setTimeout(() => void tick(), Math.max(0, interval - (Date.now() - started)));
    timer.unref();
  };
  void tick();
  return {
    get sent() {
      return sent;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
