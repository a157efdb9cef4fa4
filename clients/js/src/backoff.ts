/**
 * Reconnection delays: a fast first retry, then exponential backoff with jitter.
 *
 * A socket that drops after being open is retried almost at once (attempt 0: a random delay
 * below `baseMs`, so that many clients dropped together do not come back in lockstep). Only
 * repeated failures back off, and then never below half the ceiling ("equal jitter"), so a
 * server that is down sees at most one attempt per `capMs / 2` from each client, while one
 * that comes back is found within `capMs`. `Retry` paces one kind of retry with it.
 */
import type { Platform } from "./platform.js";

export interface BackoffOptions {
  /** The first retry's ceiling and the backoff's base, in milliseconds (default 500). */
  baseMs: number;
  /** The largest delay, in milliseconds (default 5 000). */
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 5_000 };

/**
 * The delay before reconnection attempt number `attempt` (0 for the first retry): for attempt
 * 0 a uniformly random value in `[0, base)`; after that, with `ceiling = min(cap, base *
 * 2^attempt)`, a uniformly random value in `[ceiling / 2, ceiling)`.
 */
export function backoffDelay(
  attempt: number,
  random: () => number,
  options: BackoffOptions = DEFAULT_BACKOFF,
): number {
  const r = Math.min(Math.max(random(), 0), 1);
  if (attempt <= 0) return Math.floor(r * Math.min(options.baseMs, options.capMs));
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** attempt);
  return Math.floor(ceiling / 2 + (r * ceiling) / 2);
}

/** Backoff-paced retries: counts the attempts in a row and holds at most one waiting timer. */
export class Retry {
  /** Attempts since the last `reset()`: the next delay's position in the backoff. */
  attempt = 0;
  private timer: unknown = null;

  constructor(
    private readonly host: () => Pick<Platform, "random" | "setTimeout" | "clearTimeout">,
    private readonly options: BackoffOptions,
  ) {}

  /** A retry is waiting for its timer. */
  get waiting(): boolean {
    return this.timer !== null;
  }

  /** The delay of the next attempt (counting it). */
  nextDelay(): number {
    const delay = backoffDelay(this.attempt, this.host().random, this.options);
    this.attempt += 1;
    return delay;
  }

  /** Run `callback` after the next attempt's delay (cancelling a waiting one). */
  schedule(callback: () => void): void {
    this.cancel();
    const delay = this.nextDelay();
    this.timer = this.host().setTimeout(() => {
      this.timer = null;
      callback();
    }, delay);
  }

  cancel(): void {
    if (this.timer === null) return;
    this.host().clearTimeout(this.timer);
    this.timer = null;
  }

  reset(): void {
    this.attempt = 0;
  }
}
