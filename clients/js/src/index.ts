/**
 * `@switchboard/client`: the browser client for Switchboard.
 *
 * ```ts
 * import { createClient } from "@switchboard/client";
 * const client = createClient({ url: "wss://.../prod", authUrl: "/api/ws-token" });
 * client.connect();
 * await client.subscribe("room:lobby", (message) => console.log(message.data));
 * await client.publish("room:lobby", { text: "hello" });
 * ```
 */
export {
  createClient,
  SwitchboardClient,
  type ChannelMessage,
  type ClientEvents,
  type ClientOptions,
  type ConnectionState,
  type DirectMessage,
  type HistoryOptions,
  type HistoryPage,
  type MessageHandler,
  type PresenceEvent,
  type PresenceListener,
  type PublishAck,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
} from "./client.js";
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
export {
  ClientClosedError,
  ConnectionLostError,
  HandshakeError,
  InvalidChannelError,
  QueueFullError,
  RpcError,
  ServerError,
  SwitchboardError,
  TimeoutError,
  UnauthorizedError,
} from "./errors.js";
export type {
  FetchLike,
  Platform,
  PlatformEvent,
  SocketConstructor,
  SocketLike,
  TokenResponse,
} from "./platform.js";
export { isValidChannel, type Ack, type Member, type Message, type Pong } from "./protocol.js";
