/** The traffic tail's record of one sampled gRPC call (both engines build it here). */
import { ErrorCodes } from '../core/errors.js';
import type { TrafficTap } from '../core/traffic.js';
import { serviceOf } from './headers.js';
import { GrpcCode, codeName, type GrpcStatusError } from './status.js';

export interface CallOutcome {
  /** Date.now() and performance.now() at the call's start. */
  readonly started: number;
  readonly trace: number;
  readonly method: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** The final status code the client saw. */
  readonly code: number;
  /** The vote blocked the call. */
  readonly blocked: boolean;
  readonly clientGone: boolean;
  /** An `abort` fault reset the client's stream. */
  readonly aborted: boolean;
  /** The proxy's own status (deadline, unreachable, refusal), and whether a fault injected it. */
  readonly forced: GrpcStatusError | undefined;
  readonly injected: boolean;
  readonly route: string;
  readonly cluster: string | undefined;
  readonly endpoint: string | undefined;
}

export function recordCall(tap: TrafficTap, o: CallOutcome): void {
  let error: string | undefined;
  if (o.blocked) error = ErrorCodes.DIVERGENCE;
  else if (o.clientGone) error = o.aborted ? ErrorCodes.FAULT_CLOSED : ErrorCodes.CLIENT_RESET;
  else if (o.forced && !o.injected) error = o.forced.code === GrpcCode.DEADLINE_EXCEEDED ? ErrorCodes.UPSTREAM_TIMEOUT : o.forced.code === GrpcCode.UNAVAILABLE ? ErrorCodes.UPSTREAM_UNREACHABLE : undefined;
  tap.record({
    at: o.started,
    durationMs: Math.round((performance.now() - o.trace) * 1000) / 1000,
    request: { method: o.method, service: serviceOf(o.method), bytesIn: o.bytesIn, bytesOut: o.bytesOut },
    answer: o.clientGone ? '' : codeName(o.code),
    ...(error !== undefined ? { error } : {}),
    route: o.route,
    ...(o.cluster !== undefined ? { cluster: o.cluster } : {}),
    ...(o.endpoint !== undefined ? { endpoint: o.endpoint } : {}),
  });
}
