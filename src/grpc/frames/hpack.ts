/**
 * HPACK (RFC 7541): header compression for the frame-level HTTP/2 engine. One decoder and one encoder per HTTP/2
 * connection and direction (each holds that connection's dynamic table). Header names and values are octet strings
 * carried as latin1 JS strings (one character per octet), so any octet survives decode → encode unchanged.
 */
export { HpackError } from './hpack-table.js';
export { HpackDecoder, type HpackDecoderOptions } from './hpack-decoder.js';
export { HpackEncoder, type HpackEncoderOptions } from './hpack-encoder.js';
