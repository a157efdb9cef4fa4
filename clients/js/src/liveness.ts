/**
 * Liveness: the timers that run while a socket is the current one (the backoff reset once it is
 * stable, the keep-alive ping well inside API Gateway's 10-minute idle timeout, the planned
 * replacement before the 2-hour cap) and the browser's signals (`online`, `offline`, the tab
 * becoming visible again), each turned into a call on the connection manager; and the reconnect
 * policy (`Reconnects`) that those signals cut short.
 */
import { Retry, type BackoffOptions } from "./backoff.js";
import type { Platform } from "./platform.js";
import type { ConnectionStateMachine } from "./state.js";
import type { Transport } from "./transport.js";

export interface LivenessSettings {
  stableAfterMs: number;
  pingIntervalMs: number;
  maxConnectionAgeMs: number;
}

/** What the timers and the browser's signals ask of the connection manager. */
export interface LivenessTarget {
  /** Whether the client is open on its current socket. */
  isOpen(): boolean;
  /** Ping the current socket; replace it if no pong comes. */
  checkAlive(): void;
  /** The socket has been up long enough: the next reconnect starts from the first delay. */
  stable(): void;
  /** The socket nears API Gateway's cap: open its replacement. */
  tooOld(): void;
  /** Reconnect now (online again, or the tab visible again). */
  reconnectNow(resetBackoff: boolean): void;
  /** The browser went offline: stop a waiting retry. */
  wentOffline(): void;
}

/** Start the timers of `transport`, the current socket (they end with its timers). */
export function startSocketTimers(transport: Transport, settings: LivenessSettings, target: LivenessTarget): void {
  transport.clearTimers();
  transport.after(settings.stableAfterMs, () => target.stable());
  transport.after(settings.maxConnectionAgeMs, () => target.tooOld());
  const keepAlive = (): void => {
    target.checkAlive();
    transport.after(settings.pingIntervalMs, keepAlive);
  };
  transport.after(settings.pingIntervalMs, keepAlive);
}

/** Listen to the browser's signals; returns the functions that stop listening. */
export function watchBrowser(platform: Platform, target: LivenessTarget): Array<() => void> {
  return [
    platform.listen("online", () => {
      if (target.isOpen()) target.checkAlive();
      else target.reconnectNow(true);
    }),
    platform.listen("offline", () => {
      if (target.isOpen()) target.checkAlive();
      else target.wentOffline();
    }),
    platform.listen("visible", () => {
      if (target.isOpen()) target.checkAlive();
      else if (platform.isOnline()) target.reconnectNow(false);
    }),
  ];
}

/** What the reconnect policy needs of the connection manager. */
export interface ReconnectOwner {
  readonly machine: ConnectionStateMachine;
  /** A socket exists (current, or a swap's next): an attempt is under way or done. */
  hasSocket(): boolean;
  /** Fetch a token and open a socket. */
  attempt(): void;
}

/** The reconnect policy: backoff-paced retries after a lost socket, cut short by the browser. */
export class Reconnects {
  private readonly retry: Retry;

  constructor(host: () => Platform, backoff: BackoffOptions, private readonly owner: ReconnectOwner) {
    this.retry = new Retry(host, backoff);
  }

  /** The next retry starts from the first (fast) delay. */
  reset(): void {
    this.retry.reset();
  }

  cancel(): void {
    this.retry.cancel();
  }

  /** The attempt failed or the socket was lost: retry after the next backoff delay. */
  schedule(): void {
    this.retry.cancel();
    this.owner.machine.fire("lost");
    this.retry.schedule(() => this.owner.attempt());
  }

  /** Retry now (online again, or the tab visible again) instead of waiting out the delay. */
  now(resetBackoff: boolean): void {
    if (resetBackoff) this.retry.reset();
    if (this.owner.hasSocket()) return; // an attempt is already under way
    const machine = this.owner.machine;
    if (!machine.can("retry")) return;
    if (machine.state === "reconnecting" && !this.retry.waiting) return; // fetching a token
    this.retry.cancel();
    machine.fire("retry");
    this.owner.attempt();
  }

  /** The browser went offline while a retry waits: stop it and wait for `online`. */
  wentOffline(): void {
    if (!this.retry.waiting) return;
    this.retry.cancel();
    this.owner.machine.fire("wentOffline");
  }
}
