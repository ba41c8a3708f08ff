/** WAMP sessions of `protocol: wamp` listeners: `GET /api/v1/wamp/sessions`, `DELETE /api/v1/wamp/sessions/:id` (docs/admin-api.md). */
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { Switchyard } from '../runtime/switchyard.js';
import type { RequestContext } from '../http-kit/context.js';

function sessionId(ctx: RequestContext): number {
  const text = ctx.param('id');
  const id = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(id)) throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `session id must be a WAMP session id (an integer), got ${JSON.stringify(text)}`);
  return id;
}

/** Every joined session (`?listener=ID`: of one listener). */
export function wampSessions(yard: Switchyard, ctx: RequestContext): void {
  const listener = ctx.url.searchParams.get('listener') ?? undefined;
  ctx.send(200, { sessions: yard.wamp.sessions(listener).map((s) => s.toJSON()) });
}

export function wampSession(yard: Switchyard, ctx: RequestContext): void {
  const id = sessionId(ctx);
  const s = yard.wamp.get(id);
  if (!s) throw new SwitchyardError(ErrorCodes.NOT_FOUND, `WAMP session ${id} not found`);
  ctx.send(200, s.toJSON());
}

/** Kill a session: the client gets GOODBYE `wamp.close.killed`, its backend session is left. */
export function killWampSession(yard: Switchyard, ctx: RequestContext): void {
  const id = sessionId(ctx);
  const s = yard.wamp.get(id);
  if (!s) throw new SwitchyardError(ErrorCodes.NOT_FOUND, `WAMP session ${id} not found`);
  const view = s.toJSON();
  yard.wamp.kill(id);
  ctx.send(200, { killed: view });
}
