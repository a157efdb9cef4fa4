import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffDelay, DEFAULT_BACKOFF } from "../src/index.js";

describe("backoffDelay", () => {
  it("grows the ceiling exponentially from the base and stops at the cap", () => {
    const top = () => 1;
    const ceilings = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => backoffDelay(attempt, top));
    assert.deepEqual(ceilings, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it("stays within [0, min(cap, base * 2^attempt)] for any random value", () => {
    for (let attempt = 0; attempt < 40; attempt += 1) {
      const ceiling = Math.min(30_000, 500 * 2 ** attempt);
      for (const r of [0, 0.000001, 0.25, 0.5, 0.999999]) {
        const delay = backoffDelay(attempt, () => r);
        assert.ok(delay >= 0 && delay <= ceiling, `attempt ${attempt}, r ${r}: ${delay}`);
        assert.equal(delay, Math.floor(r * ceiling));
      }
    }
  });

  it("never exceeds the cap, even for huge attempt counts or out-of-range randoms", () => {
    assert.equal(backoffDelay(5000, () => 1), 30_000);
    assert.equal(backoffDelay(3, () => 7), 4000);
    assert.equal(backoffDelay(3, () => -1), 0);
    assert.equal(backoffDelay(-2, () => 1), 500);
  });

  it("spreads delays over the whole interval (full jitter)", () => {
    const delays = Array.from({ length: 2000 }, () => backoffDelay(4, Math.random));
    const min = Math.min(...delays);
    const max = Math.max(...delays);
    assert.ok(min >= 0 && max <= 8000);
    assert.ok(min < 800, `smallest delay ${min} should be near 0`);
    assert.ok(max > 7200, `largest delay ${max} should be near the ceiling`);
    assert.ok(new Set(delays).size > 1000, "delays should rarely repeat");
  });

  it("takes its base and cap from the options", () => {
    const options = { baseMs: 100, capMs: 1000 };
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, () => 1, options)),
      [100, 200, 400, 800, 1000, 1000],
    );
    assert.deepEqual(DEFAULT_BACKOFF, { baseMs: 500, capMs: 30_000 });
  });
});
