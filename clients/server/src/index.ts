/**
 * `@switchboard/server`: what an app's backend (a Next.js route handler, server action or server
 * component, in the Node or the Edge runtime) needs from Switchboard. Only `jose`, Web Crypto and
 * `fetch`: no Node built-ins.
 *
 * ```ts
 * import { createSwitchboard } from "@switchboard/server";
 * const switchboard = createSwitchboard(); // WS_SECRET and SWITCHBOARD_URL from the environment
 * const token = await switchboard.createToken({ userId: "alice", channels: ["room:*"] });
 * await switchboard.publish("room:lobby", { text: "hi" }, { idempotencyKey: "welcome-alice" });
 * const page = await switchboard.history("room:lobby", { limit: 50 });
 * ```
 */
import { SignJWT } from "jose";
import {
  ConfigurationError,
  errorForStatus,
  NetworkError,
  SwitchboardServerError,
  ApiError,
} from "./errors.js";

export * from "./errors.js";

export interface SwitchboardOptions {
  /** The HS256 secret the stack verifies tokens with (default: `process.env.WS_SECRET`). */
  secret?: string;
  /**
   * The HTTP API's base URL, the stack's `PublishUrl` output (default:
   * `process.env.SWITCHBOARD_URL`, else `http://localhost:3001`, the local gateway).
   */
  url?: string;
  /** The `sub` of the publish credential: messages published show it as `from` (default `server`). */
  serverName?: string;
  /**
   * Returns the credential for the HTTP API instead of signing one with `secret` (e.g. a token
   * from your identity provider when the stack verifies against `JwksUrl`); it must carry
   * `scope: "publish"`.
   */
  getPublishToken?: () => string | Promise<string>;
  /** `aud` and `iss` for every token signed here, when the stack requires them. */
  audience?: string;
  issuer?: string;
  /** Replace `fetch` (tests, instrumentation). */
  fetch?: typeof fetch;
}

export interface TokenOptions {
  /** The user: the token's `sub`. */
  userId: string;
  /** Glob patterns the connection may subscribe and publish to (absent: any channel). */
  channels?: string[];
  /** Member data shown on presence channels (any JSON value, at most 1 KB as JSON). */
  presence?: unknown;
  /** Channels to subscribe the connection to at `$connect` (each allowed by `channels`). */
  subscribe?: string[];
  /** Lifetime in seconds (default 30: the client fetches a fresh token for every connect). */
  ttl?: number;
  /** Adds a random `jti`: the server refuses a second `$connect` with it (403). */
  singleUse?: boolean;
}

export interface PublishOptions {
  /** Publishes once per key: a retry gets the first answer, the same `seq` included. */
  idempotencyKey?: string;
}

/** How a publish went: the message's `seq` and `epoch`, and its delivery. */
export interface PublishResult {
  channel: string;
  seq: number;
  epoch: string;
  delivered: number;
  pruned: number;
  failed: number;
  queued?: number;
}

export interface BatchMessage {
  channel: string;
  data: unknown;
}

export interface DirectResult {
  user: string;
  delivered: number;
  pruned: number;
  failed: number;
}

export interface HistoryOptions {
  /** At most this many messages (default 50, at most 100; 0 for just the position). */
  limit?: number;
  /** Only messages with a `seq` below this one: a page's `next`, for the page before it. */
  before?: number;
}

export interface HistoryMessage<T = unknown> {
  channel?: string;
  data: T;
  seq: number;
  epoch?: string;
  from?: string;
  ts?: number;
}

/** A page of kept messages, oldest first; `epoch`/`seq` is the position to hand to a client. */
export interface HistoryPage<T = unknown> {
  channel: string;
  epoch: string | null;
  seq: number;
  messages: Array<HistoryMessage<T>>;
  next: number | null;
}

const CHANNEL = /^[A-Za-z0-9_\-:.@=]{1,128}$/;
const PATTERN = /^[A-Za-z0-9_\-:.@=*]{1,128}$/;
const DEFAULT_TTL_SECONDS = 30;
const MAX_TTL_SECONDS = 24 * 60 * 60;
const PUBLISH_TOKEN_SECONDS = 60;
const LOCAL_URL = "http://localhost:3001";
const MAX_BATCH = 100;

function environment(name: string): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const value = env?.[name];
  return value === undefined || value === "" ? undefined : value;
}

function checkChannel(channel: unknown, what = "channel"): string {
  if (typeof channel !== "string" || !CHANNEL.test(channel)) {
    throw new ConfigurationError(
      `${what} ${JSON.stringify(channel)} is not a channel name: 1 to 128 letters, digits and _-:.@=`,
    );
  }
  return channel;
}

function checkList(value: unknown, what: string, pattern: RegExp): string[] {
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string" || !pattern.test(item))) {
    throw new ConfigurationError(`${what} must be a list of 1 to 128 letters, digits and _-:.@=${pattern === PATTERN ? "*" : ""}`);
  }
  return value as string[];
}

/** Whether `channel` matches one of the `*` glob `patterns` (as the server matches them). */
function allowedBy(channel: string, patterns: string[]): boolean {
  return patterns.some((pattern) => {
    const expression = pattern.replace(/[.+?^${}()|[\]\\-]/g, "\\$&").replace(/\*/g, ".*");
    return new RegExp(`^${expression}$`).test(channel);
  });
}

/** One Switchboard stack, seen from the app's backend. */
export class Switchboard {
  private readonly secret: string | undefined;
  private readonly baseUrl: string;
  private readonly options: SwitchboardOptions;

  constructor(options: SwitchboardOptions = {}) {
    this.options = options;
    this.secret = options.secret ?? environment("WS_SECRET");
    this.baseUrl = (options.url ?? environment("SWITCHBOARD_URL") ?? LOCAL_URL).replace(/\/+$/, "");
  }

  /** The HTTP API's base URL in use. */
  get url(): string {
    return this.baseUrl;
  }

  /**
   * A token for a browser's `$connect` (return it from the token route as `{"token": ...}`):
   * HS256 with the secret, `sub`, `iat`, `exp`, and the optional claims asked for.
   */
  async createToken(options: TokenOptions): Promise<string> {
    const { userId, channels, presence, subscribe, ttl = DEFAULT_TTL_SECONDS, singleUse = false } = options;
    if (typeof userId !== "string" || userId.trim() === "" || userId.length > 256) {
      throw new ConfigurationError("userId must be 1 to 256 characters (the token's sub)");
    }
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
      throw new ConfigurationError(`ttl must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`);
    }
    const claims: Record<string, unknown> = {};
    if (channels !== undefined) claims.channels = checkList(channels, "channels", PATTERN);
    if (subscribe !== undefined) {
      const list = checkList(subscribe, "subscribe", CHANNEL);
      const refused = channels === undefined ? [] : list.filter((channel) => !allowedBy(channel, channels));
      if (refused.length > 0) {
        throw new ConfigurationError(`subscribe: ${refused.join(", ")} not allowed by channels (the server would answer 401)`);
      }
      claims.subscribe = list;
    }
    if (presence !== undefined) {
      const text = JSON.stringify(presence);
      if (text === undefined || new TextEncoder().encode(text).length > 1024) {
        throw new ConfigurationError("presence must be JSON of at most 1 KB");
      }
      claims.presence = presence;
    }
    const jwt = this.signer(claims, ttl).setSubject(userId);
    if (singleUse) jwt.setJti(crypto.randomUUID());
    return jwt.sign(this.key());
  }

  /** Publish `data` on `channel`; resolves with its `seq` and delivery report. */
  async publish(channel: string, data: unknown, options: PublishOptions = {}): Promise<PublishResult> {
    checkChannel(channel);
    return this.call<PublishResult>("POST", "/publish", { channel, data }, options.idempotencyKey);
  }

  /** Publish every message or none (at most 100); resolves with one result per message. */
  async publishBatch(messages: BatchMessage[], options: PublishOptions = {}): Promise<PublishResult[]> {
    if (!Array.isArray(messages) || messages.length === 0 || messages.length > MAX_BATCH) {
      throw new ConfigurationError(`publishBatch takes 1 to ${MAX_BATCH} messages`);
    }
    const body = { messages: messages.map(({ channel, data }) => ({ channel: checkChannel(channel), data })) };
    const answer = await this.call<{ results: PublishResult[] }>("POST", "/publish", body, options.idempotencyKey);
    return answer.results;
  }

  /** Send `data` to every connection of `userId` (a `direct` frame). */
  async sendToUser(userId: string, data: unknown, options: PublishOptions = {}): Promise<DirectResult> {
    if (typeof userId !== "string" || userId === "" || userId.length > 256) {
      throw new ConfigurationError("userId must be 1 to 256 characters");
    }
    const path = `/users/${encodeURIComponent(userId)}/messages`;
    return this.call<DirectResult>("POST", path, { data }, options.idempotencyKey);
  }

  /**
   * A page of `channel`'s kept messages, oldest first. A server component renders them and hands
   * `{since: page.seq, epoch: page.epoch}` to the browser's subscribe, so nothing published
   * between the render and the socket is lost.
   */
  async history<T = unknown>(channel: string, options: HistoryOptions = {}): Promise<HistoryPage<T>> {
    checkChannel(channel);
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries({ limit: options.limit, before: options.before })) {
      if (value === undefined) continue;
      if (!Number.isInteger(value) || value < 0) throw new ConfigurationError(`${name} must be an integer >= 0`);
      query.set(name, String(value));
    }
    const search = query.toString();
    const suffix = search === "" ? "" : `?${search}`;
    return this.call<HistoryPage<T>>("GET", `/channels/${encodeURIComponent(channel)}/history${suffix}`);
  }

  private key(): Uint8Array {
    if (!this.secret) {
      throw new ConfigurationError(
        "no secret: set WS_SECRET (the value the Switchboard stack verifies tokens with) or pass {secret}",
      );
    }
    return new TextEncoder().encode(this.secret);
  }

  private signer(claims: Record<string, unknown>, ttl: number): SignJWT {
    const now = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuedAt(now)
      .setExpirationTime(now + ttl);
    if (this.options.audience) jwt.setAudience(this.options.audience);
    if (this.options.issuer) jwt.setIssuer(this.options.issuer);
    return jwt;
  }

  private async publishToken(): Promise<string> {
    if (this.options.getPublishToken) return this.options.getPublishToken();
    return this.signer({ scope: "publish" }, PUBLISH_TOKEN_SECONDS)
      .setSubject(this.options.serverName ?? "server")
      .sign(this.key());
  }

  private async call<T>(method: "GET" | "POST", path: string, body?: unknown, idempotencyKey?: string): Promise<T> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${await this.publishToken()}`,
      accept: "application/json",
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (idempotencyKey !== undefined) {
      if (typeof idempotencyKey !== "string" || idempotencyKey === "" || idempotencyKey.length > 256) {
        throw new ConfigurationError("idempotencyKey must be 1 to 256 characters");
      }
      headers["idempotency-key"] = idempotencyKey;
    }
    const doFetch = this.options.fetch ?? globalThis.fetch;
    let response: Response;
    try {
      response = await doFetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (error) {
      throw new NetworkError(`could not reach the Switchboard API at ${this.baseUrl}: ${String(error)}`);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) throw errorForStatus(response.status, parsed);
    if (typeof parsed !== "object" || parsed === null) {
      throw new ApiError("bad_response", `the Switchboard API answered ${response.status} without a JSON object`, response.status);
    }
    return parsed as T;
  }
}

/** A `Switchboard` for one stack (options win over `WS_SECRET` and `SWITCHBOARD_URL`). */
export function createSwitchboard(options: SwitchboardOptions = {}): Switchboard {
  return new Switchboard(options);
}

let fromEnvironment: Switchboard | null = null;
function shared(): Switchboard {
  fromEnvironment ??= new Switchboard();
  return fromEnvironment;
}

/** `createToken` of the stack named by `WS_SECRET` and `SWITCHBOARD_URL`. */
export const createToken = (options: TokenOptions): Promise<string> => shared().createToken(options);
/** `publish` of the stack named by `WS_SECRET` and `SWITCHBOARD_URL`. */
export const publish = (channel: string, data: unknown, options?: PublishOptions): Promise<PublishResult> =>
  shared().publish(channel, data, options);
/** `publishBatch` of the stack named by `WS_SECRET` and `SWITCHBOARD_URL`. */
export const publishBatch = (messages: BatchMessage[], options?: PublishOptions): Promise<PublishResult[]> =>
  shared().publishBatch(messages, options);
/** `sendToUser` of the stack named by `WS_SECRET` and `SWITCHBOARD_URL`. */
export const sendToUser = (userId: string, data: unknown, options?: PublishOptions): Promise<DirectResult> =>
  shared().sendToUser(userId, data, options);
/** `history` of the stack named by `WS_SECRET` and `SWITCHBOARD_URL`. */
export const history = <T = unknown>(channel: string, options?: HistoryOptions): Promise<HistoryPage<T>> =>
  shared().history<T>(channel, options);
