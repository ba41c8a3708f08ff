/**
 * The comparator of gRPC calls: the gRPC lifter (grpc-lifter.ts) with a descriptor set and the normalisation options
 * every comparator has. See docs/grpc-compare.md.
 */
import { createComparator, type Comparator, type NormaliseOptions } from './comparator.js';
import { configError } from './config-error.js';
import { createGrpcLifter } from './grpc-lifter.js';
import { loadDescriptorSet, type DescriptorPool } from './protobuf-descriptor.js';

/** Options of {@link buildGrpcComparator}: the normalisation of every comparator, plus gRPC's own. */
export interface GrpcCompareOptions extends NormaliseOptions {
  /** Path of a compiled FileDescriptorSet (`.protoset`), or one already parsed. */
  readonly descriptorSet?: string | DescriptorPool | undefined;
  readonly maxMessageSize?: number | undefined;
}

/**
 * The comparator for gRPC calls: `canonical(grpcExchangeFrames(ex), 'response')` gives the canon of a call's response
 * side. Validates the options now (a bad mask, regex, header name or descriptor set throws CONFIG_INVALID naming it).
 */
export function buildGrpcComparator(options: GrpcCompareOptions = {}, what = 'compare'): Comparator {
  const { descriptorSet, maxMessageSize, ...normalise } = options;
  if (maxMessageSize !== undefined && (!Number.isInteger(maxMessageSize) || maxMessageSize < 1)) throw configError(`${what}.maxMessageSize: expected a positive integer`);
  const descriptors = typeof descriptorSet === 'string' ? loadDescriptorSet(descriptorSet, `${what}.descriptorSet`) : descriptorSet;
  const lifter = createGrpcLifter({
    descriptors,
    ignoreHeaders: normalise.ignoreHeaders,
    compareHeaders: normalise.compareHeaders,
    maxMessageSize,
  });
  return createComparator(lifter, normalise);
}
