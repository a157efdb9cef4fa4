/**
 * The errors `@switchboard/server` raises. Every one is a `SwitchboardServerError` with a `code`
 * (the HTTP API's own code when it answered one) and the HTTP `status` (0 when none came back):
 *
 * - `BadRequestError` (400, `bad_request`): the request was refused as malformed, e.g. a bad
 *   channel name, or an `Idempotency-Key` reused with another body.
 * - `UnauthorizedError` (401, `unauthorized`): the API refused the credential: a secret other
 *   than the stack's, or an expired token.
 * - `ForbiddenError` (403, `forbidden`): the credential has no `scope: "publish"`, or its
 *   `channels` do not allow the channel.
 * - `NotFoundError` (404, `not_found`): no such route: check `url` (the stack's `PublishUrl`).
 * - `ConflictError` (409, `conflict`): a request with the same `Idempotency-Key` is still
 *   running; retry it shortly and it gets the first answer.
 * - `PayloadTooLargeError` (413, `payload_too_large`).
 * - `ApiError`: any other answer (5xx, or a body that is not the API's JSON).
 * - `NetworkError` (`network`, status 0): `fetch` itself failed (DNS, refused, reset, timeout).
 * - `ConfigurationError` (`configuration`, status 0): a missing secret or URL, or an argument
 *   the API would refuse anyway (checked before any request).
 */

/** The base class: a message for people, a `code` for programs, and the HTTP status. */
export class SwitchboardServerError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string, status = 0) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }
}

export class BadRequestError extends SwitchboardServerError {}
export class UnauthorizedError extends SwitchboardServerError {}
export class ForbiddenError extends SwitchboardServerError {}
export class NotFoundError extends SwitchboardServerError {}
export class ConflictError extends SwitchboardServerError {}
export class PayloadTooLargeError extends SwitchboardServerError {}
export class ApiError extends SwitchboardServerError {}

export class NetworkError extends SwitchboardServerError {
  constructor(message: string) {
    super("network", message);
  }
}

export class ConfigurationError extends SwitchboardServerError {
  constructor(message: string) {
    super("configuration", message);
  }
}

const BY_STATUS: Record<number, typeof SwitchboardServerError> = {
  400: BadRequestError,
  401: UnauthorizedError,
  403: ForbiddenError,
  404: NotFoundError,
  409: ConflictError,
  413: PayloadTooLargeError,
};

/** The typed error for an HTTP answer `status` with the API's `{code, message}` body (if any). */
export function errorForStatus(status: number, body: unknown): SwitchboardServerError {
  const fields = (typeof body === "object" && body !== null ? body : {}) as { code?: unknown; message?: unknown };
  const code = typeof fields.code === "string" ? fields.code : `http_${status}`;
  const detail = typeof fields.message === "string" ? `: ${fields.message}` : "";
  const Kind = BY_STATUS[status] ?? ApiError;
  return new Kind(code, `the Switchboard API answered ${status}${detail}`, status);
}
