export { FramedConnection, type FramedConnectionInit } from './framed-connection.js';
export { connectFramed, type ConnectFramedOptions } from './connect.js';
export { FramedServer, listenFramed, type ConnectionHandler, type ListenFramedOptions, type ServerStats } from './framed-server.js';
export type {
  ConnectionSide,
  ConnectionStats,
  FramedConnectionOptions,
  FramedSocketOptions,
  FramerPair,
  FramerSource,
  StartTlsOptions,
  UnreadBytesPolicy,
} from './types.js';
