/**
 * Finding the lifter for a protocol: the protocol module's own (`ProtocolModule.lifter`, looked up in a protocol
 * registry), the gRPC lifter for 'grpc', else the raw lifter — for modules without one, framers (line, ...) and raw tcp.
 *
 * The raw lifter: the frames concatenated; UTF-8 text without NULs → string, else `{ base64 }` (or
 * `{ sha256, length }` over 64 KiB).
 */
import { createProtocolRegistry } from '../protocols/builtins.js';
import { bytesLeaf, concat, type Lifter, type LifterOptions } from '../protocols/lift.js';
import type { ProtocolRegistry } from '../protocols/registry.js';
import { createGrpcLifter } from './grpc-lifter.js';

/** The byte lifter (its `protocol` is 'raw'). */
export function createRawLifter(): Lifter {
  return {
    protocol: 'raw',
    liftWithSummary(frames) {
      const buf = concat(frames);
      const tree = bytesLeaf(buf);
      return { tree, summary: `${typeof tree === 'string' ? 'text' : 'binary'} ${buf.length} B` };
    },
    lift(frames, kind) {
      return this.liftWithSummary(frames, kind).tree;
    },
    endpoint() {
      return '*';
    },
  };
}

let builtins: ProtocolRegistry | undefined;

/** The registry of the built-in protocol modules, made on first use (for callers that bring none). */
function builtinProtocols(): ProtocolRegistry {
  builtins ??= createProtocolRegistry();
  return builtins;
}

/**
 * The lifter of the module named `protocol` in `protocols`; for 'grpc' (HTTP/2 listeners, no codec module) the gRPC
 * lifter without a descriptor set (grpc-lifter.ts); else the raw lifter when there is no such module or it has none.
 */
export function lifterFor(protocol: string, options: LifterOptions = {}, protocols: ProtocolRegistry = builtinProtocols()): Lifter {
  const lifter = protocols.get(protocol)?.lifter?.(options);
  if (lifter) return lifter;
  if (protocol === 'grpc') return createGrpcLifter({ ignoreHeaders: options.ignoreHeaders, compareHeaders: options.compareHeaders });
  return createRawLifter();
}
