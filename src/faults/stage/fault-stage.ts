import type { Direction, FrameHandler, HandlerFactory, SessionContext, Verdict } from '../../pipeline/handler.js';
import type { MessageInfo } from '../../protocols/protocol.js';
import type { FaultStageOptions } from './options.js';
import { PairingBooks } from './pairing.js';
import { Link } from './link.js';

/**
 * The fault stage of a listener's pipeline: one handler per session holding two links (one per direction), each a
 * chain of the live faults for its stream. It sits at the wire: frames it passes are written by it, in order.
 */
export class FaultHandlerFactory implements HandlerFactory {
  readonly name = 'faults';
  readonly options: FaultStageOptions;
  /** Connections seen: the random streams are keyed by this ordinal, so a seeded run repeats whatever else runs in the process. */
  #ordinal = 0;

  constructor(options: FaultStageOptions) {
    this.options = options;
  }

  create(ctx: SessionContext): FrameHandler {
    return new FaultStageHandler(this.options, ctx, ++this.#ordinal);
  }
}

/** One session's fault stage: its two links, the pairing books they share, and the fault set subscription. */
class FaultStageHandler implements FrameHandler {
  readonly #up: Link;
  readonly #down: Link;
  readonly #unsubscribe: () => void;

  constructor(opts: FaultStageOptions, ctx: SessionContext, ordinal: number) {
    const books = new PairingBooks(ctx);
    const up = (this.#up = new Link(opts, ctx, ordinal, books, 'upstream', 'toUpstream'));
    const down = (this.#down = new Link(opts, ctx, ordinal, books, 'downstream', 'toDownstream'));
    this.#unsubscribe = opts.set.onChange(() => {
      up.reconfigure();
      down.reconfigure();
    });
    up.reconfigure();
    down.reconfigure();
  }

  onFrame(frame: Buffer, direction: Direction, _ctx: SessionContext, info?: MessageInfo): Verdict | Promise<Verdict> {
    return (direction === 'toUpstream' ? this.#up : this.#down).accept(frame, info);
  }

  onEnd(direction: Direction): void | Promise<void> {
    return (direction === 'toUpstream' ? this.#up : this.#down).acceptEnd();
  }

  onClose(): void {
    this.#unsubscribe();
    this.#up.dispose();
    this.#down.dispose();
  }
}
