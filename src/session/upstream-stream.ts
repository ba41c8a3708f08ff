import type { Duplex } from 'node:stream';

/**
 * What the session needs of an upstream: a duplex stream (half-open capable) that can also be reset. A
 * net.Socket or tls.TLSSocket is one; any other duplex of that shape works too (the session does not look inside).
 */
export type UpstreamStream = Duplex & { resetAndDestroy(): unknown };
