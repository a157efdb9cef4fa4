/**
 * The client's public types: its options, what `subscribe`/`publish`/`history` take and return,
 * and the events `client.on()` reports. Types only (no code); `client.ts` re-exports them.
 */
import type { BackoffOptions } from "./backoff.js";
import type { SwitchboardError } from "./errors.js";
import type { Platform } from "./platform.js";
import type { Ack, Message } from "./protocol.js";
import type { ConnectionState } from "./state.js";

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
  /**
   * The publish's idempotency key (1-64 printable ASCII). By default every acknowledged publish
   * gets a random UUID, so a publish whose socket closed before the ack is resent after the
   * reconnect and still resolves once, with one `seq`; give your own key to deduplicate across
   * page loads too (the server remembers a key 5 minutes, per user and channel). Ignored with
   * `{ack: false}`: such publishes are at most once and carry no key.
   */
  idempotencyKey?: string;
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
   * The server ended this client's subscription of `channel` (`reason` "forbidden": a
   * `refreshAuth()` token no longer allows it). Its handlers get no more messages and it is not
   * resubscribed; subscribe again once a token allows it.
   */
  unsubscribed: { channel: string; reason: string };
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
