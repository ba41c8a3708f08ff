/**
 * Short texts of answers for the traffic tail (`ProtocolModule.answerSummary`): read from the first frame of a
 * response, cheap, never longer than {@link SUMMARY_MAX} characters, never throwing on a short or odd frame.
 */

export const SUMMARY_MAX = 120;

function cut(s: string): string {
  return s.length > SUMMARY_MAX ? `${s.slice(0, SUMMARY_MAX - 1)}…` : s;
}

/** The first line of a frame (without CR LF), latin1, at most SUMMARY_MAX chars. */
function firstLine(frame: Buffer): string {
  const end = Math.min(frame.length, 512);
  let nl = frame.indexOf(0x0a);
  if (nl < 0 || nl > end) nl = end;
  const line = frame.toString('latin1', 0, nl > 0 && frame[nl - 1] === 0x0d ? nl - 1 : nl);
  return cut(line);
}

/** HTTP: the status code of the response head ("200", "404"). */
export function httpAnswerSummary(frame: Buffer): string {
  const line = firstLine(frame);
  const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(line);
  return m ? m[1]! : line;
}

/** RESP: simple strings, errors and integers as sent ("+OK", "-ERR ...", ":1"); bulk strings quoted; aggregates by size. */
export function redisAnswerSummary(frame: Buffer): string {
  const line = firstLine(frame);
  const kind = line[0];
  if (kind === '$' || kind === '=' || kind === '!') {
    const n = Number(line.slice(1));
    if (n < 0) return '(nil)';
    const at = frame.indexOf(0x0a) + 1;
    const body = frame.toString('utf8', at, at + Math.min(n, 80));
    return cut(`"${body}"${n > 80 ? '…' : ''}`);
  }
  if (kind === '*' || kind === '%' || kind === '~' || kind === '>') {
    const n = Number(line.slice(1));
    if (n < 0) return '(nil)';
    const what = kind === '%' ? 'map' : kind === '~' ? 'set' : kind === '>' ? 'push' : 'array';
    return `${what} of ${n}`;
  }
  if (kind === '_') return '(nil)';
  return line;
}

/** memcache: the first line ("STORED", "VALUE key 0 5", "END", "SERVER_ERROR ..."). */
export function memcacheAnswerSummary(frame: Buffer): string {
  return firstLine(frame);
}

/** SMTP: the reply code ("250"). */
export function smtpAnswerSummary(frame: Buffer): string {
  const line = firstLine(frame);
  const m = /^(\d{3})/.exec(line);
  return m ? m[1]! : line;
}

const PG_MESSAGES: Readonly<Record<string, string>> = {
  C: 'CommandComplete',
  E: 'ErrorResponse',
  N: 'NoticeResponse',
  T: 'RowDescription',
  D: 'DataRow',
  Z: 'ReadyForQuery',
  I: 'EmptyQueryResponse',
  '1': 'ParseComplete',
  '2': 'BindComplete',
  '3': 'CloseComplete',
  n: 'NoData',
  t: 'ParameterDescription',
  s: 'PortalSuspended',
  R: 'Authentication',
  S: 'ParameterStatus',
  K: 'BackendKeyData',
  G: 'CopyInResponse',
  H: 'CopyOutResponse',
  W: 'CopyBothResponse',
  V: 'FunctionCallResponse',
};

/** PostgreSQL: the first backend message's name; CommandComplete with its tag, ErrorResponse with its SQLSTATE. */
export function postgresAnswerSummary(frame: Buffer): string {
  if (frame.length === 0) return '';
  const type = String.fromCharCode(frame[0]!);
  if (type === 'N' && frame.length === 1) return 'SSL refused';
  if (type === 'S' && frame.length === 1) return 'SSL accepted';
  const name = PG_MESSAGES[type] ?? `message '${type}'`;
  if (frame.length < 5) return name;
  const end = Math.min(frame.length, 1 + frame.readUInt32BE(1));
  if (type === 'C') {
    const z = frame.indexOf(0, 5);
    return cut(`${name} ${frame.toString('utf8', 5, z < 0 || z > end ? end : z)}`);
  }
  if (type === 'E') {
    // fields: a type byte, a NUL-terminated string; 'C' is the SQLSTATE
    let i = 5;
    while (i < end && frame[i] !== 0) {
      const field = frame[i]!;
      const z = frame.indexOf(0, i + 1);
      if (z < 0 || z > end) break;
      if (field === 0x43) return `${name} ${frame.toString('latin1', i + 1, z)}`;
      i = z + 1;
    }
  }
  return name;
}

/** MySQL: "OK", "ERR 1045", "EOF", "greeting", or "result set (N columns)" from the first packet of a response. */
export function mysqlAnswerSummary(frame: Buffer): string {
  if (frame.length < 5) return '';
  const len = frame.readUIntLE(0, 3);
  const first = frame[4]!;
  if (first === 0x00 && len >= 7) return 'OK';
  if (first === 0xff) return frame.length >= 7 ? `ERR ${frame.readUInt16LE(5)}` : 'ERR';
  if (first === 0xfe && len < 9) return 'EOF';
  if (first === 0x0a && frame[3] === 0) return 'greeting';
  if (first === 0xfb) return 'LOCAL INFILE';
  if (first < 0xfb) return `result set (${first} column${first === 1 ? '' : 's'})`;
  return `packet 0x${first.toString(16)}`;
}
