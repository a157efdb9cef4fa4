/**
 * The Switchboard client: one logical connection to a Switchboard WebSocket API that survives
 * what API Gateway does to sockets (short-lived tokens, the 10-minute idle timeout, the 2-hour
 * cap, handshake failures reported as code 1006) without losing or repeating a message.
 *
 * `SwitchboardClient` is a facade: it checks its arguments and hands each call to the module
 * that owns it (docs/architecture.md, "Browser client", has the map):
 * - connection.ts: opening, losing and replacing sockets, reported to the state machine
 *   (state.ts); sockets.ts holds the current socket and a planned swap's next one (swap.ts),
 *   transport.ts is one socket, token.ts fetches tokens, liveness.ts the keep-alive, the
 *   browser's signals and the reconnect policy;
 * - requests.ts: request ids, replies and timeouts, and the offline queue;
 * - channels.ts and subscriptions.ts: the channel registry and the subscribe protocol;
 * - events.ts: `on()` and the events; replies.ts: the presence and history acks' shapes.
 *
 * The client is idle until `connect()`; nothing in this module touches a browser API before it.
 */
import { DEFAULT_BACKOFF } from "./backoff.js";
import { ChannelRegistry } from "./channels.js";
import { ConnectionManager } from "./connection.js";
import {
  ClientClosedError,
  ConnectionLostError,
  InvalidChannelError,
  RpcError,
  ServerError,
  UnauthorizedError,
  type SwitchboardError,
} from "./errors.js";
import { Emitter } from "./events.js";
import { isValidChannel, parseServerFrame, type Ack, type ClientFrame, type Member, type Pong } from "./protocol.js";
import { parseHistoryPage, parseMembers } from "./replies.js";
import { isValidIdempotencyKey, newIdempotencyKey, publishOnce } from "./publishes.js";
import { OfflineQueue, RequestTracker } from "./requests.js";
import { startProblem, Subscriptions } from "./subscriptions.js";
import { acquireToken, type TokenSource } from "./token.js";
import type { Transport } from "./transport.js";
import type {
  ClientEvents,
  ClientOptions,
  HistoryOptions,
  HistoryPage,
  MessageHandler,
  PublishAck,
  PublishOptions,
  SubscribeOptions,
  Subscription,
} from "./types.js";
import type { ConnectionState } from "./state.js";

export type { ConnectionState } from "./state.js";
export type * from "./types.js";

const DEFAULTS = {
  requestTimeoutMs: 10_000,
  connectTimeoutMs: 15_000,
  stableAfterMs: 10_000,
  pingIntervalMs: 5 * 60_000,
  pongTimeoutMs: 10_000,
  maxConnectionAgeMs: 110 * 60_000,
  maxQueuedPublishes: 100,
};

/** Create a client; it stays `idle` (and touches no browser API) until `connect()`. */
export function createClient(options: ClientOptions): SwitchboardClient {
  return new SwitchboardClient(options);
}

export class SwitchboardClient {
  private readonly events = new Emitter<ClientEvents>();
  private readonly registry = new ChannelRegistry();
  private readonly queue: OfflineQueue<Transport>;
  private readonly requests: RequestTracker;
  private readonly tokens: TokenSource;
  private readonly connection: ConnectionManager;
  private readonly subscriptions: Subscriptions;

  constructor(options: ClientOptions) {
    if (!options || typeof options.url !== "string" || options.url === "") {
      throw new TypeError("@switchboard/client: `url` is required");
    }
    if (!options.getToken && !options.authUrl) {
      throw new TypeError("@switchboard/client: pass `getToken` or `authUrl`");
    }
    const settings = { ...DEFAULTS };
    for (const key of Object.keys(DEFAULTS) as Array<keyof typeof DEFAULTS>) {
      const value = options[key];
      if (typeof value === "number" && value >= 0) settings[key] = value;
    }
    this.queue = new OfflineQueue(settings.maxQueuedPublishes);
    this.requests = new RequestTracker(
      () => this.connection.host,
      settings.requestTimeoutMs,
      (transport) => this.connection.sockets.drained(transport),
    );
    const { url, tokenTransport, platform, getToken, authUrl } = options;
    this.tokens = { getToken, authUrl };
    const backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    const config = { ...settings, url, tokenTransport, platform, backoff, tokens: { getToken, authUrl } };
    this.connection = new ConnectionManager(config, this.events, this.requests, {
      resubscribe: (transport) => this.subscriptions.resubscribeAll(transport),
      ready: (transport) => this.queue.flush(transport),
      frame: (transport, data) => this.receive(transport, data),
      lost: () => this.registry.socketLost(),
      halted: (error, closed) => {
        if (closed) {
          this.queue.rejectAll(error);
          this.registry.clear(error);
        } else {
          this.registry.unconfirmAll();
          this.queue.rejectAll(error);
        }
      },
    });
    this.subscriptions = new Subscriptions({
      registry: this.registry,
      requests: this.requests,
      events: this.events,
      openTransport: () => this.connection.openTransport(),
      retryDelay: (attempt) => this.connection.retryDelay(attempt),
    });
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this.connection.state;
  }

  /**
   * Why the last attempt to connect failed (see the `connectionError` event), `null` while
   * connected or before the first failure. The state says what the client does about it.
   */
  get connectionError(): SwitchboardError | null {
    return this.connection.connectionError;
  }

  /** This client's connection id on the server (from the last `pong`), if known. */
  get connectionId(): string | undefined {
    return this.connection.sockets.current?.connectionId;
  }

  /** The channels this client is subscribed to (or about to be). */
  get subscribedChannels(): string[] {
    return this.registry.names;
  }

  /** How many publishes (and presence/history reads) wait for a connection. */
  get queuedPublishes(): number {
    return this.queue.size;
  }

  /** Listen to an event; returns the function that stops listening. */
  on<K extends keyof ClientEvents>(event: K, listener: (payload: ClientEvents[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  /**
   * Start connecting (and keep reconnecting). Call again after `close()` or in the `unauthorized`
   * state (e.g. after signing in) to start over; otherwise a no-op.
   */
  connect(): void {
    this.connection.start();
  }

  /**
   * Close the connection and stop reconnecting. Everything outstanding is rejected with
   * `ClientClosedError` and every subscription is dropped. `connect()` starts over.
   */
  close(): void {
    this.connection.stop(new ClientClosedError());
  }

  /**
   * Subscribe `onMessage` to `channel`. Resolves when the server acknowledges (at once if the
   * channel is already confirmed); rejects with `ServerError` (e.g. `forbidden`), `TimeoutError`
   * or `ClientClosedError`, and the handler is then removed. Called while disconnected, it waits
   * for the connection.
   */
  subscribe<T = unknown>(
    channel: string,
    onMessage: MessageHandler<T>,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    if (!isValidChannel(channel)) return Promise.reject(new InvalidChannelError(channel));
    const { since, epoch, onPresence, rewind } = options;
    const refused = startProblem(since, rewind);
    if (refused) return Promise.reject(new TypeError(`subscribe: ${refused}`));
    const start = { since, epoch, rewind };
    return this.subscriptions.subscribe(channel, onMessage as MessageHandler, start, onPresence);
  }

  /**
   * Remove `onMessage` from `channel` (every handler when omitted). Once no handler is left the
   * server is told to unsubscribe (resolves on its ack) and the channel's position is forgotten.
   */
  unsubscribe(channel: string, onMessage?: MessageHandler): Promise<void> {
    return this.subscriptions.unsubscribe(channel, onMessage);
  }

  /**
   * Publish `data` on `channel`, exactly once. Resolves with the server's ack (which carries the
   * message's `seq`); rejects with `ServerError`, `TimeoutError`, `QueueFullError`,
   * `ClientClosedError`, or `ConnectionLostError` only when the socket closed before the ack and
   * the publish could not be resent within 4 minutes (it may or may not have gone out). A
   * publish whose ack was lost with its socket is resent with the same `idempotencyKey` on the
   * next connection, and the server publishes it once (a repeat is acked with the first `seq`
   * and `duplicate: true`). While disconnected, publishes wait in a bounded queue and go out, in
   * order, on connect. `{ack: false}` asks for no ack, and no key (see `PublishOptions`).
   */
  publish(channel: string, data: unknown, options: PublishOptions = {}): Promise<PublishAck> {
    if (!isValidChannel(channel)) return Promise.reject(new InvalidChannelError(channel));
    const frame: ClientFrame = { action: "publish", channel, data, id: "" };
    if (options.ack === false) {
      return this.request((transport) =>
        this.requests
          .sendOnly(transport, { ...frame, id: this.requests.nextId(), ack: false })
          .then(() => ({ channel, seq: undefined, ack: undefined })),
      );
    }
    const { idempotencyKey } = options;
    if (idempotencyKey !== undefined && !isValidIdempotencyKey(idempotencyKey)) {
      return Promise.reject(new TypeError("publish: idempotencyKey must be 1-64 printable ASCII characters"));
    }
    let key = idempotencyKey; // made on the first send: the platform is known once connected
    return publishOnce({
      send: (transport) => {
        key ??= newIdempotencyKey(this.connection.host);
        return this.requests.send(transport, { ...frame, id: this.requests.nextId(), idempotencyKey: key }) as Promise<Ack>;
      },
      request: (run) => this.request(run),
      now: () => this.connection.host.now(),
    }).then((ack) => ({ channel, seq: typeof ack.seq === "number" ? ack.seq : undefined, ack }));
  }

  /**
   * The members of a presence channel (`presence-` prefix): `[{user, data, connections}]`.
   * Rejects with `ServerError` (`bad_request` on a channel without the prefix,
   * `payload_too_large` past the server's member cap: keep a list from `join`/`leave` then),
   * `TimeoutError` or `ConnectionLostError`. Waits for the connection like `publish`.
   */
  presence<T = unknown>(channel: string): Promise<Array<Member<T>>> {
    if (!isValidChannel(channel)) return Promise.reject(new InvalidChannelError(channel));
    return this.request((transport) =>
      this.requests
        .send(transport, { action: "presence", channel, id: this.requests.nextId() })
        .then((ack) => parseMembers<T>((ack as Ack).members)),
    );
  }

  /**
   * A page of `channel`'s kept messages, oldest first (`limit` at most 100; `before` a page's
   * `next` for the page before it). `limit: 0` returns only the position (`epoch`, `seq`) to
   * hand to `subscribe(channel, onMessage, {since: seq, epoch})`. Settles like `presence`.
   */
  history<T = unknown>(channel: string, options: HistoryOptions = {}): Promise<HistoryPage<T>> {
    if (!isValidChannel(channel)) return Promise.reject(new InvalidChannelError(channel));
    const { limit, before } = options;
    return this.request((transport) => {
      const frame: ClientFrame = { action: "history", channel, id: this.requests.nextId() };
      if (limit !== undefined) frame.limit = limit;
      if (before !== undefined) frame.before = before;
      return this.requests.send(transport, frame).then((ack) => parseHistoryPage<T>(channel, ack as Ack));
    });
  }

  /**
   * Give the open connection the permissions of a fresh token, without reconnecting: fetches one
   * with the app's `getToken` (or `authUrl`) and sends `auth`. Call it when the app knows the
   * user's permissions changed (e.g. after joining a private room). Resolves with the token's
   * `expiresAt` (seconds) once the server took it; every subscription the fresh token no longer
   * allows ends first, each with an `unsubscribed` event (its handlers get nothing more). Rejects
   * with `ServerError` `unauthorized` (another user's token, or one that does not verify: nothing
   * changed), `UnauthorizedError` (the token endpoint refused), `ConnectionLostError` (not
   * connected: the next connection uses a fresh token anyway) or `TimeoutError`.
   */
  async refreshAuth(): Promise<{ expiresAt: number | undefined }> {
    const transport = this.connection.openTransport();
    if (!transport) throw new ConnectionLostError("not connected");
    const token = await acquireToken(this.tokens, this.connection.host);
    const now = this.connection.openTransport();
    if (!now) throw new ConnectionLostError("not connected");
    const ack = (await this.requests.send(now, { action: "auth", token, id: this.requests.nextId() })) as Ack;
    return { expiresAt: typeof ack.expiresAt === "number" ? ack.expiresAt : undefined };
  }

  /**
   * Call the app's `rpc` hook `method` with `params` (any JSON value). Resolves with the
   * hook's result; rejects with `RpcError` (a `ServerError`: `unknown_method` when no hook has
   * the method, `internal` for a hook's bug, the hook's own `Reject` code), `TimeoutError` or
   * `ConnectionLostError` (the call may or may not have run). Waits for the connection like
   * `publish`.
   */
  rpc<T = unknown>(method: string, params?: unknown): Promise<T> {
    return this.request((transport) => {
      const frame: ClientFrame = { action: "rpc", method, id: this.requests.nextId() };
      if (params !== undefined) frame.params = params;
      return this.requests.send(transport, frame).then(
        (ack) => (ack as Ack).result as T,
        (error: unknown) => {
          throw error instanceof ServerError ? new RpcError(method, error.code, error.message) : error;
        },
      );
    });
  }

  /** Send a `ping`; resolves with the `pong` (and records the connection id). */
  ping(timeoutMs?: number): Promise<Pong> {
    const transport = this.connection.openTransport();
    if (!transport) return Promise.reject(new ConnectionLostError("not connected"));
    const frame: ClientFrame = { action: "ping", id: this.requests.nextId() };
    return this.requests.send(transport, frame, timeoutMs) as Promise<Pong>;
  }

  /** Run `run` on the open socket now, or queue it (bounded) until the client is connected. */
  private request<T>(run: (transport: Transport) => Promise<T>): Promise<T> {
    if (this.connection.state === "unauthorized") {
      return Promise.reject(new UnauthorizedError("not connected: the token was refused"));
    }
    const transport = this.connection.openTransport();
    return transport ? run(transport) : this.queue.add(run);
  }

  /** A frame from the server: replies settle their request, the rest goes to the channels. */
  private receive(transport: Transport, data: unknown): void {
    const frame = parseServerFrame(data);
    if (!frame) return;
    switch (frame.type) {
      case "message":
        this.subscriptions.receiveMessage(frame);
        return;
      case "pong":
        if (frame.connectionId) this.connection.sockets.learned(transport, frame.connectionId);
        this.requests.answer(frame);
        return;
      case "ack":
        this.requests.answer(frame);
        return;
      case "error":
        if (this.requests.answer(frame)) return;
        this.events.emit("error", { error: new ServerError(frame.code, frame.message) });
        return;
      case "join":
      case "leave":
        this.subscriptions.receivePresence(frame, transport.serial);
        return;
      case "unsubscribed":
        this.subscriptions.ended(frame.channel, frame.reason);
        return;
      case "direct":
        if (this.registry.directs.isCopy(frame, transport.serial)) return; // a planned swap's copy
        this.events.emit("direct", { data: frame.data, from: frame.from, ts: frame.ts });
        return;
    }
  }
}
