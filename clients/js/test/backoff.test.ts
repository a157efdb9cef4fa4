import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffDelay, DEFAULT_BACKOFF } from "../src/index.js";

describe("backoffDelay", () => {
  it("retries the first time within the base, then doubles the ceiling up to the cap", () => {
    const top = () => 1;
    const ceilings = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => backoffDelay(attempt, top));
    assert.deepEqual(ceilings, [500, 1000, 2000, 4000, 5000, 5000, 5000, 5000, 5000]);
    const bottom = () => 0;
    const floors = [0, 1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(attempt, bottom));
    assert.deepEqual(floors, [0, 500, 1000, 2000, 2500, 2500, 2500]);
  });

  it("stays in [0, base) first and in [ceiling / 2, ceiling] after, for any random value", () => {
    for (const r of [0, 0.000001, 0.25, 0.5, 0.999999]) {
      assert.equal(backoffDelay(0, () => r), Math.floor(r * 500));
    }
    for (let attempt = 1; attempt < 40; attempt += 1) {
      const ceiling = Math.min(5_000, 500 * 2 ** attempt);
      for (const r of [0, 0.000001, 0.25, 0.5, 0.999999]) {
        const delay = backoffDelay(attempt, () => r);
        assert.ok(delay >= ceiling / 2 && delay <= ceiling, `attempt ${attempt}, r ${r}: ${delay}`);
        assert.equal(delay, Math.floor(ceiling / 2 + (r * ceiling) / 2));
      }
    }
  });

  it("never exceeds the cap, even for huge attempt counts or out-of-range randoms", () => {
    assert.equal(backoffDelay(5000, () => 1), 5_000);
    assert.equal(backoffDelay(3, () => 7), 4000);
    assert.equal(backoffDelay(3, () => -1), 2000);
    assert.equal(backoffDelay(-2, () => 1), 500);
  });

  it("spreads delays over the interval, never below its half once failing (no hammering)", () => {
    const delays = Array.from({ length: 2000 }, () => backoffDelay(4, Math.random));
    const min = Math.min(...delays);
    const max = Math.max(...delays);
    assert.ok(min >= 2500 && max <= 5000);
    assert.ok(min < 2700, `smallest delay ${min} should be near half the cap`);
    assert.ok(max > 4800, `largest delay ${max} should be near the cap`);
    assert.ok(new Set(delays).size > 1000, "delays should rarely repeat");
    const first = Array.from({ length: 2000 }, () => backoffDelay(0, Math.random));
    assert.ok(Math.min(...first) < 50 && Math.max(...first) > 450 && Math.max(...first) < 500);
  });

  it("takes its base and cap from the options", () => {
    const options = { baseMs: 100, capMs: 1000 };
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, () => 1, options)),
      [100, 200, 400, 800, 1000, 1000],
    );
    assert.equal(backoffDelay(0, () => 1, { baseMs: 800, capMs: 300 }), 300);
    assert.deepEqual(DEFAULT_BACKOFF, { baseMs: 500, capMs: 5_000 });
  });
});
