// Public library API: everything the CLI does, usable in-process.
export { Switchyard, type SwitchyardOptions, type ProxyListener } from './runtime/switchyard.js';
export { AdminServer, type AdminServerOptions } from './admin/server.js';
export { loadConfigFile, parseConfigText, validateConfig, buildConfigSchema } from './runtime/config.js';
export type * from './config/types.js';
export { createMetricsRegistry } from './runtime/metrics.js';
export { applyConfig, currentConfig, type ReloadOutcome } from './runtime/reload.js';
export { planReload, type ReloadPlan } from './runtime/reload-plan.js';

export { SwitchyardError, ErrorCodes, hasCode, errorCode, type ErrorCode } from './core/errors.js';
export { TrafficStats } from './core/stats.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './core/log.js';
export { parseAddress, formatAddress, type Address } from './core/address.js';
export { parseDuration, parseSize, sizeOption } from './core/units.js';
export type { ObjectState, ObjectKind, RuntimeObject } from './core/lifecycle.js';
export { buildServerTlsOptions, buildClientTlsOptions, type ServerTlsConfig, type ClientTlsConfig } from './core/tls.js';

export type { Frame, Framer, FramerFactory, FrameDecoder, FrameEncoder, FramerLimits } from './framing/framer.js';
export { decodeAll } from './framing/framer.js';
export { FramerRegistry, type FramerPlugin } from './framing/registry.js';
export { createFramerRegistry, registerBuiltinFramers } from './framing/builtins.js';

export type { FrameHandler, HandlerFactory, Verdict, Direction, SessionContext } from './pipeline/handler.js';
export { CONTINUE } from './pipeline/handler.js';
export { Session, type SessionOptions, type UpstreamConnector } from './session/session.js';
export { TcpListener, type StopOptions } from './listeners/tcp.js';
export { Cluster } from './upstream/cluster.js';
export type { ClusterInit, ConnectHints, ExchangeOutcome } from './upstream/cluster.js';
export { connectUpstream } from './upstream/connector.js';
export { Route, RouteTable, type Director, type Destination, type ListenerRouting, type RouteChoice, type RoutingScope } from './routing/director.js';

export * from './net/index.js';
export * from './listeners/udp.js';

// Chaos: faults, protocol modules, compatibility APIs.
export type { SessionIO } from './pipeline/handler.js';
export type { FaultPlugin, FaultInstance, FaultIO, FaultChunk, FaultInstanceContext } from './faults/plugin.js';
export type { OptionSpec, OptionSpecs, FaultOptions } from './config/fault-options.js';
export type { FaultInput, Stream, Scope, MatchSpec, MatchValue } from './config/fault-input.js';
export { FaultSet, Fault, type FaultPatch, type FaultSetChange } from './faults/fault-set.js';
export { FaultRegistry } from './faults/registry.js';
export { createFaultRegistry, registerBuiltinFaults, TOXIPROXY_TYPES, VAURIEN_BEHAVIORS } from './faults/builtins.js';
export { FaultHandlerFactory } from './faults/stage/fault-stage.js';
export { Random, RandomSource } from './faults/random.js';
export { loadFaultPlugins } from './faults/plugin-loader.js';
export type { ProtocolModule, ProtocolCodec, ProtocolCodecFactory, ProtocolFramer, MessageInfo, Attributes, AttributeValue, ErrorReply, ErrorReplyRequest } from './protocols/protocol.js';
export type { Lifter, LifterOptions, LiftResult, Tree } from './protocols/lift.js';
export { ProtocolRegistry } from './protocols/registry.js';
export { createProtocolRegistry, registerBuiltinProtocols } from './protocols/builtins.js';
export { ToxiproxyApi } from './compat/toxiproxy.js';
export { VaurienApi } from './compat/vaurien.js';

// N-variant execution: replicate (incoming), merge (outgoing), mirror, divergence events.
export { DivergenceLog, type DivergenceEvent, type DivergenceLogOptions, type Decision, type VariantOutcome, type VariantStatus } from './replication/events.js';
export { Replicator, type QuarantineEntry } from './replication/replicator.js';
export { Merger } from './replication/merge.js';
export { MirrorHandlerFactory } from './replication/mirror.js';
export { tally, majorityOf, weightedTally, weightsFor, type Ballot, type Tally, type WeightedTally, type Weights } from './replication/vote.js';
export { buildComparator, type Comparator, type NormaliseOptions } from './compare/comparator.js';
export type { Canon } from './compare/canon.js';
export { canonicalJson } from './compare/canonical-json.js';
export type { FieldDiff } from './compare/leaf-diff.js';
export { maskTree } from './compare/pointer-mask.js';
export { unifiedDiff } from './compare/unified-diff.js';
export { NoiseModel, type NoiseThresholds } from './compare/noise.js';
export { buildGrpcComparator, type GrpcCompareOptions } from './compare/grpc-comparator.js';
export {
  createGrpcLifter,
  grpcExchangeFrames,
  liftGrpcExchange,
  GrpcMessageReader,
  GrpcFramingError,
  type GrpcExchange,
  type GrpcLiftOptions,
  type GrpcMessage,
} from './compare/grpc-lifter.js';
export { liftProtobuf, readFields, ProtobufDecodeError, type WireField } from './compare/protobuf-wire.js';
export { parseDescriptorSet, loadDescriptorSet, liftTyped, type DescriptorPool } from './compare/protobuf-descriptor.js';
export { FrontendAuth } from './protocols/postgres/frontend-auth.js';
export { BackendAuth } from './protocols/postgres/backend-auth.js';
export { PgMessageReader } from './protocols/postgres/message-reader.js';
export type { PgAuthMethod } from './protocols/postgres/auth-messages.js';
export { POLICIES, type Policy, type ReplicateConfig, type MergeConfig, type MirrorConfig, type NormaliseConfig, type DivergencesConfig } from './config/replication.js';
export type { RouteEngine, AcceptContext, EngineSession, ConnectionFraming, EngineLatency } from './routing/engine.js';

// gRPC / HTTP/2: transparent forwarding, primary + secondaries, directors.
export { grpcDirector, grpcAttributes, type GrpcDirector, type GrpcDirectorFn, type GrpcCallInfo, type GrpcStreamParameters, type GrpcDestination, type GrpcErrorHandler, type GrpcMetadata } from './grpc/director.js';
export { GrpcStatusError, GrpcCode, type GrpcCodeName, codeName as grpcCodeName } from './grpc/status.js';
export { GrpcListener } from './grpc/listener.js';
export { GrpcRuntime } from './grpc/runtime.js';
