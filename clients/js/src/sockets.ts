/**
 * The socket pair: the current transport and, during a planned swap, its replacement (`next`),
 * and how a socket leaves: discarded at once (its outstanding requests fail with the given
 * error) or retired (closed once its outstanding requests are answered, or after a request
 * timeout). It also sends the pings that learn a socket's connection id and test liveness.
 * When to open, swap or drop a socket is the connection manager's decision (connection.ts).
 */
import type { Emitter } from "./events.js";
import { ConnectionLostError } from "./errors.js";
import type { RequestTracker } from "./requests.js";
import { CLOSE_NORMAL, type Transport } from "./transport.js";
import type { ClientEvents } from "./types.js";

export class SocketPair {
  current: Transport | null = null;
  /** The replacement of a planned swap, until it takes over. */
  next: Transport | null = null;
  private serial = 0;

  constructor(
    private readonly requests: RequestTracker,
    private readonly events: Emitter<ClientEvents>,
    private readonly requestTimeoutMs: number,
  ) {}

  /** The serial the next socket gets (serials tell two sockets' copies of a frame apart). */
  get nextSerial(): number {
    return this.serial + 1;
  }

  /** Keep `transport` as the current socket, or as the planned swap's `next`. */
  adopt(transport: Transport, planned: boolean): void {
    this.serial = transport.serial;
    if (planned) this.next = transport;
    else this.current = transport;
  }

  /** Whether `transport` is one of the pair (not a stale socket). */
  holds(transport: Transport): boolean {
    return transport === this.current || transport === this.next;
  }

  /** `next` becomes the current socket; returns the old current one (to retire). */
  promote(): Transport | null {
    const old = this.current;
    this.current = this.next;
    this.next = null;
    return old;
  }

  /** Close `transport` once its outstanding requests are answered (or time out). */
  retire(transport: Transport): void {
    transport.retiring = true;
    transport.clearTimers();
    if (transport.pending.size === 0) {
      this.drained(transport);
      return;
    }
    transport.after(this.requestTimeoutMs, () => this.drained(transport));
  }

  /** A retiring socket's last request was answered: close it. */
  drained(transport: Transport): void {
    this.discard(transport, "replaced", new ConnectionLostError("replaced"));
  }

  /** Fail every request still waiting on `transport` (it closed). */
  failRequests(transport: Transport, error: Error): void {
    this.requests.failAll(transport, error);
  }

  /** Close a socket that is no longer wanted, failing what it still carries with `error`. */
  discard(transport: Transport, reason: string, error: Error, code = CLOSE_NORMAL): void {
    transport.close(code, reason);
    this.requests.failAll(transport, error);
  }

  /** Discard both sockets. */
  discardAll(reason: string, error: Error): void {
    for (const transport of [this.current, this.next]) {
      if (transport) this.discard(transport, reason, error);
    }
    this.current = null;
    this.next = null;
  }

  /** A `pong` on `transport` told its connection id. */
  learned(transport: Transport, connectionId: string): void {
    const known = transport.connectionId;
    transport.connectionId = connectionId;
    if (transport === this.current && known !== connectionId) this.events.emit("connection", { connectionId });
  }

  /** Ping `transport` to learn its connection id; a lost or late pong only leaves it unknown. */
  learnConnectionId(transport: Transport): void {
    this.ping(transport).then(
      () => undefined,
      () => undefined,
    );
  }

  /** Send a ping on `transport`; settles with its pong (or the request's failure). */
  ping(transport: Transport, timeoutMs?: number): Promise<unknown> {
    return this.requests.send(transport, { action: "ping", id: this.requests.nextId() }, timeoutMs);
  }
}
