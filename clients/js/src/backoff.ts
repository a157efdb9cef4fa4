/** Reconnection delays: exponential backoff with full jitter. */

export interface BackoffOptions {
  /** The first ceiling, in milliseconds (default 500). */
  baseMs: number;
  /** The largest delay, in milliseconds (default 30 000). */
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 30_000 };

/**
 * The delay before reconnection attempt number `attempt` (0 for the first retry): a uniformly
 * random value in `[0, min(cap, base * 2^attempt))`, so that many clients dropped at once do not
 * come back in lockstep ("full jitter").
 */
export function backoffDelay(
  attempt: number,
  random: () => number,
  options: BackoffOptions = DEFAULT_BACKOFF,
): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.max(0, attempt));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * ceiling);
}
