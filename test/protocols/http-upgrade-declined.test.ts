import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../helpers/yard.js';
import { connect } from '../helpers/net.js';
import { startHttpEcho } from '../faults/echo-upstreams.js';

/** Read from the socket until `want` complete `200` responses arrived; returns their bodies. */
function readResponses(socket: import('node:net').Socket, want: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const bodies: string[] = [];
    const onData = (d: Buffer): void => {
      buf += d.toString('latin1');
      for (;;) {
        const at = buf.indexOf('\r\n\r\n');
        if (at < 0) break;
        const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, at))?.[1] ?? 0);
        if (buf.length < at + 4 + len) break;
        bodies.push(buf.slice(at + 4, at + 4 + len));
        buf = buf.slice(at + 4 + len);
      }
      if (bodies.length >= want) {
        socket.off('data', onData);
        resolve(bodies);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed after ${JSON.stringify(bodies)}`)));
  });
}

for (const faults of [undefined, [{ type: 'latency', attributes: { latency: 1 } }]]) {
  test(`a request pipelined behind an Upgrade the server answers with 200 is sent on without more client bytes (${faults ? 'with a fault' : 'no fault'})`, async () => {
    const up = await startHttpEcho();
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${up.port}`], listener: { protocol: 'http', ...(faults ? { faults } : {}) } });
    const client = await connect(port);
    try {
      const answers = readResponses(client, 2);
      // both requests in one write: the second is held until the first is answered, then must go on by itself
      client.write('GET /up HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.deepEqual(await answers, ['up', 'next']);
      assert.deepEqual(up.seen, ['up', 'next']);
    } finally {
      client.destroy();
      await yard.close();
      await up.close();
    }
  });
}
