/**
 * The Switchboard client: one logical connection to a Switchboard WebSocket API that survives
 * what API Gateway does to sockets (short-lived tokens, the 10-minute idle timeout, the 2-hour
 * cap, handshake failures reported as code 1006) without losing or repeating a message.
 *
 * The client is idle until `connect()`; nothing in this module touches a browser API before it.
 */
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
import { ChannelCursor } from "./cursor.js";
import {
  ClientClosedError,
  ConnectionLostError,
  HandshakeError,
  InvalidChannelError,
  QueueFullError,
  ServerError,
  SwitchboardError,
  TimeoutError,
  UnauthorizedError,
} from "./errors.js";
import { resolvePlatform, type Platform, type SocketLike, type TokenResponse } from "./platform.js";
import {
  epochOf,
  isValidChannel,
  parseServerFrame,
  type Ack,
  type ClientFrame,
  type DirectFrame,
  type JoinFrame,
  type LeaveFrame,
  type Member,
  type Message,
  type Pong,
  type ServerFrame,
} from "./protocol.js";

/** The connection states; `client.state` holds one and the `state` event reports changes. */
export type ConnectionState =
  | "idle" // created, `connect()` not called yet
  | "connecting" // the first attempt: fetching a token, opening the socket
  | "open" // connected; requests are sent at once
  | "reconnecting" // the socket dropped: waiting out the backoff or trying again
  | "offline" // the browser is offline: waiting for its `online` event
  | "unauthorized" // the token endpoint answered 401/403: stopped until `connect()`
  | "closed"; // `close()` was called

export interface ClientOptions {
  /** The WebSocket API's URL, e.g. `wss://abc.execute-api.eu-west-1.amazonaws.com/prod`. */
  url: string;
  /** Returns a fresh token; called before every connect and reconnect. */
  getToken?: () => string | null | undefined | Promise<string | null | undefined>;
  /** Or: a URL answering `{"token": "..."}`, fetched with the page's cookies. */
  authUrl?: string;
  /** `protocol` (default): `new WebSocket(url, ["switchboard", token])`; `query`: `?token=`. */
  tokenTransport?: "protocol" | "query";
  /** How long a request waits for its `ack` or `error` (default 10 s). */
  requestTimeoutMs?: number;
  /** How long a socket may take to open (default 15 s). */
  connectTimeoutMs?: number;
  /** Reconnection delays (default: first retry within 500 ms, then backoff up to 5 s). */
  backoff?: Partial<BackoffOptions>;
  /** A connection open this long resets the backoff (default 10 s). */
  stableAfterMs?: number;
  /** Keep-alive ping period, well inside API Gateway's 10-minute idle timeout (default 5 min). */
  pingIntervalMs?: number;
  /** How long a liveness ping waits for its pong before the socket counts as dead (default 10 s). */
  pongTimeoutMs?: number;
  /** When to replace the socket, before API Gateway's 2-hour cap (default 1 h 50 min). */
  maxConnectionAgeMs?: number;
  /** How many publishes may wait for a connection (default 100). */
  maxQueuedPublishes?: number;
  /** Replace parts of the host (WebSocket, fetch, timers, random, browser signals): for tests. */
  platform?: Partial<Platform>;
}

/** A message handed to a channel's handlers. */
export type ChannelMessage<T = unknown> = Message<T>;
export type MessageHandler<T = unknown> = (message: ChannelMessage<T>) => void;

/** A `join` or `leave` on a presence channel (a channel with the `presence-` prefix). */
export type PresenceEvent<T = unknown> =
  | { type: "join"; channel: string; user: string; data?: T }
  | { type: "leave"; channel: string; user: string };
export type PresenceListener<T = unknown> = (event: PresenceEvent<T>) => void;

export interface SubscribeOptions {
  /**
   * Start from this position instead of "now": the first subscribe is sent with `since` (and
   * `epoch`), so the messages published after it are replayed (or `reset` is raised when they
   * cannot be). E.g. the `seq`/`epoch` of a `history` read with `limit: 0` made while rendering
   * on the server. Ignored when the channel is already subscribed.
   */
  since?: number;
  epoch?: string | null;
  /**
   * Receive the channel's last `rewind` kept messages (0-100; fewer when fewer are kept) before
   * the subscription is confirmed, then live ones, none lost or twice at the seam. They reach the
   * handler like live messages. Only the first subscribe sends it: a resubscribe after a reconnect
   * resumes with `since`. Not with `since`; ignored when the channel is already subscribed.
   */
  rewind?: number;
  /** Called with the channel's `join` and `leave` events, while this handler is subscribed. */
  onPresence?: PresenceListener;
}

export interface HistoryOptions {
  /** At most this many messages (the server's default when omitted; at most 100; 0 for just the position). */
  limit?: number;
  /** Only messages with a `seq` below this one: pass a page's `next` to get the page before it. */
  before?: number;
}

/** One page of a channel's kept messages, oldest first. */
export interface HistoryPage<T = unknown> {
  channel: string;
  /** The channel's epoch (`null` before its first message). */
  epoch: string | null;
  /** The channel's last `seq` (its position, to pass to `subscribe` as `since`). */
  seq: number;
  messages: Array<Message<T>>;
  /** The `before` of the previous page, `null` when this page reaches the oldest kept message. */
  next: number | null;
}

/** A message the app's backend sent to this user (`POST /users/{user}/messages`). */
export interface DirectMessage<T = unknown> {
  data: T;
  from: string | undefined;
  ts: number | undefined;
}

/** A confirmed subscription. */
export interface Subscription {
  channel: string;
  epoch: string | undefined;
  seq: number | undefined;
  /** Removes this subscription's handler (and the channel, once no handler is left). */
  unsubscribe(): Promise<void>;
}

export interface PublishAck {
  channel: string;
  /** The message's `seq`; `undefined` for a publish sent with `{ack: false}`. */
  seq: number | undefined;
  /** The server's ack; `undefined` for a publish sent with `{ack: false}`. */
  ack: Ack | undefined;
}

export interface PublishOptions {
  /**
   * `false`: the server sends no ack (one API Gateway message less per publish). The promise
   * then resolves once the frame is written to the socket, without `seq`; an error the server
   * still answers (`rate_limited`, `forbidden`, ...) arrives as an `error` event instead of a
   * rejection, and a socket that closes before the frame reached the server loses it silently.
   */
  ack?: boolean;
}

/** The events `client.on()` reports. */
export interface ClientEvents {
  state: { state: ConnectionState; previous: ConnectionState };
  /** The server could not replay what this client missed on `channel`: reload its state. */
  reset: { channel: string; epoch: string | undefined; seq: number | undefined };
  /** Every message delivered, on any channel. */
  message: ChannelMessage;
  /** The connection id of the current socket, learned from a `pong`. */
  connection: { connectionId: string };
  /** An error no promise could carry (a refused resubscribe, an unsolicited error frame). */
  error: { error: SwitchboardError; channel?: string };
  /** A user joined a presence channel this client is subscribed to. */
  join: Extract<PresenceEvent, { type: "join" }>;
  /** A user's last connection left a presence channel this client is subscribed to. */
  leave: Extract<PresenceEvent, { type: "leave" }>;
  /** A message from the app's backend to this user. */
  direct: DirectMessage;
  /**
   * The server acknowledged a subscribe of `channel`: the first one, and every resubscribe (after
   * a reconnect, on the new socket of a planned swap, or to recover a gap). Anything not kept in
   * the channel's history (e.g. presence) may have changed meanwhile: reload it.
   */
  subscribed: { channel: string; epoch: string | undefined; seq: number | undefined; recovered: boolean | undefined };
  /**
   * Why connecting fails (`error`), or `null` once a socket opens: a `HandshakeError`, a
   * `token_failed` error carrying the token endpoint's message, or the `UnauthorizedError` that
   * stopped the client. Reported when it changes; `client.connectionError` holds the last one.
   */
  connectionError: { error: SwitchboardError | null };
}

type Listener<K extends keyof ClientEvents> = (payload: ClientEvents[K]) => void;

interface Connection {
  readonly serial: number;
  readonly socket: SocketLike;
  opened: boolean;
  retiring: boolean;
  connectionId: string | undefined;
  /** Ids of the requests sent on this socket and not answered yet. */
  readonly pending: Set<string>;
  readonly timers: unknown[];
}

interface Request {
  readonly id: string;
  readonly frame: ClientFrame;
  readonly connection: Connection;
  timer: unknown;
  resolve(frame: Ack | Pong): void;
  reject(error: Error): void;
}

interface Waiter {
  handler: MessageHandler;
  resolve(subscription: Subscription): void;
  reject(error: Error): void;
}

interface Channel {
  readonly name: string;
  readonly cursor: ChannelCursor;
  /** Message handlers, each with the presence listener it was subscribed with (if any). */
  readonly handlers: Map<MessageHandler, PresenceListener | undefined>;
  /** The last presence event per user and the socket it came on (to drop an overlap's copies). */
  readonly presenceSeen: Map<string, { signature: string; serial: number }>;
  /** subscribe() calls waiting for the server's first ack. */
  waiters: Waiter[];
  /** The server confirmed the subscription on the current socket. */
  confirmed: boolean;
  /** The id of a subscribe request in flight. */
  inFlight: string | null;
  /** Subscribes of this channel that timed out in a row (their retries back off). */
  timeouts: number;
  /** The `rewind` of the first subscribe, until the server acknowledges one. */
  rewind: number | undefined;
}

/** The most messages a subscribe may rewind (DESIGN.md, "Frames"). */
const MAX_REWIND = 100;

/** Why a subscribe's `rewind` is refused, or `undefined` when it is fine (or absent). */
function rewindProblem(rewind: number | undefined, since: number | undefined): string | undefined {
  if (rewind === undefined) return undefined;
  if (!(Number.isInteger(rewind) && rewind >= 0 && rewind <= MAX_REWIND)) {
    return `rewind must be an integer from 0 to ${MAX_REWIND}, got ${String(rewind)}`;
  }
  return since === undefined ? undefined : "rewind cannot be combined with since";
}

/** A publish (or a presence/history read) waiting for a connection. */
interface QueuedRequest {
  run(connection: Connection): Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

const DEFAULTS = {
  requestTimeoutMs: 10_000,
  connectTimeoutMs: 15_000,
  stableAfterMs: 10_000,
  pingIntervalMs: 5 * 60_000,
  pongTimeoutMs: 10_000,
  maxConnectionAgeMs: 110 * 60_000,
  maxQueuedPublishes: 100,
};

/** Close codes this client uses when it closes a socket itself. */
const CLOSE_NORMAL = 1000;
const CLOSE_DEAD = 4000;
const SOCKET_OPEN = 1;
/** How many recent `direct` frames are remembered to drop the copies a second socket gets. */
const MAX_DIRECT_SEEN = 64;

/** Create a client; it stays `idle` (and touches no browser API) until `connect()`. */
export function createClient(options: ClientOptions): SwitchboardClient {
  return new SwitchboardClient(options);
}

export class SwitchboardClient {
  private readonly options: ClientOptions;
  private readonly settings: typeof DEFAULTS;
  private readonly backoff: BackoffOptions;
  private platform: Platform | null = null;
  private currentState: ConnectionState = "idle";
  private lastConnectionError: SwitchboardError | null = null;
  private readonly listeners = new Map<keyof ClientEvents, Set<Listener<keyof ClientEvents>>>();
  private readonly channels = new Map<string, Channel>();
  private readonly requests = new Map<string, Request>();
  private queue: QueuedRequest[] = [];
  /** Recent `direct` frames and the socket each came on (to drop an overlap's copies). */
  private directSeen: Array<{ signature: string; serial: number }> = [];
  private current: Connection | null = null;
  private next: Connection | null = null;
  private serial = 0;
  /** Bumped by connect() and close(): async work from an older generation is ignored. */
  private generation = 0;
  private attempt = 0;
  private plannedAttempt = 0;
  private retryTimer: unknown = null;
  private unlisten: Array<() => void> = [];
  private readonly idPrefix: string;
  private idCounter = 0;

  constructor(options: ClientOptions) {
    if (!options || typeof options.url !== "string" || options.url === "") {
      throw new TypeError("@switchboard/client: `url` is required");
    }
    if (!options.getToken && !options.authUrl) {
      throw new TypeError("@switchboard/client: pass `getToken` or `authUrl`");
    }
    this.options = options;
    this.settings = { ...DEFAULTS };
    for (const key of Object.keys(DEFAULTS) as Array<keyof typeof DEFAULTS>) {
      const value = options[key];
      if (typeof value === "number" && value >= 0) this.settings[key] = value;
    }
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.idPrefix = Math.floor(Math.random() * 36 ** 4).toString(36);
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this.currentState;
  }

  /**
   * Why the last attempt to connect failed (see the `connectionError` event), `null` while
   * connected or before the first failure. The state says what the client does about it.
   */
  get connectionError(): SwitchboardError | null {
    return this.lastConnectionError;
  }

  /** This client's connection id on the server (from the last `pong`), if known. */
  get connectionId(): string | undefined {
    return this.current?.connectionId;
  }

  /** The channels this client is subscribed to (or about to be). */
  get subscribedChannels(): string[] {
    return [...this.channels.keys()];
  }

  /** Listen to an event; returns the function that stops listening. */
  on<K extends keyof ClientEvents>(event: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<keyof ClientEvents>);
    return () => {
      set.delete(listener as Listener<keyof ClientEvents>);
    };
  }

  /**
   * Start connecting (and keep reconnecting). Call again after `close()` or in the `unauthorized`
   * state (e.g. after signing in) to start over; otherwise a no-op.
   */
  connect(): void {
    const state = this.currentState;
    if (state !== "idle" && state !== "closed" && state !== "unauthorized") return;
    this.platform ??= resolvePlatform(this.options.platform);
    this.generation += 1;
    this.attempt = 0;
    this.setConnectionError(null);
    this.listenToBrowser();
    if (!this.platform.isOnline()) {
      this.setState("offline");
      return;
    }
    this.setState("connecting");
    void this.openConnection(false);
  }

  /**
   * Close the connection and stop reconnecting. Everything outstanding is rejected with
   * `ClientClosedError` and every subscription is dropped. `connect()` starts over.
   */
  close(): void {
    this.generation += 1;
    this.stopRetrying();
    for (const stop of this.unlisten.splice(0)) stop();
    const error = new ClientClosedError();
    for (const connection of [this.current, this.next]) {
      if (connection) this.discard(connection, CLOSE_NORMAL, "client closed", error);
    }
    this.current = null;
    this.next = null;
    for (const queued of this.queue.splice(0)) queued.reject(error);
    for (const channel of this.channels.values()) {
      for (const waiter of channel.waiters) waiter.reject(error);
    }
    this.channels.clear();
    this.directSeen = [];
    this.setState("closed");
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
    if (since !== undefined && !(Number.isInteger(since) && since >= 0)) {
      return Promise.reject(new TypeError(`subscribe: since must be a seq (an integer >= 0), got ${String(since)}`));
    }
    const refused = rewindProblem(rewind, since);
    if (refused) return Promise.reject(new TypeError(`subscribe: ${refused}`));
    const handler = onMessage as MessageHandler;
    let entry = this.channels.get(channel);
    if (!entry) {
      entry = {
        name: channel,
        cursor: new ChannelCursor(),
        handlers: new Map(),
        presenceSeen: new Map(),
        waiters: [],
        confirmed: false,
        inFlight: null,
        timeouts: 0,
        rewind,
      };
      if (since !== undefined) entry.cursor.resumeFrom(since, epoch);
      this.channels.set(channel, entry);
    }
    entry.handlers.set(handler, onPresence);
    const known = entry;
    if (known.confirmed && this.isOpen()) return Promise.resolve(this.subscription(known, handler));
    return new Promise<Subscription>((resolve, reject) => {
      known.waiters.push({ handler, resolve, reject });
      const connection = this.current;
      if (connection && this.isOpen() && known.inFlight === null) {
        this.sendSubscribe(known, connection);
      }
    });
  }

  /**
   * Remove `onMessage` from `channel` (every handler when omitted). Once no handler is left the
   * server is told to unsubscribe (resolves on its ack) and the channel's position is forgotten.
   */
  unsubscribe(channel: string, onMessage?: MessageHandler): Promise<void> {
    const entry = this.channels.get(channel);
    if (!entry) return Promise.resolve();
    if (onMessage) entry.handlers.delete(onMessage as MessageHandler);
    else entry.handlers.clear();
    if (entry.handlers.size > 0) return Promise.resolve();
    this.channels.delete(channel);
    const error = new SwitchboardError("unsubscribed", `unsubscribed from ${channel}`);
    for (const waiter of entry.waiters.splice(0)) waiter.reject(error);
    const connection = this.current;
    if (!connection || !this.isOpen()) return Promise.resolve();
    const id = this.nextId();
    return this.send(connection, { action: "unsubscribe", channel, id }).then(
      () => undefined,
      (error: unknown) => {
        // The socket went away: the server drops its subscriptions with it.
        if (error instanceof ConnectionLostError) return;
        throw error;
      },
    );
  }

  /**
   * Publish `data` on `channel`. Resolves with the server's ack (which carries the message's
   * `seq`); rejects with `ServerError`, `TimeoutError`, `ConnectionLostError` (the socket closed
   * first: the message may or may not have gone out), `QueueFullError` or `ClientClosedError`.
   * While disconnected, publishes wait in a bounded queue and go out, in order, on connect.
   * `{ack: false}` asks for no ack (see `PublishOptions`).
   */
  publish(channel: string, data: unknown, options: PublishOptions = {}): Promise<PublishAck> {
    if (!isValidChannel(channel)) return Promise.reject(new InvalidChannelError(channel));
    const wantsAck = options.ack !== false;
    return this.request((connection) => this.sendPublish(connection, channel, data, wantsAck));
  }

  /**
   * The members of a presence channel (`presence-` prefix): `[{user, data, connections}]`.
   * Rejects with `ServerError` (`bad_request` on a channel without the prefix,
   * `payload_too_large` past the server's member cap: keep a list from `join`/`leave` then),
   * `TimeoutError` or `ConnectionLostError`. Waits for the connection like `publish`.
   */
  presence<T = unknown>(channel: string): Promise<Array<Member<T>>> {
    if (!isValidChannel(channel)) return Promise.reject(new InvalidChannelError(channel));
    return this.request((connection) =>
      this.send(connection, { action: "presence", channel, id: this.nextId() }).then((ack) =>
        parseMembers<T>((ack as Ack).members),
      ),
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
    return this.request((connection) => {
      const frame: ClientFrame = { action: "history", channel, id: this.nextId() };
      if (limit !== undefined) frame.limit = limit;
      if (before !== undefined) frame.before = before;
      return this.send(connection, frame).then((ack) => parseHistoryPage<T>(channel, ack as Ack));
    });
  }

  /** Run `run` on the open socket now, or queue it (bounded) until the client is connected. */
  private request<T>(run: (connection: Connection) => Promise<T>): Promise<T> {
    if (this.currentState === "unauthorized") {
      return Promise.reject(new UnauthorizedError("not connected: the token was refused"));
    }
    const connection = this.current;
    if (connection && this.isOpen()) return run(connection);
    if (this.queue.length >= this.settings.maxQueuedPublishes) {
      return Promise.reject(new QueueFullError(this.settings.maxQueuedPublishes));
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (value: unknown) => void, reject });
    });
  }

  /** How many publishes (and presence/history reads) wait for a connection. */
  get queuedPublishes(): number {
    return this.queue.length;
  }

  /** Send a `ping`; resolves with the `pong` (and records the connection id). */
  ping(timeoutMs = this.settings.requestTimeoutMs): Promise<Pong> {
    const connection = this.current;
    if (!connection || !this.isOpen()) {
      return Promise.reject(new ConnectionLostError("not connected"));
    }
    return this.send(connection, { action: "ping", id: this.nextId() }, timeoutMs) as Promise<Pong>;
  }

  // --- connecting ----------------------------------------------------------------------------

  private isOpen(): boolean {
    return this.currentState === "open" && this.current?.opened === true;
  }

  /** Fetch a fresh token and open a socket: the current one, or the `next` of a planned swap. */
  private async openConnection(planned: boolean): Promise<void> {
    const generation = this.generation;
    const platform = this.platform!;
    let token: string;
    try {
      token = await this.fetchToken(platform);
    } catch (error) {
      if (generation !== this.generation) return;
      if (isUnauthorized(error)) {
        this.becomeUnauthorized(error);
      } else if (planned) {
        this.schedulePlannedRetry();
      } else {
        const failure = asSwitchboardError(error, "token_failed");
        this.setConnectionError(failure);
        this.reportError(failure);
        this.scheduleReconnect();
      }
      return;
    }
    if (generation !== this.generation) return;
    if (planned && (!this.current || this.next)) return;

    let socket: SocketLike;
    try {
      socket = this.createSocket(platform, token);
    } catch (error) {
      const failure = asSwitchboardError(error, "connect_failed");
      if (!planned) this.setConnectionError(failure);
      this.reportError(failure);
      if (planned) this.schedulePlannedRetry();
      else this.scheduleReconnect();
      return;
    }
    const connection: Connection = {
      serial: ++this.serial,
      socket,
      opened: false,
      retiring: false,
      connectionId: undefined,
      pending: new Set(),
      timers: [],
    };
    if (planned) this.next = connection;
    else this.current = connection;
    socket.onopen = () => this.handleOpen(connection);
    socket.onmessage = (event: { data: unknown }) => this.handleFrame(connection, event.data);
    socket.onclose = (event: { code?: number; reason?: string }) =>
      this.handleClose(connection, event?.code ?? 1006, event?.reason ?? "");
    socket.onerror = () => {
      // A close event follows; handshake failures (401/403) surface only as code 1006.
    };
    this.addTimer(connection, this.settings.connectTimeoutMs, () => {
      if (!connection.opened) this.drop(connection, "the socket did not open in time");
    });
  }

  private createSocket(platform: Platform, token: string): SocketLike {
    if (this.options.tokenTransport === "query") {
      const separator = this.options.url.includes("?") ? "&" : "?";
      const url = `${this.options.url}${separator}token=${encodeURIComponent(token)}`;
      return new platform.WebSocket(url);
    }
    return new platform.WebSocket(this.options.url, ["switchboard", token]);
  }

  private async fetchToken(platform: Platform): Promise<string> {
    if (this.options.getToken) {
      const token = await this.options.getToken();
      if (typeof token !== "string" || token === "") {
        throw new UnauthorizedError("getToken returned no token");
      }
      return token;
    }
    const response = await platform.fetch(this.options.authUrl!, {
      credentials: "include",
      cache: "no-store",
      headers: { accept: "application/json" },
    });
    if (!response.ok) {
      const answer = `the token endpoint answered ${response.status}${await errorText(response)}`;
      if (response.status === 401 || response.status === 403) {
        throw new UnauthorizedError(answer, response.status);
      }
      throw new SwitchboardError("token_failed", answer);
    }
    const body = (await response.json()) as { token?: unknown } | null;
    if (!body || typeof body.token !== "string" || body.token === "") {
      throw new SwitchboardError("token_failed", "the token endpoint answered without a token");
    }
    return body.token;
  }

  private handleOpen(connection: Connection): void {
    if (connection !== this.current && connection !== this.next) {
      this.discard(connection, CLOSE_NORMAL, "stale", new ConnectionLostError("stale socket"));
      return;
    }
    connection.opened = true;
    this.clearTimers(connection);
    if (connection === this.next) {
      // A planned swap: resubscribe on the new socket, then retire the old one.
      void this.resubscribeAll(connection).then(() => {
        if (connection === this.next && connection.opened) this.promote(connection);
      });
      this.learnConnectionId(connection);
      return;
    }
    this.startConnectionTimers(connection);
    this.setConnectionError(null);
    this.setState("open");
    this.learnConnectionId(connection);
    void this.resubscribeAll(connection);
    this.flushQueue(connection);
  }

  /** Make the (open) `next` socket the current one and retire the old one. */
  private promote(connection: Connection): void {
    const old = this.current;
    this.next = null;
    this.current = connection;
    this.plannedAttempt = 0;
    this.startConnectionTimers(connection);
    if (old) this.retire(old);
    if (this.currentState !== "open") this.setState("open");
    this.flushQueue(connection);
    if (connection.connectionId) this.emit("connection", { connectionId: connection.connectionId });
  }

  /** Close `old` once its outstanding requests are answered (or time out). */
  private retire(connection: Connection): void {
    connection.retiring = true;
    this.clearTimers(connection);
    if (connection.pending.size === 0) {
      this.discard(connection, CLOSE_NORMAL, "replaced", new ConnectionLostError("replaced"));
      return;
    }
    this.addTimer(connection, this.settings.requestTimeoutMs, () => {
      this.discard(connection, CLOSE_NORMAL, "replaced", new ConnectionLostError("replaced"));
    });
  }

  private handleClose(connection: Connection, code: number, reason: string): void {
    detach(connection.socket);
    this.clearTimers(connection);
    this.failPending(
      connection,
      new ConnectionLostError(`the connection closed (${code}${reason ? ` ${reason}` : ""})`),
    );
    if (connection === this.next) {
      this.next = null;
      this.schedulePlannedRetry();
      return;
    }
    if (connection !== this.current) return;
    this.current = null;
    if (!connection.opened) this.setConnectionError(new HandshakeError(code, reason));
    for (const channel of this.channels.values()) {
      channel.confirmed = false;
      channel.inFlight = null;
      channel.cursor.recovering = false;
      channel.presenceSeen.clear(); // what the next socket reports is news, not a copy
    }
    this.directSeen = [];
    const next = this.next;
    if (next) {
      if (next.opened) {
        this.promote(next);
      } else {
        // The planned replacement is still opening: it becomes the current attempt.
        this.next = null;
        this.current = next;
        this.setState("reconnecting");
      }
      return;
    }
    if (!this.platform!.isOnline()) {
      this.setState("offline");
      return;
    }
    this.scheduleReconnect();
  }

  /** Treat `connection` as dead at once (without waiting for a close handshake). */
  private drop(connection: Connection, reason: string): void {
    const socket = connection.socket;
    detach(socket);
    try {
      socket.close(CLOSE_DEAD, reason);
    } catch {
      // Already closed.
    }
    this.handleClose(connection, CLOSE_DEAD, reason);
  }

  /** Close a socket that is no longer wanted, failing what it still carries with `error`. */
  private discard(connection: Connection, code: number, reason: string, error: Error): void {
    const socket = connection.socket;
    detach(socket);
    connection.retiring = false;
    this.clearTimers(connection);
    this.failPending(connection, error);
    try {
      socket.close(code, reason);
    } catch {
      // Already closed.
    }
  }

  private scheduleReconnect(): void {
    this.stopRetrying();
    if (this.currentState !== "offline") this.setState("reconnecting");
    const delay = backoffDelay(this.attempt, this.platform!.random, this.backoff);
    this.attempt += 1;
    this.retryTimer = this.platform!.setTimeout(() => {
      this.retryTimer = null;
      void this.openConnection(false);
    }, delay);
  }

  private schedulePlannedRetry(): void {
    if (!this.current || this.next || this.currentState !== "open") return;
    const delay = backoffDelay(this.plannedAttempt, this.platform!.random, this.backoff);
    this.plannedAttempt += 1;
    this.addTimer(this.current, delay, () => this.startPlannedReconnect());
  }

  private startPlannedReconnect(): void {
    if (!this.current || this.next || !this.isOpen()) return;
    void this.openConnection(true);
  }

  private stopRetrying(): void {
    if (this.retryTimer !== null && this.platform) {
      this.platform!.clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  }

  /** Reconnect now (the browser came back online, or the tab became visible again). */
  private reconnectNow(resetBackoff: boolean): void {
    if (resetBackoff) this.attempt = 0;
    if (this.current || this.next) return; // an attempt is already under way
    if (this.currentState !== "reconnecting" && this.currentState !== "offline") return;
    if (this.currentState === "reconnecting" && this.retryTimer === null) return; // fetching a token
    this.stopRetrying();
    this.setState("reconnecting");
    void this.openConnection(false);
  }

  private becomeUnauthorized(error: unknown): void {
    this.stopRetrying();
    for (const stop of this.unlisten.splice(0)) stop();
    const refusal =
      error instanceof UnauthorizedError ? error : new UnauthorizedError(String(error));
    // A refused token during a planned swap means the user's session ended: stop entirely.
    for (const connection of [this.current, this.next]) {
      if (connection) this.discard(connection, CLOSE_NORMAL, "unauthorized", refusal);
    }
    this.current = null;
    this.next = null;
    for (const channel of this.channels.values()) {
      channel.confirmed = false;
      channel.inFlight = null;
    }
    for (const queued of this.queue.splice(0)) queued.reject(refusal);
    this.setConnectionError(refusal);
    this.setState("unauthorized");
  }

  private listenToBrowser(): void {
    for (const stop of this.unlisten.splice(0)) stop();
    const platform = this.platform!;
    this.unlisten.push(
      platform.listen("online", () => {
        if (this.isOpen()) void this.checkAlive();
        else this.reconnectNow(true);
      }),
      platform.listen("offline", () => {
        if (this.isOpen()) {
          void this.checkAlive();
        } else if (this.retryTimer !== null) {
          this.stopRetrying();
          this.setState("offline");
        }
      }),
      platform.listen("visible", () => {
        if (this.isOpen()) void this.checkAlive();
        else if (platform.isOnline()) this.reconnectNow(false);
      }),
    );
  }

  /** Ping the current socket; if no pong comes within `pongTimeoutMs`, replace the socket. */
  private async checkAlive(): Promise<void> {
    const connection = this.current;
    if (!connection || !this.isOpen()) return;
    try {
      await this.send(connection, { action: "ping", id: this.nextId() }, this.settings.pongTimeoutMs);
    } catch (error) {
      if (error instanceof TimeoutError && connection === this.current) {
        this.drop(connection, "no pong");
      }
    }
  }

  private startConnectionTimers(connection: Connection): void {
    this.clearTimers(connection);
    this.addTimer(connection, this.settings.stableAfterMs, () => {
      this.attempt = 0;
    });
    this.addTimer(connection, this.settings.maxConnectionAgeMs, () => this.startPlannedReconnect());
    const keepAlive = (): void => {
      void this.checkAlive();
      this.addTimer(connection, this.settings.pingIntervalMs, keepAlive);
    };
    this.addTimer(connection, this.settings.pingIntervalMs, keepAlive);
  }

  private addTimer(connection: Connection, ms: number, callback: () => void): void {
    const handle = this.platform!.setTimeout(() => {
      const index = connection.timers.indexOf(handle);
      if (index >= 0) connection.timers.splice(index, 1);
      callback();
    }, ms);
    connection.timers.push(handle);
  }

  private clearTimers(connection: Connection): void {
    for (const handle of connection.timers.splice(0)) this.platform!.clearTimeout(handle);
  }

  private learnConnectionId(connection: Connection): void {
    const id = this.nextId();
    this.send(connection, { action: "ping", id }).then(
      () => undefined,
      () => undefined, // a lost or late pong only means the id stays unknown for now
    );
  }

  // --- requests ------------------------------------------------------------------------------

  private nextId(): string {
    this.idCounter += 1;
    return `${this.idPrefix}-${this.idCounter}`;
  }

  /** Send `frame` on `connection`; settles on the reply with the same id, or a timeout. */
  private send(
    connection: Connection,
    frame: ClientFrame,
    timeoutMs = this.settings.requestTimeoutMs,
  ): Promise<Ack | Pong> {
    return new Promise<Ack | Pong>((resolve, reject) => {
      const request: Request = { id: frame.id, frame, connection, timer: null, resolve, reject };
      try {
        connection.socket.send(JSON.stringify(frame));
      } catch (error) {
        reject(new ConnectionLostError(`could not send: ${String(error)}`));
        return;
      }
      this.requests.set(frame.id, request);
      connection.pending.add(frame.id);
      request.timer = this.platform!.setTimeout(() => {
        if (this.finish(frame.id)) {
          reject(new TimeoutError(`no reply to ${frame.action} ${frame.id} in ${timeoutMs} ms`));
        }
      }, timeoutMs);
    });
  }

  /** Forget request `id`; returns it if it was still outstanding. */
  private finish(id: string): Request | undefined {
    const request = this.requests.get(id);
    if (!request) return undefined;
    this.requests.delete(id);
    this.platform!.clearTimeout(request.timer);
    const connection = request.connection;
    connection.pending.delete(id);
    if (connection.retiring && connection.pending.size === 0) {
      this.discard(connection, CLOSE_NORMAL, "replaced", new ConnectionLostError("replaced"));
    }
    return request;
  }

  private failPending(connection: Connection, error: Error): void {
    for (const id of [...connection.pending]) this.finish(id)?.reject(error);
  }

  private sendPublish(
    connection: Connection,
    channel: string,
    data: unknown,
    wantsAck: boolean,
  ): Promise<PublishAck> {
    const frame: ClientFrame = { action: "publish", channel, data, id: this.nextId() };
    if (!wantsAck) {
      try {
        connection.socket.send(JSON.stringify({ ...frame, ack: false } satisfies ClientFrame));
      } catch (error) {
        return Promise.reject(new ConnectionLostError(`could not send: ${String(error)}`));
      }
      return Promise.resolve({ channel, seq: undefined, ack: undefined });
    }
    return this.send(connection, frame).then((ack) => ({
      channel,
      seq: typeof (ack as Ack).seq === "number" ? ((ack as Ack).seq as number) : undefined,
      ack: ack as Ack,
    }));
  }

  private flushQueue(connection: Connection): void {
    for (const queued of this.queue.splice(0)) queued.run(connection).then(queued.resolve, queued.reject);
  }

  // --- subscriptions and recovery ------------------------------------------------------------

  private subscription(channel: Channel, handler: MessageHandler): Subscription {
    return {
      channel: channel.name,
      epoch: channel.cursor.epoch,
      seq: channel.cursor.seq,
      unsubscribe: () => this.unsubscribe(channel.name, handler),
    };
  }

  /** Subscribe every channel on `connection`, from where each left off. */
  private resubscribeAll(connection: Connection): Promise<void> {
    const sends = [...this.channels.values()].map((channel) =>
      this.sendSubscribe(channel, connection),
    );
    return Promise.all(sends).then(() => undefined);
  }

  /** Send a subscribe for `channel` (with `since`/`epoch` when a position is known). */
  private sendSubscribe(channel: Channel, connection: Connection): Promise<void> {
    const position = channel.cursor.position();
    const id = this.nextId();
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
    return this.send(connection, frame).then(
      (ack) => this.handleSubscribeAck(channel, id, ack as Ack, position),
      (error: unknown) => this.handleSubscribeFailure(channel, id, connection, error),
    );
  }

  private handleSubscribeAck(
    channel: Channel,
    id: string,
    ack: Ack,
    sent: { since?: number; epoch?: string },
  ): void {
    if (this.channels.get(channel.name) !== channel) return; // unsubscribed meanwhile
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
    this.emit("subscribed", {
      channel: channel.name,
      epoch: channel.cursor.epoch,
      seq: channel.cursor.seq,
      recovered: typeof ack.recovered === "boolean" ? ack.recovered : undefined,
    });
    if (update.recover) this.recover(channel);
  }

  private handleSubscribeFailure(
    channel: Channel,
    id: string,
    connection: Connection,
    error: unknown,
  ): void {
    if (this.channels.get(channel.name) !== channel) return;
    if (channel.inFlight === id) channel.inFlight = null;
    channel.cursor.recovering = false;
    if (error instanceof ConnectionLostError) return; // resubscribed on the next socket
    const failure = asSwitchboardError(error, "internal");
    const waiters = channel.waiters.splice(0);
    for (const waiter of waiters) {
      channel.handlers.delete(waiter.handler);
      waiter.reject(failure);
    }
    if (error instanceof ServerError || channel.handlers.size === 0) {
      // Refused (e.g. forbidden): forget the channel and say so.
      this.channels.delete(channel.name);
      if (channel.handlers.size > 0) this.emit("error", { error: failure, channel: channel.name });
      return;
    }
    // Timed out with handlers still attached: ask again while this socket is current, after a
    // backoff. A slow server still has the first one queued; asking again at once only adds
    // to its queue (hundreds of clients doing so kept the soak's gateway from ever catching up).
    const delay = backoffDelay(channel.timeouts, this.platform!.random, this.backoff);
    channel.timeouts += 1;
    this.addTimer(connection, delay, () => {
      if (this.channels.get(channel.name) !== channel) return;
      if (connection === this.current && this.isOpen() && channel.inFlight === null) {
        void this.sendSubscribe(channel, connection);
      }
    });
  }

  /** The channel's history could not be followed: the app must reload its state. */
  private emitReset(channel: Channel): void {
    this.emit("reset", { channel: channel.name, epoch: channel.cursor.epoch, seq: channel.cursor.seq });
  }

  /** A gap: resubscribe `channel` with `since`/`epoch` on the current socket. */
  private recover(channel: Channel): void {
    const connection = this.current;
    if (!connection || !this.isOpen() || channel.cursor.recovering) return;
    void this.sendSubscribe(channel, connection);
  }

  private deliver(channel: Channel, messages: Message[]): void {
    for (const message of messages) {
      for (const handler of [...channel.handlers.keys()]) this.call(handler, message);
      this.emit("message", message);
    }
  }

  // --- frames --------------------------------------------------------------------------------

  private handleFrame(connection: Connection, data: unknown): void {
    const frame: ServerFrame | null = parseServerFrame(data);
    if (!frame) return;
    switch (frame.type) {
      case "message": {
        const channel = this.channels.get(frame.channel);
        if (!channel) return; // not (or no longer) subscribed here
        const update = channel.cursor.receive(frame);
        if (update.reset) this.emitReset(channel);
        this.deliver(channel, update.deliver);
        if (update.recover) this.recover(channel);
        return;
      }
      case "ack":
        this.finish(frame.id)?.resolve(frame);
        return;
      case "pong": {
        if (frame.connectionId) {
          const known = connection.connectionId;
          connection.connectionId = frame.connectionId;
          if (connection === this.current && known !== frame.connectionId) {
            this.emit("connection", { connectionId: frame.connectionId });
          }
        }
        if (frame.id) this.finish(frame.id)?.resolve(frame);
        return;
      }
      case "error": {
        const error = new ServerError(frame.code, frame.message);
        const request = frame.id ? this.finish(frame.id) : undefined;
        if (request) request.reject(error);
        else this.reportError(error);
        return;
      }
      case "join":
      case "leave":
        this.handlePresence(connection, frame);
        return;
      case "direct":
        this.handleDirect(connection, frame);
        return;
    }
  }

  private handlePresence(connection: Connection, frame: JoinFrame | LeaveFrame): void {
    const channel = this.channels.get(frame.channel);
    if (!channel) return; // not (or no longer) subscribed here
    // During a planned swap both sockets are subscribed and both report every join and leave:
    // the same event for a user as the last one, from the other socket, is that copy.
    const signature = frame.type === "join" ? `join:${JSON.stringify(frame.data ?? null)}` : "leave";
    const seen = channel.presenceSeen.get(frame.user);
    if (seen && seen.signature === signature && seen.serial !== connection.serial) return;
    channel.presenceSeen.set(frame.user, { signature, serial: connection.serial });
    const event: PresenceEvent =
      frame.type === "join"
        ? { type: "join", channel: frame.channel, user: frame.user, ...(frame.data !== undefined && { data: frame.data }) }
        : { type: "leave", channel: frame.channel, user: frame.user };
    for (const listener of [...channel.handlers.values()]) if (listener) this.call(listener, event);
    if (event.type === "join") this.emit("join", event);
    else this.emit("leave", event);
  }

  private handleDirect(connection: Connection, frame: DirectFrame): void {
    // Sent to every connection of the user: during a planned swap it comes on both sockets.
    const signature = JSON.stringify([frame.from ?? null, frame.ts ?? null, frame.data ?? null]);
    const copy = this.directSeen.findIndex(
      (seen) => seen.signature === signature && seen.serial !== connection.serial,
    );
    if (copy >= 0) {
      this.directSeen.splice(copy, 1);
      return;
    }
    this.directSeen.push({ signature, serial: connection.serial });
    if (this.directSeen.length > MAX_DIRECT_SEEN) this.directSeen.shift();
    this.emit("direct", { data: frame.data, from: frame.from, ts: frame.ts });
  }

  // --- events --------------------------------------------------------------------------------

  private setState(state: ConnectionState): void {
    const previous = this.currentState;
    if (previous === state) return;
    this.currentState = state;
    this.emit("state", { state, previous });
  }

  private setConnectionError(error: SwitchboardError | null): void {
    if (this.lastConnectionError === error) return;
    this.lastConnectionError = error;
    this.emit("connectionError", { error });
  }

  private reportError(error: SwitchboardError): void {
    this.emit("error", { error });
  }

  private emit<K extends keyof ClientEvents>(event: K, payload: ClientEvents[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) this.call(listener as Listener<K>, payload);
  }

  /** Call application code; its exceptions are reported, not allowed to break the client. */
  private call<T>(callback: (value: T) => void, value: T): void {
    try {
      callback(value);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}

/** `: <message>` from a JSON error body `{"error": "..."}` (or `{"message": "..."}`), else "". */
async function errorText(response: TokenResponse): Promise<string> {
  try {
    const body = (await response.json()) as { error?: unknown; message?: unknown } | null;
    const text = typeof body?.error === "string" ? body.error : body?.message;
    return typeof text === "string" && text !== "" ? `: ${text.slice(0, 300)}` : "";
  } catch {
    return "";
  }
}

/** Stop listening to a socket about to be closed. `onerror` becomes a no-op, not null: the `ws`
 * package reports closing a socket that is still connecting as an "error" event, which ends a
 * Node process when nothing listens to it. */
function detach(socket: SocketLike): void {
  socket.onopen = socket.onmessage = socket.onclose = null;
  socket.onerror = () => {};
}

function isUnauthorized(error: unknown): boolean {
  if (error instanceof UnauthorizedError) return true;
  const status = (error as { status?: unknown } | null)?.status;
  return status === 401 || status === 403;
}

function parseMembers<T>(value: unknown): Array<Member<T>> {
  if (!Array.isArray(value)) return [];
  const members: Array<Member<T>> = [];
  for (const item of value as unknown[]) {
    if (typeof item !== "object" || item === null) continue;
    const { user, data, connections } = item as Record<string, unknown>;
    if (typeof user !== "string") continue;
    const member: Member<T> = { user, connections: typeof connections === "number" ? connections : 1 };
    if (data !== undefined) member.data = data as T;
    members.push(member);
  }
  return members;
}

function parseHistoryPage<T>(channel: string, ack: Ack): HistoryPage<T> {
  const messages: Array<Message<T>> = [];
  if (Array.isArray(ack.messages)) {
    for (const item of ack.messages as unknown[]) {
      if (typeof item !== "object" || item === null) continue;
      const message = item as Record<string, unknown>;
      if (typeof message.seq !== "number") continue;
      messages.push({ ...message, type: "message", channel } as Message<T>);
    }
  }
  return {
    channel,
    epoch: epochOf(ack.epoch) ?? null,
    seq: typeof ack.seq === "number" ? ack.seq : 0,
    messages,
    next: typeof ack.next === "number" ? ack.next : null,
  };
}

function asSwitchboardError(error: unknown, code: string): SwitchboardError {
  if (error instanceof SwitchboardError) return error;
  return new SwitchboardError(code, error instanceof Error ? error.message : String(error));
}
