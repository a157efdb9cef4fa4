/**
 * The transport: one WebSocket and what lives and dies with it. It opens the socket with the
 * token (as the second subprotocol, or `?token=`), forwards its open/message/close events to the
 * connection manager, carries the timers that belong to this socket (they are cleared when it
 * closes) and the ids of the requests sent on it. Which socket is current, reconnecting and the
 * planned swap are the connection manager's business (connection.ts).
 */
import type { Platform, SocketLike } from "./platform.js";

/** Close codes this client uses when it closes a socket itself. */
export const CLOSE_NORMAL = 1000;
export const CLOSE_DEAD = 4000;

/** What a transport reports to its owner. */
export interface TransportHandlers {
  open(transport: Transport): void;
  frame(transport: Transport, data: unknown): void;
  close(transport: Transport, code: number, reason: string): void;
}

export type TokenTransport = "protocol" | "query";

/** One socket: opened at construction, closed by `close` (or by the server). */
export class Transport {
  /** The handshake completed. */
  opened = false;
  /** Replaced by a newer socket: closes once its outstanding requests are answered. */
  retiring = false;
  /** The server's id for this socket, learned from a `pong`. */
  connectionId: string | undefined;
  /** Ids of the requests sent on this socket and not answered yet (kept by requests.ts). */
  readonly pending = new Set<string>();
  private readonly timers: unknown[] = [];
  private readonly socket: SocketLike;

  constructor(
    /** Increases with every socket this client opens: tells copies from two sockets apart. */
    readonly serial: number,
    private readonly platform: Platform,
    url: string,
    token: string,
    tokenTransport: TokenTransport | undefined,
    handlers: TransportHandlers,
  ) {
    if (tokenTransport === "query") {
      const separator = url.includes("?") ? "&" : "?";
      this.socket = new platform.WebSocket(`${url}${separator}token=${encodeURIComponent(token)}`);
    } else {
      this.socket = new platform.WebSocket(url, ["switchboard", token]);
    }
    const socket = this.socket;
    socket.onopen = () => handlers.open(this);
    socket.onmessage = (event: { data: unknown }) => handlers.frame(this, event.data);
    socket.onclose = (event: { code?: number; reason?: string }) =>
      handlers.close(this, event?.code ?? 1006, event?.reason ?? "");
    socket.onerror = () => {
      // A close event follows; handshake failures (401/403) surface only as code 1006.
    };
  }

  /** Write one text frame; throws if the socket cannot take it. */
  send(text: string): void {
    this.socket.send(text);
  }

  /** Run `callback` after `ms`, unless this socket's timers are cleared first. */
  after(ms: number, callback: () => void): void {
    const handle = this.platform.setTimeout(() => {
      const index = this.timers.indexOf(handle);
      if (index >= 0) this.timers.splice(index, 1);
      callback();
    }, ms);
    this.timers.push(handle);
  }

  clearTimers(): void {
    for (const handle of this.timers.splice(0)) this.platform.clearTimeout(handle);
  }

  /**
   * Stop listening to the socket. `onerror` becomes a no-op, not null: the `ws` package reports
   * closing a socket that is still connecting as an "error" event, which ends a Node process
   * when nothing listens to it.
   */
  detach(): void {
    const socket = this.socket;
    socket.onopen = socket.onmessage = socket.onclose = null;
    socket.onerror = () => {};
  }

  /** Detach, clear this socket's timers and close it (an already closed socket is fine). */
  close(code: number, reason: string): void {
    this.detach();
    this.retiring = false;
    this.clearTimers();
    this.closeSocket(code, reason);
  }

  /** Close the socket without touching anything else. */
  closeSocket(code: number, reason: string): void {
    try {
      this.socket.close(code, reason);
    } catch {
      // Already closed.
    }
  }
}
