import { z } from 'zod';
import { sizeOption } from '../../core/units.js';
import type { ProtocolCodecFactory, ProtocolModule } from '../protocol.js';
import { SMTP_SETUP, SmtpCodec } from './codec.js';
import { smtpAnswerSummary } from '../answer-summary.js';

export { SmtpCodec } from './codec.js';

export const smtpOptionsSchema = z.strictObject({
  /** Largest frame emitted for pieces of a message body (DATA or BDAT) or a long multi-line reply. */
  maxFrame: sizeOption(64).default(64 * 1024),
  /** Longest command or reply line, excluding CRLF (RFC 5321 asks for 512; extensions make them longer). */
  maxLine: sizeOption(16).default(64 * 1024),
  /** Most bytes held per direction while waiting for a message part. Default: maxFrame + maxLine + 128 KiB. */
  maxBufferedBytes: sizeOption(1).optional(),
});
export type SmtpOptions = z.output<typeof smtpOptionsSchema>;

export const smtpProtocol: ProtocolModule<SmtpOptions> = {
  answerSummary: smtpAnswerSummary,
  name: 'smtp',
  description: 'SMTP/ESMTP: greeting, commands and multi-line replies, DATA bodies, BDAT, PIPELINING, STARTTLS (then opaque).',
  optionsSchema: smtpOptionsSchema,
  attributes: {
    command: 'command verb in upper case (EHLO, MAIL, RCPT, DATA, BDAT, ...); DATA-BODY for the message after a 354, AUTH-DATA for a line answering a 334 challenge',
    address: 'MAIL FROM / RCPT TO: the path between < and >, e.g. alice@example.com (empty for the null sender <>)',
  },
  setup: SMTP_SETUP,
  factory(options: SmtpOptions): ProtocolCodecFactory {
    return { name: 'smtp', create: () => new SmtpCodec(options) };
  },
};
