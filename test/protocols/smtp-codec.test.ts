import { test } from 'node:test';
import assert from 'node:assert/strict';
import { protocolConformance, runTranscript, type TranscriptStep } from '../conformance/protocol-suite.js';
import { smtpOptionsSchema, smtpProtocol } from '../../src/protocols/smtp/index.js';

const factory = (o: Record<string, unknown> = {}) => smtpProtocol.factory(smtpOptionsSchema.parse(o));

// Captured from smtp-server 3.x with a raw client (the client spoke before the delayed greeting: an early talker).
const session: TranscriptStep[] = [
  { from: 'c', bytes: 'EHLO client.example\r\n' },
  { from: 's', bytes: '220 vm ESMTP cap\r\n250-vm Nice to meet you, runsc\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 AUTH LOGIN PLAIN\r\n' },
  { from: 'c', bytes: 'MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<carol@example.com>\r\nDATA\r\n' },
  { from: 's', bytes: '250 Accepted\r\n250 Accepted\r\n250 Accepted\r\n354 End data with <CR><LF>.<CR><LF>\r\n' },
  { from: 'c', bytes: 'Subject: hi\r\n\r\nHello\r\n..dot-stuffed line\r\n.\r\n' },
  { from: 's', bytes: '250 OK: message queued\r\n' },
  { from: 'c', bytes: 'RSET\r\n' },
  { from: 's', bytes: '250 Flushed\r\n' },
  { from: 'c', bytes: 'NOOP\r\n' },
  { from: 's', bytes: '250 OK\r\n' },
  { from: 'c', bytes: 'VRFY bob\r\n' },
  { from: 's', bytes: '252 Try to send something. No promises though\r\n' },
  { from: 'c', bytes: 'MAIL FROM:<>\r\n' },
  { from: 's', bytes: '250 Accepted\r\n' },
  { from: 'c', bytes: 'RCPT TO:<x@example.com>\r\n' },
  { from: 's', bytes: '250 Accepted\r\n' },
  { from: 'c', bytes: 'DATA\r\n' },
  { from: 's', bytes: '354 End data with <CR><LF>.<CR><LF>\r\n' },
  { from: 'c', bytes: '.\r\n' },
  { from: 's', bytes: '250 OK: message queued\r\n' },
  { from: 'c', bytes: 'BOGUS\r\n' },
  { from: 's', bytes: '500 Error: command not recognized\r\n' },
  { from: 'c', bytes: 'QUIT\r\n' },
  { from: 's', bytes: '221 Bye\r\n' },
];

const authAndRejects: TranscriptStep[] = [
  { from: 's', bytes: '220-mx.example ESMTP\r\n220-no UCE\r\n220 ready\r\n' },
  { from: 'c', bytes: 'EHLO me\r\n' },
  { from: 's', bytes: '250-mx.example\r\n250-AUTH LOGIN PLAIN\r\n250 CHUNKING\r\n' },
  { from: 'c', bytes: 'AUTH LOGIN\r\n' },
  { from: 's', bytes: '334 VXNlcm5hbWU6\r\n' },
  { from: 'c', bytes: 'YWxpY2U=\r\n' },
  { from: 's', bytes: '334 UGFzc3dvcmQ6\r\n' },
  { from: 'c', bytes: 'c2VjcmV0\r\n' },
  { from: 's', bytes: '235 2.7.0 Authentication successful\r\n' },
  { from: 'c', bytes: 'MAIL FROM:<a@x>\r\nRCPT TO:<nobody@x>\r\nDATA\r\n' },
  { from: 's', bytes: '250 ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no valid recipients\r\n' },
  // DATA was refused: the next line is a command, not a body
  { from: 'c', bytes: 'RSET\r\n' },
  { from: 's', bytes: '250 ok\r\n' },
  { from: 'c', bytes: 'MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 12\r\nHello world!BDAT 7 LAST\r\n\r\nbye\r\n' },
  { from: 's', bytes: '250 ok\r\n250 ok\r\n250 12 bytes\r\n250 queued\r\n' },
  { from: 'c', bytes: 'QUIT\r\n' },
  { from: 's', bytes: '221 bye\r\n421 4.4.2 closing\r\n' },
];

const starttls: TranscriptStep[] = [
  { from: 's', bytes: '220 mx ESMTP\r\n' },
  { from: 'c', bytes: 'EHLO me\r\n' },
  { from: 's', bytes: '250-mx\r\n250 STARTTLS\r\n' },
  { from: 'c', bytes: 'STARTTLS\r\n' },
  { from: 's', bytes: '220 2.0.0 Ready to start TLS\r\n' },
];
// after the 220 every chunk is one opaque frame, so the TLS bytes are checked apart from the chunking-independence suite
const tlsBytes: TranscriptStep[] = [
  { from: 'c', bytes: Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]) },
  { from: 's', bytes: Buffer.from([0x16, 0x03, 0x03, 0x00, 0x02, 9, 9]) },
];

const bigBody = 'X'.repeat(76) + '\r\n';
const big: TranscriptStep[] = [
  { from: 's', bytes: '220 mx\r\n' },
  { from: 'c', bytes: 'DATA\r\n' },
  { from: 's', bytes: '354 go\r\n' },
  { from: 'c', bytes: `Subject: big\r\n\r\n${bigBody.repeat(3000)}.\r\n` },
  { from: 's', bytes: '250 ok\r\n' },
];

protocolConformance('smtp session (smtp-server capture, pipelined)', factory(), session, { requests: 15, responses: 15 });
protocolConformance('smtp AUTH LOGIN, rejects, BDAT', factory(), authAndRejects, { requests: 13, responses: 13 });
protocolConformance('smtp STARTTLS', factory(), starttls, { requests: 2, responses: 2 });
protocolConformance('smtp large body', factory({ maxBufferedBytes: '1MiB' }), big, { requests: 2, responses: 2 });

test('smtp: attributes, greeting and DATA/DATA-BODY pairing', () => {
  const fr = runTranscript(factory().create(), session);
  const reqs = fr.filter((f) => f.from === 'c' && f.info.start).map((f) => f.info.attributes);
  assert.deepEqual(reqs.slice(0, 6), [
    { command: 'EHLO' },
    { command: 'MAIL', address: 'alice@example.com' },
    { command: 'RCPT', address: 'bob@example.com' },
    { command: 'RCPT', address: 'carol@example.com' },
    { command: 'DATA' },
    { command: 'DATA-BODY' },
  ]);
  assert.deepEqual(reqs[9], { command: 'MAIL', address: '' });
  const replies = fr.filter((f) => f.from === 's' && f.info.start);
  assert.equal(replies[0]?.info.unsolicited, true, 'greeting');
  assert.equal(replies[0]?.frame.toString(), '220 vm ESMTP cap\r\n');
  assert.equal(replies[1]?.frame.toString().split('\r\n').length, 6, 'a multi-line EHLO reply is one message');
  const body = fr.find((f) => f.info.attributes?.['command'] === 'DATA-BODY');
  assert.equal(body?.frame.toString(), 'Subject: hi\r\n\r\nHello\r\n..dot-stuffed line\r\n.\r\n', 'dot-stuffing left as is');
});

test('smtp: AUTH continuation lines are AUTH-DATA (credentials never become attributes)', () => {
  const fr = runTranscript(factory().create(), authAndRejects);
  const cmds = fr.filter((f) => f.from === 'c' && f.info.start).map((f) => f.info.attributes?.['command']);
  assert.deepEqual(cmds, ['EHLO', 'AUTH', 'AUTH-DATA', 'AUTH-DATA', 'MAIL', 'RCPT', 'DATA', 'RSET', 'MAIL', 'RCPT', 'BDAT', 'BDAT', 'QUIT']);
  const last = fr.filter((f) => f.from === 's').at(-1);
  assert.equal(last?.info.unsolicited, true, 'a reply after QUIT was answered answers nothing');
});

test('smtp: STARTTLS then opaque in both directions', () => {
  const fr = runTranscript(factory().create(), [...starttls, ...tlsBytes]);
  assert.deepEqual(fr.slice(-2).map((f) => [f.from, f.info.opaque, f.frame.length]), [['c', true, 10], ['s', true, 7]]);
  assert.equal(fr.filter((f) => f.info.opaque).length, 2);
});

test('smtp: large bodies and BDAT chunks are cut into bounded frames; terminator split across reads is found', () => {
  for (const split of ['whole', 'bytewise', 'random'] as const) {
    const fr = runTranscript(factory({ maxFrame: '8KiB', maxBufferedBytes: '1MiB' }).create(), big, split);
    const body = fr.filter((f) => f.from === 'c').slice(1);
    assert.ok(body.every((f) => f.frame.length <= 8192));
    assert.equal(body.filter((f) => f.info.start).length, 1);
    assert.equal(body.filter((f) => f.info.end).length, 1);
    assert.ok(body.at(-1)?.frame.toString().endsWith('\r\n.\r\n'));
  }
  const chunk = 'b'.repeat(50_000);
  const fr = runTranscript(factory({ maxFrame: '8KiB', maxBufferedBytes: '1MiB' }).create(), [
    { from: 's', bytes: '220 mx\r\n' },
    { from: 'c', bytes: `BDAT ${chunk.length} LAST\r\n${chunk}QUIT\r\n` },
  ]);
  const cs = fr.filter((f) => f.from === 'c');
  assert.ok(cs.length >= 7 && cs.every((f) => f.frame.length <= 8192));
  assert.deepEqual(cs.filter((f) => f.info.start).map((f) => f.info.attributes?.['command']), ['BDAT', 'QUIT']);
});

function decodeError(steps: TranscriptStep[], o: Record<string, unknown> = {}): { code?: string; message: string } {
  try {
    const codec = factory(o).create();
    runTranscript(codec, steps);
    for (const f of [codec.toUpstream, codec.toDownstream]) {
      f.end();
      while (f.next() !== null);
    }
  } catch (err) {
    return err as { code?: string; message: string };
  }
  assert.fail('expected a decode error');
}

test('smtp: malformed and oversized input fails with typed errors', () => {
  let err = decodeError([{ from: 's', bytes: 'hello there\r\n' }]);
  assert.equal(err.code, 'SWY_FRAME_MALFORMED');
  assert.match(err.message, /invalid reply line "hello there"/);
  err = decodeError([{ from: 's', bytes: '250-a\r\n251 b\r\n' }]);
  assert.equal(err.code, 'SWY_FRAME_MALFORMED');
  assert.match(err.message, /reply code changed/);
  err = decodeError([{ from: 'c', bytes: 'BDAT lots\r\n' }]);
  assert.equal(err.code, 'SWY_FRAME_MALFORMED');
  assert.match(err.message, /BDAT without a valid chunk size/);
  err = decodeError([{ from: 'c', bytes: 'HELO ' + 'h'.repeat(100) }], { maxLine: 64 });
  assert.equal(err.code, 'SWY_FRAME_TOO_LARGE');
  assert.match(err.message, /maxLine \(64\)/);
  err = decodeError([{ from: 's', bytes: '220 x\r\n' }, { from: 'c', bytes: 'DATA\r\n' }, { from: 's', bytes: '354 go\r\n' }, { from: 'c', bytes: 'body without end\r\n' }]);
  assert.equal(err.code, 'SWY_FRAME_TRUNCATED');
  assert.match(err.message, /message body/);
});

test('smtp: errorReply is 451 4.3.0 by default; status sets the code and enhanced class; 421 closes', () => {
  const codec = smtpProtocol.factory(smtpOptionsSchema.parse({})).create();
  assert.deepEqual(codec.errorReply({ message: 'try\r\nlater' }), { frames: [Buffer.from('451 4.3.0 try later\r\n')], close: false });
  assert.equal(codec.errorReply({ message: 'no', status: 554 })?.frames[0]?.toString(), '554 5.3.0 no\r\n');
  assert.deepEqual(codec.errorReply({ message: 'bye', status: 421 }), { frames: [Buffer.from('421 4.3.0 bye\r\n')], close: true });
  assert.deepEqual(codec.errorReply({ message: 'bye', close: true }), { frames: [Buffer.from('421 4.3.0 bye\r\n')], close: true });
  assert.equal(codec.errorReply({ message: 'x', status: 250 })?.frames[0]?.toString(), '451 4.3.0 x\r\n', 'not an error code: default');
});

test('smtp: a replaced RCPT gets no server reply; a replaced DATA does not switch to body mode', () => {
  const codec = factory().create();
  const run = (from: 'c' | 's', s: string) => runTranscript(codec, [{ from, bytes: s }]);
  run('s', '220 mx\r\n');
  run('c', 'MAIL FROM:<a@x>\r\n');
  run('s', '250 ok\r\n');
  const rcpt = run('c', 'RCPT TO:<b@x>\r\n');
  assert.equal(rcpt[0]?.info.attributes?.['command'], 'RCPT');
  codec.errorReply({ message: 'nope' });
  run('c', 'DATA\r\n');
  codec.errorReply({ message: 'nope' });
  const rset = run('c', 'RSET\r\n');
  assert.deepEqual(rset[0]?.info.attributes, { command: 'RSET' }, 'after a replaced DATA the next line is a command');
  const reply = run('s', '250 flushed\r\n');
  assert.equal(reply[0]?.info.unsolicited, undefined, 'the server reply pairs with RSET');
});

test('smtp: options have defaults', () => {
  assert.deepEqual(smtpOptionsSchema.parse({}), { maxFrame: 65536, maxLine: 65536 });
});

test('smtp: EHLO, HELO, STARTTLS and AUTH (with its continuation lines) are connection setup; mail commands are not', () => {
  const fr = runTranscript(factory().create(), [
    { from: 's', bytes: '220 mx ESMTP\r\n' },
    { from: 'c', bytes: 'EHLO me\r\n' },
    { from: 's', bytes: '250-mx\r\n250 AUTH PLAIN\r\n' },
    { from: 'c', bytes: 'AUTH PLAIN\r\n' },
    { from: 's', bytes: '334 \r\n' },
    { from: 'c', bytes: 'AGFsaWNlAHB3\r\n' },
    { from: 's', bytes: '235 ok\r\n' },
    { from: 'c', bytes: 'helo again\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nNOOP\r\n' },
  ]).filter((f) => f.from === 'c' && f.info.start);
  assert.deepEqual(
    fr.map((f) => `${String(f.info.attributes?.['command'])}:${f.info.setup === true}`),
    ['EHLO:true', 'AUTH:true', 'AUTH-DATA:true', 'HELO:true', 'MAIL:false', 'RCPT:false', 'NOOP:false'],
  );
});
