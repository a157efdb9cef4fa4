/**
 * The channel registry: every channel this client is subscribed to (or about to be), each with
 * its handlers and presence listeners, its cursor (position, de-duplication and gap detection,
 * cursor.ts), the subscribe calls waiting for the first ack and the state of its subscribe on
 * the current socket. It also drops the copies a planned socket swap produces: while two sockets
 * are subscribed, both receive every `join`, `leave` and `direct` frame. No I/O here: the
 * subscribe protocol that drives these records over a socket is subscriptions.ts.
 */
import { ChannelCursor } from "./cursor.js";
import type { DirectFrame, JoinFrame, LeaveFrame } from "./protocol.js";
import type { MessageHandler, PresenceListener, Subscription } from "./types.js";

/** A subscribe() call waiting for the server's first ack. */
export interface Waiter {
  handler: MessageHandler;
  resolve(subscription: Subscription): void;
  reject(error: Error): void;
}

/** One subscribed channel. */
export class Channel {
  readonly cursor = new ChannelCursor();
  /** Message handlers, each with the presence listener it was subscribed with (if any). */
  readonly handlers = new Map<MessageHandler, PresenceListener | undefined>();
  /** subscribe() calls waiting for the server's first ack. */
  waiters: Waiter[] = [];
  /** The server confirmed the subscription on the current socket. */
  confirmed = false;
  /** The id of a subscribe request in flight. */
  inFlight: string | null = null;
  /** Subscribes of this channel that timed out in a row (their retries back off). */
  timeouts = 0;
  /** The last presence event per user and the socket it came on (to drop an overlap's copies). */
  private readonly presenceSeen = new Map<string, { signature: string; serial: number }>();

  constructor(
    readonly name: string,
    /** The `rewind` of the first subscribe, until the server acknowledges one. */
    public rewind: number | undefined,
  ) {}

  /**
   * Whether `frame`, received on socket `serial`, is the copy of the last presence event of its
   * user from another socket (a planned swap's overlap); records it otherwise.
   */
  isPresenceCopy(frame: JoinFrame | LeaveFrame, serial: number): boolean {
    const signature = frame.type === "join" ? `join:${JSON.stringify(frame.data ?? null)}` : "leave";
    const seen = this.presenceSeen.get(frame.user);
    if (seen && seen.signature === signature && seen.serial !== serial) return true;
    this.presenceSeen.set(frame.user, { signature, serial });
    return false;
  }

  /** The current socket is gone: nothing is confirmed or in flight on the next one yet. */
  socketLost(): void {
    this.confirmed = false;
    this.inFlight = null;
    this.cursor.recovering = false;
    this.presenceSeen.clear(); // what the next socket reports is news, not a copy
  }

  /** Reject every waiting subscribe() with `error`, removing its handler when `drop` says so. */
  rejectWaiters(error: Error, drop: boolean): void {
    for (const waiter of this.waiters.splice(0)) {
      if (drop) this.handlers.delete(waiter.handler);
      waiter.reject(error);
    }
  }
}

/** How many recent `direct` frames are remembered to drop the copies a second socket gets. */
const MAX_DIRECT_SEEN = 64;

/** Drops the copy of a `direct` frame that a second socket of a planned swap receives. */
export class DirectCopies {
  private seen: Array<{ signature: string; serial: number }> = [];

  /** Whether `frame` (on socket `serial`) repeats one seen on another socket; records it otherwise. */
  isCopy(frame: DirectFrame, serial: number): boolean {
    const signature = JSON.stringify([frame.from ?? null, frame.ts ?? null, frame.data ?? null]);
    const copy = this.seen.findIndex((seen) => seen.signature === signature && seen.serial !== serial);
    if (copy >= 0) {
      this.seen.splice(copy, 1);
      return true;
    }
    this.seen.push({ signature, serial });
    if (this.seen.length > MAX_DIRECT_SEEN) this.seen.shift();
    return false;
  }

  clear(): void {
    this.seen = [];
  }
}

/** Where a new channel starts: `since`/`epoch` of a known position, or a `rewind`. */
export interface ChannelStart {
  since?: number;
  epoch?: string | null;
  rewind?: number;
}

/** The channels by name. */
export class ChannelRegistry {
  private readonly channels = new Map<string, Channel>();
  /** Channels this client left (or the server ended): a late message does not adopt them. */
  private readonly left = new Set<string>();
  readonly directs = new DirectCopies();

  get names(): string[] {
    return [...this.channels.keys()];
  }

  get(name: string): Channel | undefined {
    return this.channels.get(name);
  }

  all(): Channel[] {
    return [...this.channels.values()];
  }

  /** Whether `channel` is still the registered one (not unsubscribed or replaced meanwhile). */
  holds(channel: Channel): boolean {
    return this.channels.get(channel.name) === channel;
  }

  /** The channel `name`, created (starting at `start`) when absent; `start` is ignored otherwise. */
  open(name: string, start: ChannelStart): Channel {
    let channel = this.channels.get(name);
    this.left.delete(name);
    if (!channel) {
      channel = new Channel(name, start.rewind);
      if (start.since !== undefined) channel.cursor.resumeFrom(start.since, start.epoch);
      this.channels.set(name, channel);
    }
    return channel;
  }

  delete(channel: Channel): void {
    if (this.holds(channel)) this.channels.delete(channel.name);
    this.left.add(channel.name);
  }

  /**
   * A message came for `name`, which this client never subscribed: the server subscribed the
   * connection (the token's `subscribe` claim). The channel is registered as confirmed, with no
   * handler yet, so its messages reach `message` listeners, a later `subscribe` joins it without
   * a second subscription, and a reconnect resubscribes it with `since`. `undefined` for a channel
   * this client left (a message that was already on its way).
   */
  adopt(name: string): Channel | undefined {
    if (this.left.has(name)) return undefined;
    const channel = this.open(name, {});
    channel.confirmed = true;
    return channel;
  }

  /** The current socket is gone (see `Channel.socketLost`); no copy is pending either. */
  socketLost(): void {
    for (const channel of this.channels.values()) channel.socketLost();
    this.directs.clear();
  }

  /** The client stopped (unauthorized): no subscription is confirmed or in flight. */
  unconfirmAll(): void {
    for (const channel of this.channels.values()) {
      channel.confirmed = false;
      channel.inFlight = null;
    }
  }

  /** `close()`: reject every waiting subscribe with `error` and forget every channel. */
  clear(error: Error): void {
    for (const channel of this.channels.values()) {
      for (const waiter of channel.waiters) waiter.reject(error);
    }
    this.channels.clear();
    this.left.clear();
    this.directs.clear();
  }
}
