import { test } from 'node:test';
import assert from 'node:assert/strict';
import { protocolConformance, runTranscript, type TranscriptStep } from '../conformance/protocol-suite.js';
import { httpProtocol, httpOptionsSchema, HttpCodec, reasonPhrase } from '../../src/protocols/http/index.js';
import type { MessageInfo, ProtocolFramer } from '../../src/protocols/protocol.js';

const factory = httpProtocol.factory(httpOptionsSchema.parse({}));
const codec = (opts: Record<string, unknown> = {}): HttpCodec => httpProtocol.factory(httpOptionsSchema.parse(opts)).create() as HttpCodec;

interface Got {
  frame: string;
  info: MessageInfo;
}

function drain(framer: ProtocolFramer): Got[] {
  const out: Got[] = [];
  for (let f = framer.next(); f !== null; f = framer.next()) out.push({ frame: f.toString('latin1'), info: { ...framer.info! } });
  return out;
}

function feed(framer: ProtocolFramer, data: string | Buffer): Got[] {
  framer.push(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  return drain(framer);
}

function throwsCode(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    const e = err as { code?: string; message?: string };
    assert.equal(e.code, code, `code of ${e.message}`);
    assert.match(e.message ?? '', message);
    return true;
  });
}

// ---------------------------------------------------------------- conformance transcripts

/**
 * The shared suite's structure check also compares opaque frames, which are one per chunk by definition (so they
 * depend on chunking); for tunnels run the same checks with opaque frames compared as bytes only.
 */
function tunnelConformance(name: string, f: typeof factory, steps: TranscriptStep[], expect: { requests: number; responses: number }): void {
  test(`${name}: wire-exact, balanced, structure independent of chunking (opaque frames excepted)`, () => {
    const sent = (from: 'c' | 's'): Buffer => Buffer.concat(steps.filter((t) => t.from === from).map((t) => (typeof t.bytes === 'string' ? Buffer.from(t.bytes, 'latin1') : t.bytes)));
    let reference: string[] | undefined;
    for (const [split, seed] of [['whole', 1], ['bytewise', 1], ['random', 3], ['random', 11], ['random', 99]] as const) {
      const c = f.create();
      const frames = runTranscript(c, steps, split, seed);
      for (const from of ['c', 's'] as const) {
        assert.deepEqual(Buffer.concat(frames.filter((x) => x.from === from).map((x) => x.frame)), sent(from), `${split}: bytes from ${from}`);
      }
      let requests = 0;
      let answered = 0;
      const structure: string[] = [];
      let opaqueSeen = false;
      for (const x of frames) {
        const framer = x.from === 'c' ? c.toUpstream : c.toDownstream;
        assert.equal(framer.encode(x.frame), x.frame);
        if (x.info.opaque) {
          assert.ok(x.info.start && x.info.end, 'opaque frames have start and end');
          opaqueSeen = true;
          continue;
        }
        assert.equal(opaqueSeen && x.from === 's', false, 'no parsed server frame after the switch');
        if (x.from === 'c' && x.info.start) requests++;
        if (x.from === 's' && x.info.end && !x.info.unsolicited) answered++;
        if (x.info.start) structure.push(`${x.from} start ${JSON.stringify(x.info.attributes ?? {})}`);
        if (x.info.end) structure.push(`${x.from} end`);
      }
      assert.ok(opaqueSeen, 'the tunnel carries opaque frames');
      assert.equal(requests, expect.requests);
      assert.equal(answered, expect.responses);
      reference ??= structure;
      assert.deepEqual(structure, reference, `${split} ${seed}`);
    }
  });
}

protocolConformance(
  'http pipelined GETs',
  factory,
  [
    {
      from: 'c',
      bytes:
        'GET /a?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n' +
        'GET /b HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n' +
        'GET /c HTTP/1.1\r\nHost: example.com\r\n\r\n',
    },
    {
      from: 's',
      bytes:
        'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello' +
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n' +
        'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
    },
  ],
  { requests: 3, responses: 3 },
);

protocolConformance(
  'http POST chunked with extensions and trailers',
  factory,
  [
    {
      from: 'c',
      bytes:
        'POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n' +
        '5;name=value\r\nhello\r\n' +
        'A ; quoted="a;b"\r\n0123456789\r\n' +
        '0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n',
    },
    { from: 's', bytes: 'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n' },
    { from: 'c', bytes: 'GET /next HTTP/1.1\r\nHost: h\r\n\r\n' },
    { from: 's', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi' },
  ],
  { requests: 2, responses: 2 },
);

protocolConformance(
  'http HEAD (Content-Length and chunked announced, no body)',
  factory,
  [
    { from: 'c', bytes: 'HEAD /big HTTP/1.1\r\nHost: h\r\n\r\nHEAD /chunked HTTP/1.1\r\nHost: h\r\n\r\nGET /small HTTP/1.1\r\nHost: h\r\n\r\n' },
    {
      from: 's',
      bytes:
        'HTTP/1.1 200 OK\r\nContent-Length: 123456\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc',
    },
  ],
  { requests: 3, responses: 3 },
);

protocolConformance(
  'http Expect: 100-continue',
  factory,
  [
    { from: 'c', bytes: 'PUT /file HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n' },
    { from: 's', bytes: 'HTTP/1.1 100 Continue\r\n\r\n' },
    { from: 'c', bytes: '0123456789' },
    { from: 's', bytes: 'HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n' },
  ],
  { requests: 1, responses: 1 },
);

protocolConformance(
  'http 204 and 304 have no body',
  factory,
  [
    { from: 'c', bytes: 'DELETE /x HTTP/1.1\r\nHost: h\r\n\r\nGET /y HTTP/1.1\r\nHost: h\r\nIf-None-Match: "v1"\r\n\r\nGET /z HTTP/1.1\r\nHost: h\r\n\r\n' },
    {
      from: 's',
      bytes:
        'HTTP/1.1 204 No Content\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n' +
        'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 999\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz',
    },
  ],
  { requests: 3, responses: 3 },
);

tunnelConformance(
  'http Upgrade to a raw protocol',
  factory,
  [
    { from: 'c', bytes: 'GET /chat HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: raw-echo\r\n\r\n' },
    { from: 's', bytes: 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: raw-echo\r\n\r\nHELLO FROM SERVER\n' },
    { from: 'c', bytes: 'GET / HTTP/1.1 is not http anymore\r\n\r\n' },
    { from: 's', bytes: 'echo: GET / HTTP/1.1 is not http anymore\r\n\r\n' },
  ],
  { requests: 1, responses: 1 },
);

tunnelConformance(
  'http CONNECT tunnel',
  factory,
  [
    { from: 'c', bytes: 'CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n' },
    { from: 's', bytes: 'HTTP/1.1 200 Connection Established\r\n\r\n' },
    { from: 'c', bytes: Buffer.from([0, 0, 0, 8, 4, 210, 22, 47]) },
    { from: 's', bytes: 'N' },
  ],
  { requests: 1, responses: 1 },
);

protocolConformance(
  'http/1.0 keep-alive with Content-Length',
  factory,
  [
    { from: 'c', bytes: 'GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' },
    { from: 's', bytes: 'HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n10' },
    { from: 'c', bytes: 'POST /2 HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc' },
    { from: 's', bytes: 'HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n20' },
  ],
  { requests: 2, responses: 2 },
);

// The suite never signals EOF; a close-delimited body ends only there, so it gets its own check with end().
test('http/1.0 close-delimited response: same structure for every split, ends at EOF', () => {
  const steps: TranscriptStep[] = [
    { from: 'c', bytes: 'GET /old HTTP/1.0\r\nUser-Agent: x\r\n\r\n' },
    { from: 's', bytes: 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nline one\nline two\n' },
  ];
  const structures: string[] = [];
  for (const split of ['whole', 'bytewise', 'random'] as const) {
    const c = factory.create();
    const frames = runTranscript(c, steps, split, 5);
    c.toDownstream.end();
    const tail = drain(c.toDownstream);
    const all = [...frames.map((f) => ({ from: f.from, frame: f.frame.toString('latin1'), info: f.info })), ...tail.map((t) => ({ from: 's' as const, ...t }))];
    assert.equal(all.filter((f) => f.from === 's').map((f) => f.frame).join(''), steps[1]!.bytes);
    const last = all[all.length - 1]!;
    assert.equal(last.info.end, true, 'EOF ends the response');
    assert.equal(all.filter((f) => f.from === 's' && f.info.end).length, 1);
    structures.push(all.filter((f) => f.info.start || f.info.end).map((f) => `${f.from}${f.info.start ? 'S' : ''}${f.info.end ? 'E' : ''}`).join(' '));
    assert.equal((c as HttpCodec).keepAlive, false);
  }
  assert.deepEqual(structures, [structures[0], structures[0], structures[0]]);
  assert.equal(structures[0], 'cSE sS sE');
});

// ---------------------------------------------------------------- request framer

test('request attributes: method upper case, path, query, host lower case with port, version', () => {
  const c = codec();
  const got = feed(c.toUpstream, 'get /p/a%20th?q=1&r=?2 HTTP/1.1\r\nHOST: API.Example.com:8080\r\n\r\nOPTIONS * HTTP/1.0\r\n\r\n');
  assert.equal(got.length, 2);
  assert.deepEqual(got[0]!.info, { start: true, end: true, attributes: { method: 'GET', path: '/p/a%20th', query: 'q=1&r=?2', host: 'api.example.com:8080', version: '1.1' } });
  assert.deepEqual(got[1]!.info.attributes, { method: 'OPTIONS', path: '*', query: '', host: '', version: '1.0' });
});

test('pipelined requests in one chunk are separate messages; bodies are separate frames', () => {
  const c = codec();
  const got = feed(c.toUpstream, 'POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\nPOST /c HTTP/1.1\r\ncontent-length: 0\r\n\r\n');
  assert.deepEqual(
    got.map((g) => [g.frame, g.info.start, g.info.end]),
    [
      ['POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\n', true, false],
      ['abc', false, true],
      ['GET /b HTTP/1.1\r\n\r\n', true, true],
      ['POST /c HTTP/1.1\r\ncontent-length: 0\r\n\r\n', true, true],
    ],
  );
  assert.equal(c.state.pending.length, 3);
});

test('leading empty lines before a request line travel in the head frame', () => {
  const c = codec();
  const got = feed(c.toUpstream, '\r\n\r\nGET / HTTP/1.1\r\n\r\n');
  assert.equal(got.length, 1);
  assert.equal(got[0]!.frame, '\r\n\r\nGET / HTTP/1.1\r\n\r\n');
  assert.equal(got[0]!.info.attributes?.method, 'GET');
});

test('body frames are bounded by maxBodyFrame and by what arrived', () => {
  const c = codec({ maxBodyFrame: 1000 });
  const head = feed(c.toUpstream, 'PUT /x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n');
  assert.equal(head.length, 1);
  const a = feed(c.toUpstream, Buffer.alloc(2500, 0x61));
  assert.deepEqual(a.map((g) => g.frame.length), [1000, 1000, 500]);
  assert.ok(a.every((g) => !g.info.start && !g.info.end));
  const b = feed(c.toUpstream, Buffer.alloc(2500, 0x62));
  assert.deepEqual(b.map((g) => g.frame.length), [1000, 1000, 500]);
  assert.equal(b[2]!.info.end, true);
  // chunked: one frame per maxBodyFrame of wire bytes (plus at most one size line)
  const d = codec({ maxBodyFrame: 1000 });
  feed(d.toUpstream, 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n');
  const body = `${'a00\r\n' + 'x'.repeat(0xa00)}\r\n0\r\n\r\n`;
  const frames = feed(d.toUpstream, body);
  assert.equal(frames.map((g) => g.frame).join(''), body);
  assert.ok(frames.every((g) => g.frame.length <= 1000 + 10));
  assert.equal(frames.filter((g) => g.info.end).length, 1);
  assert.equal(frames[frames.length - 1]!.info.end, true);
});

test('chunked body split at every position: same bytes, one end', () => {
  const head = 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n';
  const body = '4;ext\r\nwiki\r\n5\r\npedia\r\n0\r\nTrailer-A: 1\r\n\r\n';
  for (let cut = 1; cut < body.length; cut++) {
    const c = codec();
    feed(c.toUpstream, head);
    const got = [...feed(c.toUpstream, body.slice(0, cut)), ...feed(c.toUpstream, body.slice(cut) + 'GET /n HTTP/1.1\r\n\r\n')];
    assert.equal(got.slice(0, -1).map((g) => g.frame).join(''), body, `cut ${cut}`);
    assert.equal(got.filter((g) => g.info.end).length, 2, `cut ${cut}`);
    assert.equal(got[got.length - 1]!.info.attributes?.path, '/n');
  }
});

test('malformed requests are rejected with SWY_FRAME_MALFORMED naming the problem', () => {
  const cases: Array<[string, RegExp]> = [
    ['POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', /both Content-Length and Transfer-Encoding/],
    ['POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n', /conflicting Content-Length/],
    ['POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n', /conflicting Content-Length/],
    ['POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n', /invalid Content-Length/],
    ['POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n', /invalid Content-Length/],
    ['POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n', /does not end in chunked/],
    ['POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', /chunked must be the last/],
    ['GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n', /obsolete line folding/],
    ['GET / HTTP/1.1\r\nNoColonHere\r\n\r\n', /without colon/],
    ['GET / HTTP/1.1\r\nHost : h\r\n\r\n', /whitespace between header name and colon/],
    ['GET / HTTP/1.1\r\nX(y): 1\r\n\r\n', /invalid character 0x28 in header name/],
    ['GE(T / HTTP/1.1\r\n\r\n', /invalid method/],
    ['GET / HTTP/1.1\nHost: h\r\n\r\n', /bare LF/],
    ['GET / HTTP/1.1\r\nHost: h\nX: 1\r\n\r\n', /bare LF/],
    ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', /unsupported HTTP version/],
    ['GET /a b HTTP/1.1\r\n\r\n', /unsupported HTTP version|invalid/],
    ['GET  / HTTP/1.1\r\n\r\n', /invalid request line/],
    ['\x16\x03\x01\x02\x00\x01\x00', /does not start with a method/],
  ];
  for (const [input, message] of cases) throwsCode(() => feed(codec().toUpstream, input), 'SWY_FRAME_MALFORMED', message);
  const chunkCases: Array<[string, RegExp]> = [
    ['zz\r\n', /invalid chunk size/],
    ['\r\n', /invalid chunk size/],
    ['-1\r\n', /invalid chunk size/],
    ['+5\r\n', /invalid chunk size/],
    ['5 x\r\n', /invalid chunk size/],
    ['fffffffffffffffffff\r\n', /chunk size too large/],
    ['5\nhello', /bare LF/],
    ['3\r\nabcX\r\n', /not followed by CRLF/],
    ['3;a\x01b\r\n', /control character in chunk extension/],
    ['0\r\nBad trailer\r\n\r\n', /trailer: invalid field line/],
    ['0\r\n folded: x\r\n\r\n', /obsolete line folding/],
  ];
  for (const [body, message] of chunkCases) {
    const c = codec();
    feed(c.toUpstream, 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n');
    throwsCode(() => feed(c.toUpstream, body), 'SWY_FRAME_MALFORMED', message);
  }
  // a latched error: the framer stays failed
  const c = codec();
  throwsCode(() => feed(c.toUpstream, 'GET / HTTP/1.1\r\nbad\r\n\r\n'), 'SWY_FRAME_MALFORMED', /without colon/);
  throwsCode(() => c.toUpstream.next(), 'SWY_FRAME_MALFORMED', /without colon/);
});

test('identical repeated Content-Length values are accepted', () => {
  const got = feed(codec().toUpstream, 'POST / HTTP/1.1\r\nContent-Length: 2, 2\r\ncontent-length: 2\r\n\r\nok');
  assert.deepEqual(got.map((g) => g.frame), ['POST / HTTP/1.1\r\nContent-Length: 2, 2\r\ncontent-length: 2\r\n\r\n', 'ok']);
});

test('maxHeaderSize: a longer head is SWY_FRAME_TOO_LARGE (complete or still arriving), naming the limit', () => {
  const big = `GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`;
  throwsCode(() => feed(codec({ maxHeaderSize: '1KiB' }).toUpstream, big), 'SWY_FRAME_TOO_LARGE', /maxHeaderSize \(1024 bytes\)/);
  throwsCode(() => feed(codec({ maxHeaderSize: 1024 }).toUpstream, big.slice(0, 1500)), 'SWY_FRAME_TOO_LARGE', /request head of 1500\+ bytes exceeds maxHeaderSize/);
  assert.equal(feed(codec({ maxHeaderSize: 4096 }).toUpstream, big).length, 1);
  const r = codec({ maxHeaderSize: 100 });
  feed(r.toUpstream, 'GET / HTTP/1.1\r\n\r\n');
  throwsCode(() => feed(r.toDownstream, `HTTP/1.1 200 OK\r\nX: ${'b'.repeat(200)}\r\n\r\n`), 'SWY_FRAME_TOO_LARGE', /response head/);
  // trailers count against maxHeaderSize too
  const t = codec({ maxHeaderSize: 100 });
  feed(t.toUpstream, 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n');
  throwsCode(() => feed(t.toUpstream, `0\r\nX: ${'c'.repeat(200)}\r\n\r\n`), 'SWY_FRAME_MALFORMED', /trailer section larger than maxHeaderSize/);
});

test('EOF inside a head or a body is SWY_FRAME_TRUNCATED; EOF between messages is clean', () => {
  const a = codec();
  a.toUpstream.push(Buffer.from('GET / HTTP/1.1\r\nHost'));
  assert.equal(a.toUpstream.next(), null);
  a.toUpstream.end();
  throwsCode(() => a.toUpstream.next(), 'SWY_FRAME_TRUNCATED', /request head/);
  const b = codec();
  feed(b.toUpstream, 'POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc');
  b.toUpstream.end();
  throwsCode(() => b.toUpstream.next(), 'SWY_FRAME_TRUNCATED', /7 bytes of Content-Length missing/);
  const c = codec();
  feed(c.toUpstream, 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab');
  c.toUpstream.end();
  throwsCode(() => c.toUpstream.next(), 'SWY_FRAME_TRUNCATED', /chunked body/);
  const d = codec();
  feed(d.toUpstream, 'GET / HTTP/1.1\r\n\r\n');
  d.toUpstream.end();
  assert.equal(d.toUpstream.next(), null);
});

// ---------------------------------------------------------------- response framer

test('responses pair in order with the methods of their requests', () => {
  const c = codec();
  feed(c.toUpstream, 'HEAD /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n');
  const got = feed(c.toDownstream, 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789');
  assert.deepEqual(got.map((g) => [g.frame.length, g.info.start, g.info.end]), [
    [39, true, true],
    [39, true, false],
    [10, false, true],
  ]);
  assert.equal(c.state.pending.length, 0);
});

test('1xx interim responses are unsolicited and do not consume the request', () => {
  const c = codec();
  feed(c.toUpstream, 'POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n');
  const interim = feed(c.toDownstream, 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n');
  assert.deepEqual(interim.map((g) => g.info), [
    { start: true, end: true, unsolicited: true },
    { start: true, end: true, unsolicited: true },
  ]);
  assert.equal(c.state.pending.length, 1);
  feed(c.toUpstream, 'hi');
  const final = feed(c.toDownstream, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  assert.deepEqual(final[0]!.info, { start: true, end: true });
  assert.equal(c.state.pending.length, 0);
});

test('a response with no request pending is unsolicited (e.g. 408 before close), body included', () => {
  const c = codec();
  const got = feed(c.toDownstream, 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye');
  assert.deepEqual(got.map((g) => g.info), [
    { start: true, end: false, unsolicited: true },
    { start: false, end: true, unsolicited: true },
  ]);
  assert.equal(c.keepAlive, false);
});

test('close-delimited response: data frames, then a final frame with end at EOF', () => {
  const c = codec();
  feed(c.toUpstream, 'GET / HTTP/1.1\r\n\r\n');
  const got = feed(c.toDownstream, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc');
  assert.deepEqual(got.map((g) => [g.frame.length > 20 ? 'head' : g.frame, g.info.end]), [['head', false], ['abc', false]]);
  c.toDownstream.end();
  const tail = drain(c.toDownstream);
  assert.deepEqual(tail, [{ frame: '', info: { start: false, end: true } }]);
  assert.equal(c.toDownstream.next(), null);
  // bytes arriving with EOF: the last data frame carries end
  const d = codec();
  feed(d.toUpstream, 'GET / HTTP/1.0\r\n\r\n');
  d.toDownstream.push(Buffer.from('HTTP/1.0 200 OK\r\n\r\nxyz'));
  d.toDownstream.end();
  assert.deepEqual(drain(d.toDownstream).map((g) => [g.frame.slice(0, 4), g.info.end]), [['HTTP', false], ['xyz', true]]);
});

test('keep-alive tracking: HTTP/1.0 default close, keep-alive token, Connection: close on either side', () => {
  const one0 = codec();
  feed(one0.toUpstream, 'GET / HTTP/1.0\r\n\r\n');
  assert.equal(one0.keepAlive, false);
  const one0ka = codec();
  feed(one0ka.toUpstream, 'GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n');
  assert.equal(one0ka.keepAlive, true);
  feed(one0ka.toDownstream, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'); // server did not confirm keep-alive
  assert.equal(one0ka.keepAlive, false);
  const one1 = codec();
  feed(one1.toUpstream, 'GET / HTTP/1.1\r\n\r\n');
  feed(one1.toDownstream, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  assert.equal(one1.keepAlive, true);
  feed(one1.toUpstream, 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n');
  assert.equal(one1.keepAlive, false);
  const srv = codec();
  feed(srv.toUpstream, 'GET / HTTP/1.1\r\n\r\n');
  feed(srv.toDownstream, 'HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n');
  assert.equal(srv.keepAlive, false);
});

test('Upgrade: later client bytes wait for the answer; 101 makes both directions opaque', () => {
  const c = codec();
  const req = feed(c.toUpstream, 'GET /ws HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05early');
  assert.equal(req.length, 1, 'bytes after the upgrade request are held');
  assert.equal(c.toUpstream.bufferedBytes, 7);
  const resp = feed(c.toDownstream, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi');
  assert.deepEqual(resp.map((g) => g.info), [{ start: true, end: true }, { start: true, end: true, opaque: true }]);
  assert.equal(resp[1]!.frame, '\x81\x02hi');
  assert.deepEqual(drain(c.toUpstream), [{ frame: '\x81\x05early', info: { start: true, end: true, opaque: true } }]);
  assert.deepEqual(feed(c.toUpstream, 'GET / HTTP/1.1\r\n\r\n').map((g) => g.info.opaque), [true]);
});

test('Upgrade refused (no 101): held bytes are parsed as the next request', () => {
  const c = codec();
  assert.equal(feed(c.toUpstream, 'GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nGET /2 HTTP/1.1\r\n\r\n').length, 1);
  feed(c.toDownstream, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  const next = drain(c.toUpstream);
  assert.equal(next.length, 1);
  assert.equal(next[0]!.info.attributes?.path, '/2');
  assert.equal(c.state.opaque, false);
});

test('CONNECT: 2xx opens a tunnel, other answers keep HTTP', () => {
  const ok = codec();
  feed(ok.toUpstream, 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n');
  assert.deepEqual(feed(ok.toDownstream, 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n\x16\x03').map((g) => g.info), [
    { start: true, end: true },
    { start: true, end: true, opaque: true },
  ]);
  const no = codec();
  feed(no.toUpstream, 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n');
  assert.deepEqual(feed(no.toDownstream, 'HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 2\r\n\r\nno').map((g) => g.info.end), [false, true]);
  assert.equal(feed(no.toUpstream, 'GET / HTTP/1.1\r\n\r\n')[0]!.info.attributes?.method, 'GET');
});

test('malformed responses: bad status line, both lengths, garbage', () => {
  const cases: Array<[string, RegExp]> = [
    ['HTTP/1.1 2000 OK\r\n\r\n', /invalid status line/],
    ['HTTP/1.1 OK\r\n\r\n', /invalid status line/],
    ['HTTP/2 200\r\n\r\n', /invalid status line/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', /both Content-Length and Transfer-Encoding/],
    ['<html>', /does not start with "HTTP\/"/],
  ];
  for (const [input, message] of cases) {
    const c = codec();
    feed(c.toUpstream, 'GET / HTTP/1.1\r\n\r\n');
    throwsCode(() => feed(c.toDownstream, input), 'SWY_FRAME_MALFORMED', message);
  }
  const ok = codec();
  feed(ok.toUpstream, 'GET / HTTP/1.1\r\n\r\n');
  assert.equal(feed(ok.toDownstream, 'HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n')[0]!.info.end, true, 'a status line without reason is accepted');
});

// ---------------------------------------------------------------- error reply

test('errorReply: default 503, exact bytes, keep-alive for HTTP/1.1', () => {
  const c = codec();
  feed(c.toUpstream, 'GET /x HTTP/1.1\r\nHost: h\r\n\r\n');
  const r = c.errorReply({ message: 'upstream is down' });
  assert.equal(r.close, false);
  assert.equal(Buffer.concat(r.frames).toString(), 'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 17\r\n\r\nupstream is down\n');
  assert.equal(c.state.pending.length, 0, 'the response framer does not wait for the replaced request');
  assert.equal(c.keepAlive, true);
});

test('errorReply: statuses and reason phrases, UTF-8 length, HEAD, close rules', () => {
  const reply = (req: string, r: Parameters<HttpCodec['errorReply']>[0]): { text: string; close: boolean } => {
    const c = codec();
    feed(c.toUpstream, req);
    const out = c.errorReply(r);
    return { text: Buffer.concat(out.frames).toString('utf8'), close: out.close };
  };
  const get = 'GET / HTTP/1.1\r\n\r\n';
  assert.match(reply(get, { message: 'x', status: 404 }).text, /^HTTP\/1\.1 404 Not Found\r\n/);
  assert.match(reply(get, { message: 'x', status: '429' }).text, /^HTTP\/1\.1 429 Too Many Requests\r\n/);
  assert.match(reply(get, { message: 'x', status: 413 }).text, /^HTTP\/1\.1 413 Content Too Large\r\n/);
  assert.match(reply(get, { message: 'x', status: 599 }).text, /^HTTP\/1\.1 599 Server Error\r\n/);
  assert.match(reply(get, { message: 'x', status: 499 }).text, /^HTTP\/1\.1 499 Client Error\r\n/);
  assert.match(reply(get, { message: 'x', status: '08006' }).text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  assert.match(reply(get, { message: 'x', status: 100 }).text, /^HTTP\/1\.1 503 /);
  for (let s = 400; s < 600; s++) assert.ok(reasonPhrase(s).length > 0);
  assert.equal(reasonPhrase(502), 'Bad Gateway');
  assert.equal(reasonPhrase(504), 'Gateway Timeout');
  const utf = reply(get, { message: 'héllo ✓' });
  assert.match(utf.text, /Content-Length: 11\r\n\r\nhéllo ✓\n$/);
  const head = reply('HEAD / HTTP/1.1\r\n\r\n', { message: 'down' });
  assert.equal(head.text, 'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\n');
  const closing = reply(get, { message: 'bye', close: true });
  assert.equal(closing.close, true);
  assert.match(closing.text, /\r\nConnection: close\r\n\r\nbye\n$/);
  const clientClose = reply('GET / HTTP/1.1\r\nConnection: close\r\n\r\n', { message: 'm' });
  assert.equal(clientClose.close, true);
  assert.match(clientClose.text, /Connection: close/);
  const old = reply('GET / HTTP/1.0\r\n\r\n', { message: 'm' });
  assert.equal(old.close, true);
  assert.match(old.text, /Connection: close/);
  const oldKa = reply('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', { message: 'm' });
  assert.equal(oldKa.close, false);
  assert.match(oldKa.text, /\r\nConnection: keep-alive\r\n\r\n/);
  const plain = reply(get, { message: 'm' });
  assert.doesNotMatch(plain.text, /Connection:/);
  // a client waiting for 100 Continue may or may not send its body now: close
  const expect = reply('PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n', { message: 'm' });
  assert.equal(expect.close, true);
});

test('errorReply on a pipelined request: the response framer pairs the other responses and skips the body', () => {
  const c = codec();
  const frames: Array<MessageInfo> = [];
  c.toUpstream.push(Buffer.from('GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 4\r\n\r\nbodyGET /3 HTTP/1.1\r\n\r\n'));
  for (let f = c.toUpstream.next(); f !== null; f = c.toUpstream.next()) {
    frames.push(c.toUpstream.info!);
    if (c.toUpstream.info?.attributes?.path === '/2') c.errorReply({ message: 'no' });
  }
  assert.equal(frames.length, 4);
  assert.equal(c.state.pending.length, 2);
  const got = feed(c.toDownstream, 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n3');
  assert.equal(got.filter((g) => g.info.end && !g.info.unsolicited).length, 2);
  assert.equal(c.state.pending.length, 0);
});

test('errorReply on an Upgrade request: later bytes are parsed as HTTP again', () => {
  const c = codec();
  feed(c.toUpstream, 'GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  c.errorReply({ message: 'no tunnels', status: 403 });
  assert.equal(feed(c.toUpstream, 'GET /next HTTP/1.1\r\n\r\n')[0]!.info.attributes?.path, '/next');
});

test('options: defaults, size strings, strict keys', () => {
  assert.deepEqual(httpOptionsSchema.parse({}), { maxHeaderSize: 65536, maxBodyFrame: 65536 });
  assert.deepEqual(httpOptionsSchema.parse({ maxHeaderSize: '8KiB', maxBodyFrame: 1024 }), { maxHeaderSize: 8192, maxBodyFrame: 1024 });
  assert.equal(httpOptionsSchema.safeParse({ maxHeaderSize: 0 }).success, false);
  assert.equal(httpOptionsSchema.safeParse({ maxHeadrSize: 10 }).success, false);
  assert.deepEqual(Object.keys(httpProtocol.attributes).sort(), ['host', 'method', 'path', 'query', 'version']);
  const c = factory.create();
  assert.equal(c.toUpstream.name, 'http');
  assert.equal(c.toUpstream.passthrough, false);
});

test('repeated request heads: a head equal to the last one parsed frames the same; one byte apart, or split across reads, it is read anew', () => {
  const c = codec();
  const head = (path: string, host: string): string => `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 2\r\n\r\nhi`;
  // the same head three times in one read, then one that differs in one byte of the path and one of the Host value
  const got = feed(c.toUpstream, head('/a', 'Example.COM') + head('/a', 'Example.COM') + head('/a', 'Example.COM') + head('/b', 'Example.COM') + head('/b', 'example.org'));
  const starts = got.filter((g) => g.info.start);
  assert.deepEqual(
    starts.map((g) => [g.info.attributes?.path, g.info.attributes?.host]),
    [['/a', 'example.com'], ['/a', 'example.com'], ['/a', 'example.com'], ['/b', 'example.com'], ['/b', 'example.org']],
  );
  assert.equal(got.filter((g) => g.info.end).length, 5);
  assert.equal(c.state.pending.length, 5);
  // the known head split over two reads: not complete in the first one, so framed once the rest arrives
  const c2 = codec();
  const whole = head('/b', 'example.org');
  assert.deepEqual(feed(c2.toUpstream, whole.slice(0, 20)), []);
  const rest = feed(c2.toUpstream, whole.slice(20));
  assert.equal(rest[0]!.frame, whole.slice(0, whole.length - 2));
  assert.equal(rest[0]!.info.attributes?.path, '/b');
  // a repeated head whose Connection: close differs in a later request still ends keep-alive
  const c3 = codec();
  feed(c3.toUpstream, 'GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal(c3.keepAlive, true);
  feed(c3.toUpstream, 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  assert.equal(c3.keepAlive, false);
});
