/**
 * The errors this client raises. Every one is a `SwitchboardError` with a `code`:
 *
 * - `ServerError`: the server answered a request with an `error` frame; `code` is the
 *   server's (`bad_request`, `unknown_action`, `forbidden`, `payload_too_large`,
 *   `rate_limited`, `internal`).
 * - `RpcError` (a `ServerError`): an `rpc` answered with an `error` frame; `code` is the
 *   server's (`unknown_method` when no hook has the method: `unknownMethod` is then true,
 *   `internal` for a hook's bug, or the code of the hook's `Reject`), `method` the method.
 * - `TimeoutError` (`timeout`): no `ack` or `error` arrived in time.
 * - `QueueFullError` (`queue_full`): a publish made while disconnected found the queue full.
 * - `ConnectionLostError` (`connection_lost`): the socket closed before the server answered;
 *   the request may or may not have been carried out.
 * - `ClientClosedError` (`closed`): `close()` was called.
 * - `UnauthorizedError` (`unauthorized`): the token endpoint answered 401 or 403; the client
 *   stops retrying until `connect()` is called again.
 * - `InvalidChannelError` (`invalid_channel`): a channel name the server would refuse.
 * - `HandshakeError` (`handshake_failed`): a socket closed before it opened. A browser cannot
 *   tell why (API Gateway's 401 or 403 and an unreachable server all read as code 1006), so
 *   the client keeps retrying; `client.connectionError` holds it for the page to show.
 * - `SwitchboardError` with code `token_failed`: the token endpoint answered another error
 *   (e.g. 500); its message carries the endpoint's own `{"error": "..."}` when it sent one.
 */

/** The base class: a message for people and a `code` for programs. */
export class SwitchboardError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The server answered with an `error` frame. */
export class ServerError extends SwitchboardError {}

/** An `rpc` was answered with an `error` frame (the server's code, and which method). */
export class RpcError extends ServerError {
  readonly method: string;

  constructor(method: string, code: string, message: string) {
    super(code, message);
    this.method = method;
  }

  /** Whether the server has no hook for this method (`unknown_method`). */
  get unknownMethod(): boolean {
    return this.code === "unknown_method";
  }
}

/** No reply arrived within the request timeout. */
export class TimeoutError extends SwitchboardError {
  constructor(message: string) {
    super("timeout", message);
  }
}

/** The queue of publishes made while disconnected is full. */
export class QueueFullError extends SwitchboardError {
  constructor(limit: number) {
    super("queue_full", `the publish queue is full (${limit} waiting while disconnected)`);
  }
}

/** The socket closed before the reply arrived. */
export class ConnectionLostError extends SwitchboardError {
  constructor(message: string) {
    super("connection_lost", message);
  }
}

/** The client was closed by `close()`. */
export class ClientClosedError extends SwitchboardError {
  constructor() {
    super("closed", "the client is closed");
  }
}

/**
 * The token endpoint refused to issue a token (HTTP 401 or 403). A custom `getToken` may throw
 * this (or any error with `status` 401 or 403) to stop the client from retrying.
 */
export class UnauthorizedError extends SwitchboardError {
  readonly status: number | undefined;

  constructor(message = "not authorized to connect", status?: number) {
    super("unauthorized", message);
    this.status = status;
  }
}

/** The channel name is not 1 to 128 characters of letters, digits and `_-:.@=`. */
export class InvalidChannelError extends SwitchboardError {
  constructor(channel: unknown) {
    super(
      "invalid_channel",
      `invalid channel name ${JSON.stringify(channel)}: use 1 to 128 letters, digits and _-:.@=`,
    );
  }
}

/**
 * The socket closed before it opened: the server refused the handshake (401: a token signed with
 * another secret, expired, or malformed; 403: an Origin it does not allow or a replayed token)
 * or could not be reached. Browsers report all of these as close code 1006.
 */
export class HandshakeError extends SwitchboardError {
  readonly closeCode: number;

  constructor(closeCode: number, reason = "") {
    super(
      "handshake_failed",
      `the connection closed before it opened (${closeCode}${reason ? `: ${reason}` : ""}). ` +
        "Either the server refused the token (401: signed with a secret other than the " +
        "server's WS_SECRET, or expired) or the page's Origin (403), or the server is not " +
        "reachable at this URL",
    );
    this.closeCode = closeCode;
  }
}

/** `error` as a `SwitchboardError`: itself if it is one, else wrapped with `code`. */
export function asSwitchboardError(error: unknown, code: string): SwitchboardError {
  if (error instanceof SwitchboardError) return error;
  return new SwitchboardError(code, error instanceof Error ? error.message : String(error));
}
