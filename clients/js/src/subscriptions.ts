/**
 * The subscribe protocol over the channel registry: sending `subscribe` (with `since`/`epoch`
 * once a position is known, `rewind` only before), applying its ack to the channel's cursor,
 * resubscribing every channel on a new socket, recovering a gap, retrying a timed-out subscribe
 * with backoff, and handing `message`, `join` and `leave` frames to the channel's handlers and
 * to the client's events (`message`, `join`, `leave`, `reset`, `subscribed`, `error`).
 */
import type { Channel, ChannelRegistry, ChannelStart } from "./channels.js";
import { callSafely, type Emitter } from "./events.js";
import { ConnectionLostError, ServerError, SwitchboardError, asSwitchboardError } from "./errors.js";
import type { Ack, ClientFrame, JoinFrame, LeaveFrame, Message } from "./protocol.js";
import type { RequestTracker } from "./requests.js";
import type { Transport } from "./transport.js";
import type { ClientEvents, MessageHandler, PresenceEvent, PresenceListener, Subscription } from "./types.js";

export interface SubscriptionsDeps {
  registry: ChannelRegistry;
  requests: RequestTracker;
  events: Emitter<ClientEvents>;
  /** The current socket when the client is open, else `null`. */
  openTransport(): Transport | null;
  /** The delay before retry number `attempt` (0-based) of a timed-out subscribe. */
  retryDelay(attempt: number): number;
}

export class Subscriptions {
  constructor(private readonly deps: SubscriptionsDeps) {}

  /** Add `handler` to `name` (creating the channel at `start`); resolves on the server's ack. */
  subscribe(
    name: string,
    handler: MessageHandler,
    start: ChannelStart,
    onPresence?: PresenceListener,
  ): Promise<Subscription> {
    const channel = this.deps.registry.open(name, start);
    channel.handlers.set(handler, onPresence);
    if (channel.confirmed && this.deps.openTransport()) return Promise.resolve(this.subscription(channel, handler));
    return new Promise<Subscription>((resolve, reject) => {
      channel.waiters.push({ handler, resolve, reject });
      const transport = this.deps.openTransport();
      if (transport && channel.inFlight === null) void this.send(channel, transport);
    });
  }

  /** Remove `handler` (every handler when omitted); the last one gone unsubscribes on the server. */
  unsubscribe(name: string, handler?: MessageHandler): Promise<void> {
    const channel = this.deps.registry.get(name);
    if (!channel) return Promise.resolve();
    if (handler) channel.handlers.delete(handler);
    else channel.handlers.clear();
    if (channel.handlers.size > 0) return Promise.resolve();
    this.deps.registry.delete(channel);
    channel.rejectWaiters(new SwitchboardError("unsubscribed", `unsubscribed from ${name}`), false);
    const transport = this.deps.openTransport();
    if (!transport) return Promise.resolve();
    const frame: ClientFrame = { action: "unsubscribe", channel: name, id: this.deps.requests.nextId() };
    return this.deps.requests.send(transport, frame).then(
      () => undefined,
      (error: unknown) => {
        // The socket went away: the server drops its subscriptions with it.
        if (error instanceof ConnectionLostError) return;
        throw error;
      },
    );
  }

  /** Subscribe every channel on `transport`, from where each left off. */
  resubscribeAll(transport: Transport): Promise<void> {
    const sends = this.deps.registry.all().map((channel) => this.send(channel, transport));
    return Promise.all(sends).then(() => undefined);
  }

  /** A `message` frame: through the channel's cursor to its handlers. */
  receiveMessage(frame: Message): void {
    const channel = this.deps.registry.get(frame.channel) ?? this.deps.registry.adopt(frame.channel);
    if (!channel) return; // no longer subscribed here
    const update = channel.cursor.receive(frame);
    if (update.reset) this.emitReset(channel);
    this.deliver(channel, update.deliver);
    if (update.recover) this.recover(channel);
  }

  /** A `join` or `leave` frame on socket `serial`: to the channel's presence listeners. */
  receivePresence(frame: JoinFrame | LeaveFrame, serial: number): void {
    const channel = this.deps.registry.get(frame.channel);
    if (!channel) return; // not (or no longer) subscribed here
    if (channel.isPresenceCopy(frame, serial)) return;
    const { channel: name, user } = frame;
    const event: PresenceEvent =
      frame.type === "join"
        ? { type: "join", channel: name, user, ...(frame.data !== undefined && { data: frame.data }) }
        : { type: "leave", channel: name, user };
    for (const listener of [...channel.handlers.values()]) if (listener) callSafely(listener, event);
    if (event.type === "join") this.deps.events.emit("join", event);
    else this.deps.events.emit("leave", event);
  }

  private subscription(channel: Channel, handler: MessageHandler): Subscription {
    return {
      channel: channel.name,
      epoch: channel.cursor.epoch,
      seq: channel.cursor.seq,
      unsubscribe: () => this.unsubscribe(channel.name, handler),
    };
  }

  /** Send a subscribe for `channel` (with `since`/`epoch` when a position is known). */
  private send(channel: Channel, transport: Transport): Promise<void> {
    const position = channel.cursor.position();
    const id = this.deps.requests.nextId();
    channel.inFlight = id;
    if (position.since !== undefined) channel.cursor.recovering = true;
    // Rewind only while nothing of the channel was seen: once a message or an ack came, `since`.
    const rewind = position.since === undefined ? channel.rewind : undefined;
    const frame: ClientFrame = {
      action: "subscribe",
      channel: channel.name,
      id,
      ...position,
      ...(rewind === undefined ? {} : { rewind }),
    };
    return this.deps.requests.send(transport, frame).then(
      (ack) => this.acknowledged(channel, id, ack as Ack, position),
      (error: unknown) => this.failed(channel, id, transport, error),
    );
  }

  private acknowledged(channel: Channel, id: string, ack: Ack, sent: { since?: number; epoch?: string }): void {
    if (!this.deps.registry.holds(channel)) return; // unsubscribed meanwhile
    if (channel.inFlight === id) channel.inFlight = null;
    channel.confirmed = true;
    channel.timeouts = 0;
    channel.rewind = undefined; // never rewinds twice
    const update = channel.cursor.acknowledge(ack, sent);
    this.deliver(channel, update.deliver);
    if (update.reset) this.emitReset(channel);
    for (const waiter of channel.waiters.splice(0)) {
      waiter.resolve(this.subscription(channel, waiter.handler));
    }
    this.deps.events.emit("subscribed", {
      channel: channel.name,
      epoch: channel.cursor.epoch,
      seq: channel.cursor.seq,
      recovered: typeof ack.recovered === "boolean" ? ack.recovered : undefined,
    });
    if (update.recover) this.recover(channel);
  }

  private failed(channel: Channel, id: string, transport: Transport, error: unknown): void {
    if (!this.deps.registry.holds(channel)) return;
    if (channel.inFlight === id) channel.inFlight = null;
    channel.cursor.recovering = false;
    if (error instanceof ConnectionLostError) return; // resubscribed on the next socket
    const failure = asSwitchboardError(error, "internal");
    channel.rejectWaiters(failure, true);
    if (error instanceof ServerError || channel.handlers.size === 0) {
      // Refused (e.g. forbidden): forget the channel and say so.
      this.deps.registry.delete(channel);
      if (channel.handlers.size > 0) this.deps.events.emit("error", { error: failure, channel: channel.name });
      return;
    }
    // Timed out with handlers still attached: ask again while this socket is current, after a
    // backoff. A slow server still has the first one queued; asking again at once only adds
    // to its queue (hundreds of clients doing so kept the soak's gateway from ever catching up).
    const delay = this.deps.retryDelay(channel.timeouts);
    channel.timeouts += 1;
    transport.after(delay, () => {
      if (!this.deps.registry.holds(channel)) return;
      if (this.deps.openTransport() === transport && channel.inFlight === null) void this.send(channel, transport);
    });
  }

  /** The server ended `name`'s subscription: forget the channel (no resubscribe) and say so. */
  ended(name: string, reason: string): void {
    const channel = this.deps.registry.get(name);
    if (!channel) return;
    this.deps.registry.delete(channel);
    channel.rejectWaiters(new ServerError("forbidden", `the server ended the subscription (${reason})`), true);
    this.deps.events.emit("unsubscribed", { channel: name, reason });
  }

  /** The channel's history could not be followed: the app must reload its state. */
  private emitReset(channel: Channel): void {
    this.deps.events.emit("reset", { channel: channel.name, epoch: channel.cursor.epoch, seq: channel.cursor.seq });
  }

  /** A gap: resubscribe `channel` with `since`/`epoch` on the current socket. */
  private recover(channel: Channel): void {
    const transport = this.deps.openTransport();
    if (!transport || channel.cursor.recovering) return;
    void this.send(channel, transport);
  }

  private deliver(channel: Channel, messages: Message[]): void {
    for (const message of messages) {
      for (const handler of [...channel.handlers.keys()]) callSafely(handler, message);
      this.deps.events.emit("message", message);
    }
  }
}

/** The most messages a subscribe may rewind (DESIGN.md, "Frames"). */
const MAX_REWIND = 100;

/** Why a subscribe's `since`/`rewind` is refused, or `undefined` when they are fine (or absent). */
export function startProblem(since: number | undefined, rewind: number | undefined): string | undefined {
  if (since !== undefined && !(Number.isInteger(since) && since >= 0)) {
    return `since must be a seq (an integer >= 0), got ${String(since)}`;
  }
  if (rewind === undefined) return undefined;
  if (!(Number.isInteger(rewind) && rewind >= 0 && rewind <= MAX_REWIND)) {
    return `rewind must be an integer from 0 to ${MAX_REWIND}, got ${String(rewind)}`;
  }
  return since === undefined ? undefined : "rewind cannot be combined with since";
}
