/**
 * UDP transport: flow tracking (UdpFlowTable), the flow-demultiplexing listener (UdpListener, UdpFlow) and the
 * per-flow forwarding proxy (UdpProxy). See docs/udp.md.
 */
export { UdpFlowTable, flowKey, defaultSweepInterval } from './udp-flow-table.js';
export type { FlowCloseReason, TrackedFlow, UdpFlowStats, UdpFlowTableOptions, UdpRemote } from './udp-flow-table.js';
export { UdpFlow } from './udp-flow.js';
export type { UdpFlowQueueLimits } from './udp-flow.js';
export { UdpListener } from './udp-flow-listener.js';
export type { UdpBoundAddress, UdpListenerOptions } from './udp-flow-listener.js';
export { UdpProxy } from './udp-proxy.js';
export type { UdpProxyLogger, UdpProxyOptions } from './udp-proxy.js';
export { MAX_UDP_PAYLOAD_IPV4, MAX_UDP_PAYLOAD_IPV6, validateUdpOptions } from './udp-socket.js';
export type { UdpUpstreamChoice } from './udp-proxy.js';
export { UdpListenerObject } from './udp-runtime.js';
