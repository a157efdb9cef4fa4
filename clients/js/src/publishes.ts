/**
 * Exactly-once publish. Every acknowledged publish carries an `idempotencyKey` (a random UUID
 * unless the app gives one); when its socket closes before the ack, the same frame (same key)
 * is sent again on the next connection, and the server answers a key it has seen (same user,
 * same channel, within 5 minutes) with the first publish's `seq` and `duplicate: true`, having
 * published nothing. So `publish()` resolves once, with one `seq`. A publish still unacked
 * `RESEND_WINDOW_MS` after it was first sent is not resent (the server may have forgotten its
 * key): it rejects with `ConnectionLostError` as before.
 */
import { ConnectionLostError } from "./errors.js";
import type { Platform } from "./platform.js";
import type { Ack } from "./protocol.js";
import type { Transport } from "./transport.js";

/** The server keeps a key 5 minutes; resends stop a minute earlier, to leave room for clocks. */
export const RESEND_WINDOW_MS = 4 * 60_000;
export const MAX_IDEMPOTENCY_KEY = 64;

/** What the server accepts as an `idempotencyKey`: 1-64 printable ASCII characters. */
export function isValidIdempotencyKey(key: unknown): key is string {
  return typeof key === "string" && key.length >= 1 && key.length <= MAX_IDEMPOTENCY_KEY && /^[ -~]+$/.test(key);
}

/** A fresh key: the platform's `crypto.randomUUID()`, or a v4-shaped one from `random()`. */
export function newIdempotencyKey(platform: Platform): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (platform.randomUUID) return platform.randomUUID();
  if (typeof crypto?.randomUUID === "function") return crypto.randomUUID();
  const hex = (n: number): string =>
    Array.from({ length: n }, () => Math.floor(platform.random() * 16).toString(16)).join("");
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${"89ab"[Math.floor(platform.random() * 4)]}${hex(3)}-${hex(12)}`;
}

export interface KeyedPublish {
  /** Send the frame (with a fresh request id) on `transport`; settles with the reply. */
  send(transport: Transport): Promise<Ack>;
  /** Run on the open socket now, or when the client is next connected (the offline queue). */
  request(run: (transport: Transport) => Promise<Ack>): Promise<Ack>;
  now(): number;
}

/** Send a keyed publish and resend it after each lost connection until it is acked. */
export function publishOnce(publish: KeyedPublish): Promise<Ack> {
  let firstSent: number | undefined;
  const attempt = (transport: Transport): Promise<Ack> => {
    const now = publish.now();
    if (firstSent !== undefined && now - firstSent > RESEND_WINDOW_MS) {
      return Promise.reject(
        new ConnectionLostError("the connection closed before the ack, too long ago to resend safely"),
      );
    }
    firstSent ??= now;
    return publish.send(transport).catch((error: unknown) => {
      if (error instanceof ConnectionLostError) return publish.request(attempt);
      throw error;
    });
  };
  return publish.request(attempt);
}
