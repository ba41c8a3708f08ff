import net from 'node:net';
import { once } from 'node:events';
import type { Attributes, MessageInfo, ProtocolCodecFactory, ErrorReplyRequest } from '../../src/protocols/protocol.js';

export interface TappedFrame {
  from: 'c' | 's';
  frame: Buffer;
  info: MessageInfo;
}

export interface CodecTap {
  port: number;
  /** Every frame seen, per connection in accept order. */
  connections: TappedFrame[][];
  /** Decode errors (a decode error closes that connection). */
  errors: Error[];
  close(): Promise<void>;
}

export interface CodecTapOptions {
  /**
   * Called on each request start frame; return an ErrorReplyRequest to answer the client with the codec's error
   * reply instead of forwarding that request (its remaining frames are dropped too). Tests using this should not
   * pipeline: the reply is written at once.
   */
  fail?: (attributes: Attributes | undefined, info: MessageInfo) => ErrorReplyRequest | undefined;
}

/**
 * A tiny relay on 127.0.0.1 between a real client and a real server that runs one codec per connection over both
 * directions and forwards every frame unchanged, recording frames and infos. Lets protocol tests check framing and
 * pairing against real client libraries and real servers, independent of the proxy's session code.
 */
export async function startCodecTap(factory: ProtocolCodecFactory, upstream: { host: string; port: number }, options: CodecTapOptions = {}): Promise<CodecTap> {
  const connections: TappedFrame[][] = [];
  const errors: Error[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const log: TappedFrame[] = [];
    connections.push(log);
    const codec = factory.create();
    const server = net.connect({ host: upstream.host, port: upstream.port, allowHalfOpen: true });
    for (const s of [client, server]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { client.destroy(); server.destroy(); });
    }
    let dropping = false;
    const pump = (from: 'c' | 's', chunk: Buffer | null): void => {
      const framer = from === 'c' ? codec.toUpstream : codec.toDownstream;
      const dest = from === 'c' ? server : client;
      try {
        if (chunk) framer.push(chunk);
        else framer.end();
        for (let f = framer.next(); f !== null; f = framer.next()) {
          const info = { ...framer.info! };
          log.push({ from, frame: Buffer.from(f), info });
          if (from === 'c' && info.start && !info.opaque && options.fail) {
            const req = options.fail(info.attributes, info);
            if (req) {
              const reply = codec.errorReply(req);
              if (!reply) throw new Error('codec has no error reply');
              for (const b of reply.frames) client.write(b);
              if (reply.close) client.end();
              dropping = !info.end;
              continue;
            }
          }
          if (from === 'c' && dropping) {
            if (info.end) dropping = false;
            continue;
          }
          dest.write(framer.encode(f));
        }
        if (!chunk) dest.end();
      } catch (err) {
        errors.push(err as Error);
        client.destroy();
        server.destroy();
      }
    };
    client.on('data', (c: Buffer) => pump('c', c));
    client.on('end', () => pump('c', null));
    server.on('data', (c: Buffer) => pump('s', c));
    server.on('end', () => pump('s', null));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    errors,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
