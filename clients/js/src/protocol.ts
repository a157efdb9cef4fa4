/** The wire protocol (DESIGN.md, "Frames"): the frame shapes and their parsing. No I/O here. */

/** A channel name: 1 to 128 characters of letters, digits and `_-:.@=`. */
const CHANNEL_PATTERN = /^[A-Za-z0-9_\-:.@=]{1,128}$/;

/** Whether the server would accept `channel` as a channel name. */
export function isValidChannel(channel: unknown): channel is string {
  return typeof channel === "string" && CHANNEL_PATTERN.test(channel);
}

/** Client-to-server frames. */
export type ClientFrame =
  | { action: "subscribe"; channel: string; id: string; since?: number; epoch?: string; rewind?: number }
  | { action: "unsubscribe"; channel: string; id: string }
  | { action: "publish"; channel: string; data: unknown; id: string; ack?: false; idempotencyKey?: string }
  | { action: "ping"; id: string }
  | { action: "auth"; token: string; id: string }
  | { action: "presence"; channel: string; id: string }
  | { action: "history"; channel: string; id: string; limit?: number; before?: number }
  | { action: "rpc"; method: string; params?: unknown; id: string };

/** A message published on a channel, as delivered to subscribers. */
export interface Message<T = unknown> {
  type: "message";
  channel: string;
  data: T;
  seq: number;
  /** The channel's epoch: it changes only when the channel's history was reset. */
  epoch?: string;
  from?: string;
  ts?: number;
}

/** The server's positive answer to a request; subscribe and publish acks carry more fields. */
export interface Ack {
  type: "ack";
  id: string;
  channel?: string;
  epoch?: string;
  seq?: number;
  recovered?: boolean;
  [field: string]: unknown;
}

/** The server's negative answer to a request (or to a frame it could not read). */
export interface ErrorFrame {
  type: "error";
  id?: string;
  code: string;
  message: string;
}

/** The answer to `ping`: it tells the client its own connection id. */
export interface Pong {
  type: "pong";
  id?: string;
  connectionId?: string;
}

/** A user's first subscription to a presence channel (`presence-` prefix): one per user. */
export interface JoinFrame {
  type: "join";
  channel: string;
  user: string;
  /** The token's `presence` claim, if any. */
  data?: unknown;
}

/** The user's last subscription to a presence channel went away. */
export interface LeaveFrame {
  type: "leave";
  channel: string;
  user: string;
}

/** A message the app's backend sent to every connection of this user. */
export interface DirectFrame<T = unknown> {
  type: "direct";
  data: T;
  from?: string;
  ts?: number;
}

/** One member of a presence channel, as the `presence` request reports it. */
export interface Member<T = unknown> {
  user: string;
  data?: T;
  /** How many of the user's connections are subscribed. */
  connections: number;
}

/** An epoch as the server sends it: a non-empty string, anything else is no epoch. */
export function epochOf(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** The server ended a subscription (`reason` "forbidden": an `auth` no longer allows it). */
export interface UnsubscribedFrame {
  type: "unsubscribed";
  channel: string;
  reason: string;
}

export type ServerFrame = Message | Ack | ErrorFrame | Pong | JoinFrame | LeaveFrame | DirectFrame | UnsubscribedFrame;

/** Parse a text frame from the server; `null` for anything that is not a frame we know. */
export function parseServerFrame(text: unknown): ServerFrame | null {
  if (typeof text !== "string") return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const frame = value as Record<string, unknown>;
  switch (frame.type) {
    case "message":
      if (typeof frame.channel !== "string" || typeof frame.seq !== "number") return null;
      return frame as unknown as Message;
    case "ack":
      if (typeof frame.id !== "string") return null;
      return frame as unknown as Ack;
    case "error":
      return {
        type: "error",
        id: typeof frame.id === "string" ? frame.id : undefined,
        code: typeof frame.code === "string" ? frame.code : "internal",
        message: typeof frame.message === "string" ? frame.message : "server error",
      };
    case "pong":
      return frame as unknown as Pong;
    case "join":
    case "leave":
      if (typeof frame.channel !== "string" || typeof frame.user !== "string") return null;
      return frame.type === "join"
        ? { type: "join", channel: frame.channel, user: frame.user, data: frame.data }
        : { type: "leave", channel: frame.channel, user: frame.user };
    case "direct":
      return {
        type: "direct",
        data: frame.data,
        from: typeof frame.from === "string" ? frame.from : undefined,
        ts: typeof frame.ts === "number" ? frame.ts : undefined,
      };
    case "unsubscribed":
      if (typeof frame.channel !== "string") return null;
      return {
        type: "unsubscribed",
        channel: frame.channel,
        reason: typeof frame.reason === "string" ? frame.reason : "forbidden",
      };
    default:
      return null;
  }
}
