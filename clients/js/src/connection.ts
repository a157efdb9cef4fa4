/**
 * The connection manager: what happens when a socket opens, closes or fails. It fetches a token
 * for every attempt (token.ts) and opens a transport with it (transport.ts), keeps it in the
 * socket pair (sockets.ts), reconnects with backoff (liveness.ts's `Reconnects`), replaces the
 * socket before API Gateway's 2-hour cap without a visible reconnect (swap.ts), stops for good on
 * a refused token, and reports every step to the state machine (state.ts) as an event. What the
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
import {
  Reconnects,
  startSocketTimers,
  watchBrowser,
  type LivenessSettings,
  type LivenessTarget,
} from "./liveness.js";
import { resolvePlatform, type Platform } from "./platform.js";
import type { RequestTracker } from "./requests.js";
import { SocketPair } from "./sockets.js";
import { PlannedSwap, type SwapOwner } from "./swap.js";
import { ConnectionStateMachine, type ConnectionEvent, type ConnectionState } from "./state.js";
import { acquireToken, isUnauthorized, type TokenSource } from "./token.js";
import { CLOSE_DEAD, Transport, type TokenTransport, type TransportHandlers } from "./transport.js";
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

export class ConnectionManager implements LivenessTarget, SwapOwner {
  readonly sockets: SocketPair;
  readonly machine: ConnectionStateMachine;
  private readonly handlers: TransportHandlers;
  private platform: Platform | null = null;
  /** Bumped by start() and stop(): async work from an older generation is ignored. */
  private generation = 0;
  private readonly reconnects: Reconnects;
  private readonly swap: PlannedSwap;
  private unlisten: Array<() => void> = [];
  private lastError: SwitchboardError | null = null;

  constructor(
    private readonly config: ConnectionConfig,
    private readonly events: Emitter<ClientEvents>,
    requests: RequestTracker,
    private readonly hooks: ConnectionHooks,
  ) {
    this.sockets = new SocketPair(requests, events, config.requestTimeoutMs);
    this.machine = new ConnectionStateMachine((state, previous) => events.emit("state", { state, previous }));
    this.handlers = {
      open: (transport) => this.opened(transport),
      frame: (transport, data) => hooks.frame(transport, data),
      close: (transport, code, reason) => this.closed(transport, code, reason),
    };
    this.reconnects = new Reconnects(() => this.host, config.backoff, {
      machine: this.machine,
      hasSocket: () => this.sockets.current !== null || this.sockets.next !== null,
      attempt: () => void this.attemptConnection(false),
    });
    this.swap = new PlannedSwap(() => this.host, config.backoff, this);
  }

  get state(): ConnectionState {
    return this.machine.state;
  }

  get connectionError(): SwitchboardError | null {
    return this.lastError;
  }

  /** The host's timers and randomness; resolved by the first `start()`. */
  get host(): Platform {
    return this.platform!;
  }

  isOpen(): boolean {
    return this.machine.state === "open" && this.sockets.current?.opened === true;
  }

  /** The current socket while open, else `null`. */
  openTransport(): Transport | null {
    return this.isOpen() ? this.sockets.current : null;
  }

  retryDelay(attempt: number): number {
    return backoffDelay(attempt, this.host.random, this.config.backoff);
  }

  /** `connect()`: a no-op unless idle, closed or unauthorized. */
  start(): void {
    if (!this.machine.can("start")) return;
    const platform = (this.platform ??= resolvePlatform(this.config.platform));
    this.generation += 1;
    this.reconnects.reset();
    this.setConnectionError(null);
    for (const stop of this.unlisten.splice(0)) stop();
    this.unlisten = watchBrowser(platform, this);
    if (!platform.isOnline()) {
      this.machine.fire("startOffline");
      return;
    }
    this.machine.fire("start");
    void this.attemptConnection(false);
  }

  /** `close()`, or a refused token (`UnauthorizedError`; in a planned swap too: the session ended). */
  stop(error: Error): void {
    const closed = !(error instanceof UnauthorizedError);
    this.generation += 1;
    this.reconnects.cancel();
    for (const stop of this.unlisten.splice(0)) stop();
    this.sockets.discardAll(closed ? "client closed" : "unauthorized", error);
    this.hooks.halted(error, closed);
    if (!closed) this.setConnectionError(error as UnauthorizedError);
    this.machine.fire(closed ? "close" : "refused");
  }

  // --- LivenessTarget ---

  stable(): void {
    this.reconnects.reset();
  }

  tooOld(): void {
    this.swap.begin();
  }

  /** Ping the current socket; if no pong comes within `pongTimeoutMs`, replace the socket. */
  checkAlive(): void {
    const transport = this.openTransport();
    if (!transport) return;
    this.sockets.ping(transport, this.config.pongTimeoutMs).catch((error: unknown) => {
      if (error instanceof TimeoutError && transport === this.sockets.current) this.drop(transport, "no pong");
    });
  }

  reconnectNow(resetBackoff: boolean): void {
    this.reconnects.now(resetBackoff);
  }

  wentOffline(): void {
    this.reconnects.wentOffline();
  }

  // --- SwapOwner ---

  openReplacement(): void {
    void this.attemptConnection(true);
  }

  resubscribe(transport: Transport): Promise<void> {
    return this.hooks.resubscribe(transport);
  }

  /** `transport` (open) became the current socket in a planned swap; `old` retires. */
  tookOver(transport: Transport, old: Transport | null): void {
    startSocketTimers(transport, this.config, this);
    if (old) this.sockets.retire(old);
    this.machine.fire("opened");
    this.hooks.ready(transport);
    if (transport.connectionId) this.events.emit("connection", { connectionId: transport.connectionId });
  }

  // --- sockets ---

  /** Fetch a fresh token and open a socket: the current one, or the `next` of a planned swap. */
  private async attemptConnection(planned: boolean): Promise<void> {
    const generation = this.generation;
    const wanted = (): boolean =>
      generation === this.generation && !(planned && (!this.sockets.current || this.sockets.next));
    let transport: Transport | null;
    try {
      transport = await dial(this.config, this.host, this.sockets.nextSerial, this.handlers, wanted);
    } catch (error) {
      if (generation !== this.generation) return;
      if (error instanceof DialError) this.failed(planned, error.failure, true);
      else if (isUnauthorized(error)) this.stop(asUnauthorized(error));
      else this.failed(planned, asSwitchboardError(error, "token_failed"), false);
      return;
    }
    if (!transport) return;
    this.sockets.adopt(transport, planned);
    transport.after(this.config.connectTimeoutMs, () => {
      if (!transport.opened) this.drop(transport, "the socket did not open in time");
    });
  }

  /**
   * An attempt failed before it had a socket: report it and try again later. A planned swap's
   * failed token is not reported (the current socket still works).
   */
  private failed(planned: boolean, failure: SwitchboardError, socketFailed: boolean): void {
    if (!planned) this.setConnectionError(failure);
    if (!planned || socketFailed) this.events.emit("error", { error: failure });
    if (planned) this.swap.retryLater();
    else this.reconnects.schedule();
  }

  private opened(transport: Transport): void {
    if (!this.sockets.holds(transport)) {
      this.sockets.discard(transport, "stale", new ConnectionLostError("stale socket"));
      return;
    }
    transport.opened = true;
    transport.clearTimers();
    if (transport === this.sockets.next) {
      this.swap.opened(transport);
      return;
    }
    startSocketTimers(transport, this.config, this);
    this.setConnectionError(null);
    this.machine.fire("opened");
    this.sockets.learnConnectionId(transport);
    void this.hooks.resubscribe(transport);
    this.hooks.ready(transport);
  }

  private closed(transport: Transport, code: number, reason: string): void {
    transport.detach();
    transport.clearTimers();
    const lost = new ConnectionLostError(`the connection closed (${code}${reason ? ` ${reason}` : ""})`);
    this.sockets.failRequests(transport, lost);
    if (transport === this.sockets.next) {
      this.swap.replacementClosed();
      return;
    }
    if (transport !== this.sockets.current) return;
    this.sockets.current = null;
    if (!transport.opened) this.setConnectionError(new HandshakeError(code, reason));
    this.hooks.lost();
    if (this.swap.currentClosed()) return; // the planned replacement took over
    if (!this.host.isOnline()) this.machine.fire("wentOffline");
    else this.reconnects.schedule();
  }

  /** Treat `transport` as dead at once (without waiting for a close handshake). */
  private drop(transport: Transport, reason: string): void {
    transport.detach();
    transport.closeSocket(CLOSE_DEAD, reason);
    this.closed(transport, CLOSE_DEAD, reason);
  }

  private setConnectionError(error: SwitchboardError | null): void {
    if (this.lastError === error) return;
    this.lastError = error;
    this.events.emit("connectionError", { error });
  }
}

function asUnauthorized(error: unknown): UnauthorizedError {
  return error instanceof UnauthorizedError ? error : new UnauthorizedError(String(error));
}

/** The socket could not be created (after the token was fetched). */
class DialError extends Error {
  constructor(readonly failure: SwitchboardError) {
    super(failure.message);
  }
}

/**
 * A token, then a transport with it; `null` when `wanted()` turns false while the token is
 * fetched. Rejects with the token's error, or a `DialError` when the socket cannot be created.
 */
async function dial(
  config: ConnectionConfig,
  platform: Platform,
  serial: number,
  handlers: TransportHandlers,
  wanted: () => boolean,
): Promise<Transport | null> {
  const token = await acquireToken(config.tokens, platform);
  if (!wanted()) return null;
  try {
    return new Transport(serial, platform, config.url, token, config.tokenTransport, handlers);
  } catch (error) {
    throw new DialError(asSwitchboardError(error, "connect_failed"));
  }
}
