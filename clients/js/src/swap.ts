/**
 * The planned swap: replacing the current socket before API Gateway's 2-hour cap without a
 * visible reconnect. At `maxConnectionAgeMs` a second socket is opened with a fresh token and
 * every channel is resubscribed on it while the old one still delivers (the copies of the
 * overlap are dropped by the cursors and channels.ts); once those acks are in it becomes the
 * current socket and the old one retires (sockets.ts). A replacement that fails is retried with
 * backoff while the current socket keeps working; if the current socket closes first, the
 * replacement takes over: at once if it is open, else as the current attempt.
 */
import { Retry, type BackoffOptions } from "./backoff.js";
import type { Platform } from "./platform.js";
import type { SocketPair } from "./sockets.js";
import type { ConnectionStateMachine } from "./state.js";
import type { Transport } from "./transport.js";

/** What the swap needs of the connection manager. */
export interface SwapOwner {
  readonly sockets: SocketPair;
  readonly machine: ConnectionStateMachine;
  isOpen(): boolean;
  /** Fetch a token and open the replacement as `sockets.next`. */
  openReplacement(): void;
  /** Subscribe every channel on `transport`. */
  resubscribe(transport: Transport): Promise<void>;
  /** `transport` replaced `old` as the current socket: start its timers, send what waits. */
  tookOver(transport: Transport, old: Transport | null): void;
}

export class PlannedSwap {
  private readonly retries: Retry;

  constructor(host: () => Platform, backoff: BackoffOptions, private readonly owner: SwapOwner) {
    this.retries = new Retry(host, backoff);
  }

  /** Open the replacement, unless one is under way or the client is not open. */
  begin(): void {
    const { sockets } = this.owner;
    if (!sockets.current || sockets.next || !this.owner.isOpen()) return;
    this.owner.openReplacement();
  }

  /** The replacement failed: try again after the next backoff delay, on the current socket's timers. */
  retryLater(): void {
    const current = this.owner.sockets.current;
    if (!current || this.owner.sockets.next || this.owner.machine.state !== "open") return;
    current.after(this.retries.nextDelay(), () => this.begin());
  }

  /** The replacement opened: resubscribe on it, then let it take over. */
  opened(transport: Transport): void {
    void this.owner.resubscribe(transport).then(() => {
      if (transport === this.owner.sockets.next && transport.opened) this.complete();
    });
    this.owner.sockets.learnConnectionId(transport);
  }

  /** The replacement closed before taking over. */
  replacementClosed(): void {
    this.owner.sockets.next = null;
    this.retryLater();
  }

  /**
   * The current socket closed: the replacement, if there is one, takes over (`true`); an open
   * one at once, one still opening as the current attempt (`reconnecting`).
   */
  currentClosed(): boolean {
    const next = this.owner.sockets.next;
    if (!next) return false;
    if (next.opened) {
      this.complete();
    } else {
      this.owner.sockets.promote();
      this.owner.machine.fire("lost");
    }
    return true;
  }

  /** Make the (open) replacement the current socket; the old one retires. */
  private complete(): void {
    const old = this.owner.sockets.promote();
    this.retries.reset();
    this.owner.tookOver(this.owner.sockets.current!, old);
  }
}
