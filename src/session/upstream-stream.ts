import type { Duplex } from 'node:stream';

/**
 * What the session needs of an upstream: a duplex stream (half-open capable) that can also be reset. A
 * net.Socket or tls.TLSSocket is one; any other duplex of that shape works too (the session does not look inside).
 */
export type UpstreamStream = Duplex & { resetAndDestroy(): unknown };

/**
 * Reset a stream (RST), or only destroy it while the FIN it was given is still in flight (ended, not yet finished):
 * Node 20 asks libuv for the reset, libuv refuses it during a pending shutdown (EINVAL), and Node then never emits
 * 'close', so the session would wait for that close forever (found by the codec fuzzer, test/fuzz/proxy.fuzz.test.ts).
 */
export function resetStream(s: Duplex & { resetAndDestroy(): unknown }): void {
  if (s.writableEnded && !s.writableFinished) s.destroy();
  else s.resetAndDestroy();
}
