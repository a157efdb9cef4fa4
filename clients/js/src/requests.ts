/**
 * Request tracking and the offline queue. `RequestTracker` gives every client frame an id, sends
 * it on a transport and settles its promise with the reply carrying the same id (`ack`, `pong`
 * or `error`), or a `TimeoutError`, or the error its socket closed with. `OfflineQueue` holds the
 * requests made while disconnected (publishes, presence and history reads), bounded, and runs
 * them in order on the next open socket.
 */
import { ConnectionLostError, QueueFullError, ServerError, TimeoutError } from "./errors.js";
import type { Platform } from "./platform.js";
import type { Ack, ClientFrame, ErrorFrame, Pong } from "./protocol.js";
import type { Transport } from "./transport.js";

interface Pending {
  readonly frame: ClientFrame;
  readonly transport: Transport;
  timer: unknown;
  resolve(frame: Ack | Pong): void;
  reject(error: Error): void;
}

export class RequestTracker {
  private readonly requests = new Map<string, Pending>();
  private readonly idPrefix = Math.floor(Math.random() * 36 ** 4).toString(36);
  private idCounter = 0;

  constructor(
    private readonly platform: () => Platform,
    private readonly timeoutMs: number,
    /** A retiring transport's last request was answered: it may close now. */
    private readonly drained: (transport: Transport) => void,
  ) {}

  /** A new request id, unique to this client. */
  nextId(): string {
    this.idCounter += 1;
    return `${this.idPrefix}-${this.idCounter}`;
  }

  /** Send `frame` on `transport`; settles on the reply with the same id, or a timeout. */
  send(transport: Transport, frame: ClientFrame, timeoutMs = this.timeoutMs): Promise<Ack | Pong> {
    return new Promise<Ack | Pong>((resolve, reject) => {
      const request: Pending = { frame, transport, timer: null, resolve, reject };
      try {
        transport.send(JSON.stringify(frame));
      } catch (error) {
        reject(new ConnectionLostError(`could not send: ${String(error)}`));
        return;
      }
      this.requests.set(frame.id, request);
      transport.pending.add(frame.id);
      request.timer = this.platform().setTimeout(() => {
        if (this.finish(frame.id)) {
          reject(new TimeoutError(`no reply to ${frame.action} ${frame.id} in ${timeoutMs} ms`));
        }
      }, timeoutMs);
    });
  }

  /** Send `frame` expecting no reply: resolves once written, rejects if the socket refuses it. */
  sendOnly(transport: Transport, frame: ClientFrame): Promise<void> {
    try {
      transport.send(JSON.stringify(frame));
    } catch (error) {
      return Promise.reject(new ConnectionLostError(`could not send: ${String(error)}`));
    }
    return Promise.resolve();
  }

  /** Settle the request a reply answers; `false` for an error frame no request is waiting for. */
  answer(frame: Ack | Pong | ErrorFrame): boolean {
    const request = frame.id ? this.finish(frame.id) : undefined;
    if (frame.type !== "error") {
      request?.resolve(frame);
      return true;
    }
    if (!request) return false;
    request.reject(new ServerError(frame.code, frame.message));
    return true;
  }

  /** Reject every request still waiting on `transport` with `error`. */
  failAll(transport: Transport, error: Error): void {
    for (const id of [...transport.pending]) this.finish(id)?.reject(error);
  }

  /** Forget request `id`; returns it if it was still outstanding. */
  private finish(id: string): Pending | undefined {
    const request = this.requests.get(id);
    if (!request) return undefined;
    this.requests.delete(id);
    this.platform().clearTimeout(request.timer);
    const transport = request.transport;
    transport.pending.delete(id);
    if (transport.retiring && transport.pending.size === 0) this.drained(transport);
    return request;
  }
}

interface Queued<C> {
  run(connection: C): Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** Requests waiting for a connection `C`, at most `limit` of them, run in order by `flush`. */
export class OfflineQueue<C> {
  private queued: Array<Queued<C>> = [];

  constructor(readonly limit: number) {}

  get size(): number {
    return this.queued.length;
  }

  /** Queue `run`; rejects with `QueueFullError` at once when `limit` requests already wait. */
  add<T>(run: (connection: C) => Promise<T>): Promise<T> {
    if (this.queued.length >= this.limit) return Promise.reject(new QueueFullError(this.limit));
    return new Promise<T>((resolve, reject) => {
      this.queued.push({ run, resolve: resolve as (value: unknown) => void, reject });
    });
  }

  /** Run everything queued on `connection`, in order. */
  flush(connection: C): void {
    for (const queued of this.queued.splice(0)) queued.run(connection).then(queued.resolve, queued.reject);
  }

  rejectAll(error: Error): void {
    for (const queued of this.queued.splice(0)) queued.reject(error);
  }
}
