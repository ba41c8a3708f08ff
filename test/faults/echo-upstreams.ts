/**
 * Tiny real upstreams for fault tests: every answer echoes its request's id, so a client can check that each request
 * got its own answer, in order.
 */
import net from 'node:net';

export interface EchoUpstream {
  readonly port: number;
  /** Requests received so far (all connections). */
  readonly seen: string[];
  close(): Promise<void>;
}

async function serve(onConnection: (socket: net.Socket, seen: string[]) => void): Promise<EchoUpstream> {
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket, seen);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * HTTP/1.1 keep-alive server: each request `<METHOD> /<id>` (a body only with Content-Length) is answered `200` with
 * body `<id>`.
 * A request with `Upgrade` is answered `200` too (the server declines the upgrade), so the connection stays HTTP.
 */
export function startHttpEcho(): Promise<EchoUpstream> {
  return serve((socket, seen) => {
    let buf = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      buf += d;
      for (;;) {
        const at = buf.indexOf('\r\n\r\n');
        if (at < 0) return;
        const head = buf.slice(0, at);
        const bodyLength = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < at + 4 + bodyLength) return;
        buf = buf.slice(at + 4 + bodyLength);
        const path = head.split(' ')[1] ?? '';
        const id = path.slice(1);
        seen.push(id);
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(id)}\r\n\r\n${id}`);
      }
    });
    socket.on('end', () => socket.end());
  });
}

/** RESP server: each `ECHO <id>` (any command; its last argument) is answered with the bulk string `<id>`. */
export function startRedisEcho(): Promise<EchoUpstream> {
  return serve((socket, seen) => {
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        let parsed: { args: string[]; used: number } | undefined;
        try {
          parsed = parseRespArray(buf);
        } catch {
          socket.destroy(); // damaged input (a corrupt fault): a real server would drop the connection too
          return;
        }
        if (parsed === undefined) return;
        buf = buf.subarray(parsed.used);
        const id = parsed.args[parsed.args.length - 1] ?? '';
        seen.push(id);
        socket.write(`$${Buffer.byteLength(id)}\r\n${id}\r\n`);
      }
    });
    socket.on('end', () => socket.end());
  });
}

/** One RESP array of bulk strings from the front of `buf`, or undefined when incomplete. */
function parseRespArray(buf: Buffer): { args: string[]; used: number } | undefined {
  const line = (from: number): { text: string; next: number } | undefined => {
    const at = buf.indexOf('\r\n', from);
    return at < 0 ? undefined : { text: buf.toString('latin1', from, at), next: at + 2 };
  };
  const head = line(0);
  if (head === undefined) return undefined;
  if (!/^\*\d{1,4}$/.test(head.text)) throw new Error(`echo upstream: not a RESP array: ${JSON.stringify(head.text)}`);
  const n = Number(head.text.slice(1));
  const args: string[] = [];
  let at = head.next;
  for (let i = 0; i < n; i++) {
    const len = line(at);
    if (len === undefined) return undefined;
    if (!/^\$\d{1,6}$/.test(len.text)) throw new Error(`echo upstream: not a RESP bulk string: ${JSON.stringify(len.text)}`);
    const size = Number(len.text.slice(1));
    if (buf.length < len.next + size + 2) return undefined;
    args.push(buf.toString('latin1', len.next, len.next + size));
    at = len.next + size + 2;
  }
  return { args, used: at };
}
