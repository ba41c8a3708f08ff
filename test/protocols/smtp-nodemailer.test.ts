import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import nodemailer from 'nodemailer';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { startCodecTap, type CodecTap, type TappedFrame } from '../helpers/codec-tap.js';
import { smtpOptionsSchema, smtpProtocol } from '../../src/protocols/smtp/index.js';
import type { Attributes, ErrorReplyRequest } from '../../src/protocols/protocol.js';

const factory = smtpProtocol.factory(smtpOptionsSchema.parse({}));

let server: SMTPServer;
let tap: CodecTap;
let failWith: ((a: Attributes | undefined) => ErrorReplyRequest | undefined) | undefined;
const received: { from: string; to: string[]; size: number; raw: Buffer }[] = [];

before(async () => {
  server = new SMTPServer({
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          size: raw.length,
          raw,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  tap = await startCodecTap(factory, { host: '127.0.0.1', port }, { fail: (a) => failWith?.(a) });
});

after(async () => {
  await tap.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Exchange {
  command: string | number | boolean | undefined;
  replies: string[];
  responses: number;
}

/** Pair replies with requests in order; `replaced` requests were answered by the tap's error reply, not the server. */
function pair(log: TappedFrame[], replaced: (a: Attributes | undefined) => boolean = () => false): { exchanges: Exchange[]; unsolicited: string[] } {
  const exchanges: Exchange[] = [];
  const unsolicited: string[] = [];
  let reply: Buffer[] = [];
  let un = false;
  for (const f of log) {
    if (f.info.opaque) continue;
    if (f.from === 'c') {
      if (f.info.start) exchanges.push({ command: f.info.attributes?.['command'], replies: [], responses: replaced(f.info.attributes) ? 0 : (f.info.responses ?? 1) });
      continue;
    }
    if (f.info.start) {
      reply = [];
      un = f.info.unsolicited === true;
    }
    reply.push(f.frame);
    if (!f.info.end) continue;
    const text = Buffer.concat(reply).toString('latin1');
    if (un) unsolicited.push(text);
    else {
      const ex = exchanges.find((e) => e.replies.length < e.responses);
      assert.ok(ex, `reply with no request: ${text}`);
      ex.replies.push(text);
    }
  }
  return { exchanges, unsolicited };
}

test('nodemailer sends a message with a 1 MiB attachment through the codec to smtp-server', async () => {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: tap.port, secure: false, ignoreTLS: true });
  const attachment = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < attachment.length; i++) attachment[i] = (i * 7919) & 0xff;
  const before = received.length;
  const info = await transport.sendMail({
    from: 'alice@example.com',
    to: ['bob@example.com', 'carol@example.com'],
    subject: 'smtp-nodemailer test',
    text: 'Hello\n.\nA line with only a dot above (dot-stuffed on the wire).',
    attachments: [{ filename: 'blob.bin', content: attachment }],
  });
  transport.close();
  assert.deepEqual(info.accepted, ['bob@example.com', 'carol@example.com']);
  assert.equal(received.length, before + 1);
  const msg = received.at(-1)!;
  assert.deepEqual(msg.to, ['bob@example.com', 'carol@example.com']);
  assert.ok(msg.size > 1.3 * 1024 * 1024, `message of ${msg.size} bytes received`);
  assert.ok(msg.raw.includes('\r\n.\r\nA line with only a dot'), 'the server un-stuffed the dot line');
  const log = tap.connections.at(-1)!;
  assert.ok(log.every((f) => f.frame.length <= 64 * 1024), 'bounded frames');
  const bodyFrames = log.filter((f) => f.from === 'c' && (f.info.attributes?.['command'] === 'DATA-BODY' || !f.info.start));
  assert.ok(bodyFrames.length > 20, `body forwarded in ${bodyFrames.length} frames`);
  const { exchanges, unsolicited } = pair(log);
  assert.match(unsolicited[0] ?? '', /^220 /, 'the greeting is unsolicited');
  assert.deepEqual(exchanges.slice(0, 6).map((e) => e.command), ['EHLO', 'MAIL', 'RCPT', 'RCPT', 'DATA', 'DATA-BODY']);
  assert.deepEqual(exchanges.slice(0, 6).map((e) => e.replies[0]?.slice(0, 3)), ['250', '250', '250', '250', '354', '250']);
  assert.ok(exchanges[0]?.replies[0]?.includes('250-PIPELINING\r\n'), 'multi-line EHLO reply is one message');
  assert.deepEqual(tap.errors, []);
});

test('error reply on RCPT: sendMail rejects with responseCode 451', async () => {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: tap.port, secure: false, ignoreTLS: true });
  failWith = (a) => (a?.['command'] === 'RCPT' && a['address'] === 'blocked@example.com' ? { message: 'recipient check unavailable' } : undefined);
  try {
    await assert.rejects(
      transport.sendMail({ from: 'alice@example.com', to: 'blocked@example.com', subject: 'one', text: 'first' }),
      (err: Error & { responseCode?: number; response?: string }) => {
        assert.equal(err.responseCode, 451);
        assert.match(err.response ?? '', /^451 4\.3\.0 recipient check unavailable/);
        return true;
      },
    );
  } finally {
    failWith = undefined;
    transport.close();
  }
  assert.deepEqual(tap.errors, []);
});

test('error reply on RCPT: the same connection continues with RSET and a new MAIL (nodemailer SMTPConnection)', async () => {
  const conns = tap.connections.length;
  const conn = new SMTPConnection({ host: '127.0.0.1', port: tap.port, secure: false, ignoreTLS: true });
  conn.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
  const send = (to: string, text: string) =>
    new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) =>
      conn.send({ from: 'alice@example.com', to: [to] }, `Subject: ${text}\r\n\r\n${text}\r\n`, (err, info) => (err ? reject(err) : resolve(info))),
    );
  failWith = (a) => (a?.['command'] === 'RCPT' && a['address'] === 'blocked@example.com' ? { message: 'recipient check unavailable' } : undefined);
  const before = received.length;
  try {
    await assert.rejects(send('blocked@example.com', 'first'), (err: Error & { responseCode?: number }) => {
      assert.equal(err.responseCode, 451);
      return true;
    });
  } finally {
    failWith = undefined;
  }
  await new Promise<void>((resolve, reject) => conn.reset((err) => (err ? reject(err) : resolve())));
  const info = await send('dave@example.com', 'second');
  assert.deepEqual(info.accepted, ['dave@example.com']);
  const closed = new Promise<void>((resolve) => conn.once('end', () => resolve()));
  conn.quit();
  await closed;
  assert.equal(tap.connections.length, conns + 1, 'one connection');
  assert.equal(received.length, before + 1);
  assert.deepEqual(received.at(-1)?.to, ['dave@example.com']);
  const { exchanges } = pair(tap.connections.at(-1)!, (a) => a?.['address'] === 'blocked@example.com');
  const cmds = exchanges.map((e) => e.command);
  const failed = cmds.indexOf('RCPT');
  assert.deepEqual(exchanges[failed]?.replies, [], 'the failed RCPT was answered by the proxy, not the server');
  assert.deepEqual(cmds.slice(failed + 1, failed + 6), ['RSET', 'MAIL', 'RCPT', 'DATA', 'DATA-BODY'], `got ${cmds.join(' ')}`);
  assert.deepEqual(exchanges.slice(failed + 1, failed + 6).map((e) => e.replies[0]?.slice(0, 3)), ['250', '250', '250', '354', '250']);
  assert.deepEqual(tap.errors, []);
});
