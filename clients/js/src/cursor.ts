/**
 * Where a client stands in one channel's history: the last `seq` delivered and the channel's
 * `epoch` (DESIGN.md, "Recovery"). Pure logic, no I/O: it decides which messages to deliver,
 * which are duplicates, when a gap calls for a recovery and when the history was reset.
 */
import { type Ack, epochOf, type Message } from "./protocol.js";

/** What to do after a message or a subscribe ack. */
export interface CursorUpdate {
  /** Messages to hand to the application, in order. */
  deliver: Message[];
  /** A message is missing: resubscribe with `since` and `epoch`. */
  recover: boolean;
  /** The server could not replay what was missed: the application must reload its state. */
  reset: boolean;
}

const NOTHING: CursorUpdate = Object.freeze({ deliver: [], recover: false, reset: false }) as CursorUpdate;

/** The default bound on messages held back while a gap is being filled. */
export const DEFAULT_MAX_HELD = 1000;

export class ChannelCursor {
  /** The last `seq` delivered (or acknowledged as the top), `undefined` before any. */
  seq: number | undefined;
  /** The channel's epoch as last seen in a subscribe ack or a message. */
  epoch: string | undefined;
  /** A subscribe with `since` is in flight: further gaps wait for its ack. */
  recovering = false;
  /** Messages beyond a gap, held until the gap is filled, by `seq`. */
  private readonly held = new Map<number, Message>();
  private readonly maxHeld: number;

  constructor(maxHeld = DEFAULT_MAX_HELD) {
    this.maxHeld = maxHeld;
  }

  /** The `since`/`epoch` fields for a resubscribe, or `{}` when nothing was seen yet. */
  position(): { since?: number; epoch?: string } {
    if (this.seq === undefined) return {};
    return this.epoch === undefined ? { since: this.seq } : { since: this.seq, epoch: this.epoch };
  }

  /** Start from a position read elsewhere (e.g. while rendering on the server). */
  resumeFrom(since: number, epoch?: unknown): void {
    this.seq = since;
    const known = epochOf(epoch);
    if (known !== undefined) this.epoch = known;
  }

  /** Take in a live or replayed message. */
  receive(message: Message): CursorUpdate {
    const epoch = epochOf(message.epoch);
    if (epoch !== undefined && this.epoch !== undefined && epoch !== this.epoch) {
      // The channel's history was reset while we listened: its seq started over, so this is
      // not a duplicate. Follow the new epoch from here and let the application reload.
      this.epoch = epoch;
      this.held.clear();
      this.recovering = false;
      this.seq = message.seq;
      return { deliver: [message], recover: false, reset: true };
    }
    if (epoch !== undefined && this.epoch === undefined) this.epoch = epoch; // first message seen
    if (this.seq === undefined) {
      this.seq = message.seq;
      return { deliver: [message, ...this.drain()], recover: false, reset: false };
    }
    if (message.seq <= this.seq) return NOTHING; // a duplicate (replay overlap, two sockets)
    if (message.seq === this.seq + 1) {
      this.seq = message.seq;
      return { deliver: [message, ...this.drain()], recover: false, reset: false };
    }
    // A gap: hold the message until the missing ones arrive through a recovery.
    if (this.held.size < this.maxHeld) this.held.set(message.seq, message);
    if (this.recovering) return NOTHING;
    return { deliver: [], recover: true, reset: false };
  }

  /**
   * Take in the ack of a subscribe sent with `sent` as its `since`/`epoch` (`{}` for a fresh
   * subscribe). A resubscribe counts as recovered when the server says so, or, from a server
   * that does not report `recovered`, when the epoch is unchanged and nothing is missing.
   */
  acknowledge(ack: Ack, sent: { since?: number; epoch?: string }): CursorUpdate {
    this.recovering = false;
    const top = typeof ack.seq === "number" ? ack.seq : undefined;
    const epoch = typeof ack.epoch === "string" ? ack.epoch : undefined;
    if (sent.since === undefined) {
      if (epoch !== undefined) this.epoch = epoch;
      if (top !== undefined && (this.seq === undefined || top > this.seq)) this.seq = top;
      return this.settle(false);
    }
    const epochKept = epoch === undefined || sent.epoch === undefined || epoch === sent.epoch;
    const caughtUp = top === undefined || (this.seq !== undefined && this.seq >= top);
    const recovered =
      ack.recovered === true || (ack.recovered === undefined && epochKept && caughtUp);
    if (recovered) {
      if (epoch !== undefined) this.epoch = epoch;
      const update = this.settle(false);
      if (!update.recover) return update;
      // The server claimed a full replay yet a gap remains: start over from what is held.
      return this.restartFromHeld(update.deliver);
    }
    // Not recoverable: jump to the server's top and tell the application to reload. The server's
    // epoch wins even when it has none (the channel starts over empty, e.g. a restarted local
    // gateway): the old one must not make its first message look like another reset.
    this.epoch = epoch;
    this.seq = top;
    if (top === undefined) this.held.clear();
    return this.settle(true);
  }

  /** Deliver what became contiguous; ask for another recovery if a gap remains. */
  private settle(reset: boolean): CursorUpdate {
    const deliver = this.drain();
    const recover = this.held.size > 0;
    return { deliver, recover, reset };
  }

  private restartFromHeld(already: Message[]): CursorUpdate {
    const first = Math.min(...this.held.keys());
    this.seq = first - 1;
    const deliver = [...already, ...this.drain()];
    return { deliver, recover: this.held.size > 0, reset: true };
  }

  /** Release held messages that now follow `seq` without a gap; forget stale ones. */
  private drain(): Message[] {
    const out: Message[] = [];
    if (this.seq === undefined) return out;
    for (const seq of [...this.held.keys()]) if (seq <= this.seq) this.held.delete(seq);
    for (;;) {
      const next = this.held.get(this.seq + 1);
      if (next === undefined) return out;
      this.held.delete(next.seq);
      this.seq = next.seq;
      out.push(next);
    }
  }
}
