/**
 * The connection manager: which socket is current, and what happens when one opens, closes or
 * fails. It fetches a token for every attempt (token.ts), opens transports (transport.ts),
 * reconnects with backoff, replaces the socket before API Gateway's 2-hour cap without a visible
 * reconnect (the planned swap: the new socket is opened and resubscribed while the old one still
 * delivers, then the old one retires once its requests are answered), stops for good on a
 * refused token, and reports every step to the state machine (state.ts) as an event. What the
 * rest of the client does about a socket (resubscribing, flushing the offline queue, reading
 * frames) it asks of its hooks.
 */
import { backoffDelay, type BackoffOptions } from "./backoff.js";
import type { Emitter } from "./events.js";
import {
  asSwitchboardError,
  ConnectionLostError,
  HandshakeError,
  TimeoutError,
  UnauthorizedError,
  type SwitchboardError,
} from "./errors.js";
import { startSocketTimers, watchBrowser, type LivenessSettings, type LivenessTarget } from "./liveness.js";
import { resolvePlatform, type Platform } from "./platform.js";
import type { RequestTracker } from "./requests.js";
import { ConnectionStateMachine, type ConnectionEvent, type ConnectionState } from "./state.js";
import { acquireToken, isUnauthorized, type TokenSource } from "./token.js";
import { CLOSE_DEAD, CLOSE_NORMAL, Transport, type TokenTransport, type TransportHandlers } from "./transport.js";
import type { ClientEvents } from "./types.js";

export interface ConnectionConfig extends LivenessSettings {
  url: string;
  tokens: TokenSource;
  tokenTransport: TokenTransport | undefined;
  platform: Partial<Platform> | undefined;
  backoff: BackoffOptions;
  connectTimeoutMs: number;
  pongTimeoutMs: number;
  requestTimeoutMs: number;
}

/** What the rest of the client does when sockets come and go. */
export interface ConnectionHooks {
  /** Subscribe every channel on `transport` (the current one, or a planned swap's next one). */
  resubscribe(transport: Transport): Promise<void>;
  /** `transport` became the current open socket: send what waited for it. */
  ready(transport: Transport): void;
  /** A frame arrived on `transport`. */
  frame(transport: Transport, data: unknown): void;
  /** The current socket is gone. */
  lost(): void;
  /** The client stopped: `closed` by `close()`, or refused (`UnauthorizedError`). */
  halted(error: Error, closed: boolean): void;
}

export class ConnectionManager implements LivenessTarget {
  private readonly machine: ConnectionStateMachine;
  private readonly handlers: TransportHandlers;
  private platform: Platform | null = null;
  private current: Transport | null = null;
  /** The replacement of a planned swap, until it takes over. */
  private next: Transport | null = null;
  private serial = 0;
  /** Bumped by start() and stop(): async work from an older generation is ignored. */
  private generation = 0;
  private attempt = 0;
  private plannedAttempt = 0;
  private retryTimer: unknown = null;
  private unlisten: Array<() => void> = [];
  private lastError: SwitchboardError | null = null;

  constructor(
    private readonly config: ConnectionConfig,
    private readonly events: Emitter<ClientEvents>,
    private readonly requests: RequestTracker,
    private readonly hooks: ConnectionHooks,
  ) {
    this.machine = new ConnectionStateMachine((state, previous) => events.emit("state", { state, previous }));
    this.handlers = {
      open: (transport) => this.opened(transport),
      frame: (transport, data) => hooks.frame(transport, data),
      close: (transport, code, reason) => this.closed(transport, code, reason),
    };
  }

  get state(): ConnectionState {
    return this.machine.state;
  }

  get connectionError(): SwitchboardError | null {
    return this.lastError;
  }

  get connectionId(): string | undefined {
    return this.current?.connectionId;
  }

  /** The host's timers and randomness; resolved by the first `start()`. */
  get host(): Platform {
    return this.platform!;
  }

  isOpen(): boolean {
    return this.machine.state === "open" && this.current?.opened === true;
  }

  /** The current socket while open, else `null`. */
  openTransport(): Transport | null {
    return this.isOpen() ? this.current : null;
  }

  retryDelay(attempt: number): number {
    return backoffDelay(attempt, this.platform!.random, this.config.backoff);
  }

  /** `connect()`: a no-op unless idle, closed or unauthorized. */
  start(): void {
    if (!this.machine.can("start")) return;
    const platform = (this.platform ??= resolvePlatform(this.config.platform));
    this.generation += 1;
    this.attempt = 0;
    this.setConnectionError(null);
    for (const stop of this.unlisten.splice(0)) stop();
    this.unlisten = watchBrowser(platform, this);
    if (!platform.isOnline()) {
      this.fire("startOffline");
      return;
    }
    this.fire("start");
    void this.attemptConnection(false);
  }

  /** `close()`: close every socket, failing what they carry with `error`. */
  stop(error: Error): void {
    this.halt(error, CLOSE_NORMAL, "client closed");
    this.hooks.halted(error, true);
    this.fire("close");
  }

  /** A `pong` on `transport` told its connection id. */
  learned(transport: Transport, connectionId: string): void {
    const known = transport.connectionId;
    transport.connectionId = connectionId;
    if (transport === this.current && known !== connectionId) this.events.emit("connection", { connectionId });
  }

  /** A retiring socket's last request was answered: close it. */
  drained(transport: Transport): void {
    this.discard(transport, "replaced", new ConnectionLostError("replaced"));
  }

  // --- LivenessTarget ---

  stable(): void {
    this.attempt = 0;
  }

  tooOld(): void {
    if (!this.current || this.next || !this.isOpen()) return;
    void this.attemptConnection(true);
  }

  /** Ping the current socket; if no pong comes within `pongTimeoutMs`, replace the socket. */
  checkAlive(): void {
    const transport = this.current;
    if (!transport || !this.isOpen()) return;
    const ping = { action: "ping", id: this.requests.nextId() } as const;
    this.requests.send(transport, ping, this.config.pongTimeoutMs).catch((error: unknown) => {
      if (error instanceof TimeoutError && transport === this.current) this.drop(transport, "no pong");
    });
  }

  reconnectNow(resetBackoff: boolean): void {
    if (resetBackoff) this.attempt = 0;
    if (this.current || this.next) return; // an attempt is already under way
    if (!this.machine.can("retry")) return;
    if (this.machine.state === "reconnecting" && this.retryTimer === null) return; // fetching a token
    this.stopRetrying();
    this.fire("retry");
    void this.attemptConnection(false);
  }

  wentOffline(): void {
    if (this.retryTimer === null) return;
    this.stopRetrying();
    this.fire("wentOffline");
  }

  // --- sockets ---

  /** Fetch a fresh token and open a socket: the current one, or the `next` of a planned swap. */
  private async attemptConnection(planned: boolean): Promise<void> {
    const generation = this.generation;
    const platform = this.platform!;
    let token: string;
    try {
      token = await acquireToken(this.config.tokens, platform);
    } catch (error) {
      if (generation !== this.generation) return;
      if (isUnauthorized(error)) this.refuse(error);
      else if (planned) this.schedulePlannedRetry(); // the current socket still works
      else this.failed(false, asSwitchboardError(error, "token_failed"));
      return;
    }
    if (generation !== this.generation) return;
    if (planned && (!this.current || this.next)) return;
    let transport: Transport;
    try {
      const { url, tokenTransport } = this.config;
      transport = new Transport(this.serial + 1, platform, url, token, tokenTransport, this.handlers);
    } catch (error) {
      this.failed(planned, asSwitchboardError(error, "connect_failed"));
      return;
    }
    this.serial += 1;
    if (planned) this.next = transport;
    else this.current = transport;
    transport.after(this.config.connectTimeoutMs, () => {
      if (!transport.opened) this.drop(transport, "the socket did not open in time");
    });
  }

  /** An attempt failed before it had a socket: report it and try again later. */
  private failed(planned: boolean, failure: SwitchboardError): void {
    if (planned) {
      this.events.emit("error", { error: failure });
      this.schedulePlannedRetry();
      return;
    }
    this.setConnectionError(failure);
    this.events.emit("error", { error: failure });
    this.scheduleReconnect();
  }

  private opened(transport: Transport): void {
    if (transport !== this.current && transport !== this.next) {
      this.discard(transport, "stale", new ConnectionLostError("stale socket"));
      return;
    }
    transport.opened = true;
    transport.clearTimers();
    if (transport === this.next) {
      // A planned swap: resubscribe on the new socket, then retire the old one.
      void this.hooks.resubscribe(transport).then(() => {
        if (transport === this.next && transport.opened) this.promote(transport);
      });
      this.learnConnectionId(transport);
      return;
    }
    startSocketTimers(transport, this.config, this);
    this.setConnectionError(null);
    this.fire("opened");
    this.learnConnectionId(transport);
    void this.hooks.resubscribe(transport);
    this.hooks.ready(transport);
  }

  /** Make the (open) `next` socket the current one and retire the old one. */
  private promote(transport: Transport): void {
    const old = this.current;
    this.next = null;
    this.current = transport;
    this.plannedAttempt = 0;
    startSocketTimers(transport, this.config, this);
    if (old) this.retire(old);
    this.fire("opened");
    this.hooks.ready(transport);
    if (transport.connectionId) this.events.emit("connection", { connectionId: transport.connectionId });
  }

  /** Close `transport` once its outstanding requests are answered (or time out). */
  private retire(transport: Transport): void {
    transport.retiring = true;
    transport.clearTimers();
    if (transport.pending.size === 0) {
      this.drained(transport);
      return;
    }
    transport.after(this.config.requestTimeoutMs, () => this.drained(transport));
  }

  private closed(transport: Transport, code: number, reason: string): void {
    transport.detach();
    transport.clearTimers();
    const lost = new ConnectionLostError(`the connection closed (${code}${reason ? ` ${reason}` : ""})`);
    this.requests.failAll(transport, lost);
    if (transport === this.next) {
      this.next = null;
      this.schedulePlannedRetry();
      return;
    }
    if (transport !== this.current) return;
    this.current = null;
    if (!transport.opened) this.setConnectionError(new HandshakeError(code, reason));
    this.hooks.lost();
    const next = this.next;
    if (next) {
      if (next.opened) {
        this.promote(next);
      } else {
        // The planned replacement is still opening: it becomes the current attempt.
        this.next = null;
        this.current = next;
        this.fire("lost");
      }
      return;
    }
    if (!this.platform!.isOnline()) this.fire("wentOffline");
    else this.scheduleReconnect();
  }

  /** Treat `transport` as dead at once (without waiting for a close handshake). */
  private drop(transport: Transport, reason: string): void {
    transport.detach();
    transport.closeSocket(CLOSE_DEAD, reason);
    this.closed(transport, CLOSE_DEAD, reason);
  }

  /** Close a socket that is no longer wanted, failing what it still carries with `error`. */
  private discard(transport: Transport, reason: string, error: Error, code = CLOSE_NORMAL): void {
    transport.close(code, reason);
    this.requests.failAll(transport, error);
  }

  /** Close both sockets and stop every timer and listener. */
  private halt(error: Error, code: number, reason: string): void {
    this.generation += 1;
    this.stopRetrying();
    for (const stop of this.unlisten.splice(0)) stop();
    for (const transport of [this.current, this.next]) {
      if (transport) this.discard(transport, reason, error, code);
    }
    this.current = null;
    this.next = null;
  }

  private scheduleReconnect(): void {
    this.stopRetrying();
    this.fire("lost");
    const delay = this.retryDelay(this.attempt);
    this.attempt += 1;
    this.retryTimer = this.platform!.setTimeout(() => {
      this.retryTimer = null;
      void this.attemptConnection(false);
    }, delay);
  }

  private schedulePlannedRetry(): void {
    if (!this.current || this.next || this.machine.state !== "open") return;
    const delay = this.retryDelay(this.plannedAttempt);
    this.plannedAttempt += 1;
    this.current.after(delay, () => this.tooOld());
  }

  private stopRetrying(): void {
    if (this.retryTimer !== null && this.platform) {
      this.platform.clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  }

  /** The token was refused (during a planned swap too: the session ended): stop entirely. */
  private refuse(error: unknown): void {
    const refusal = error instanceof UnauthorizedError ? error : new UnauthorizedError(String(error));
    this.halt(refusal, CLOSE_NORMAL, "unauthorized");
    this.hooks.halted(refusal, false);
    this.setConnectionError(refusal);
    this.fire("refused");
  }

  private learnConnectionId(transport: Transport): void {
    const ping = { action: "ping", id: this.requests.nextId() } as const;
    // A lost or late pong only means the id stays unknown for now.
    this.requests.send(transport, ping).then(
      () => undefined,
      () => undefined,
    );
  }

  private setConnectionError(error: SwitchboardError | null): void {
    if (this.lastError === error) return;
    this.lastError = error;
    this.events.emit("connectionError", { error });
  }

  private fire(event: ConnectionEvent): void {
    this.machine.fire(event);
  }
}
