import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Retry } from "../src/backoff.js";
import { Reconnects, startSocketTimers, watchBrowser, type LivenessTarget } from "../src/liveness.js";
import { ConnectionStateMachine, type ConnectionState } from "../src/state.js";
import { Transport } from "../src/transport.js";
import { FakeBrowser, FakeClock, fakePlatform } from "./fakes.js";

function target(open: boolean): { target: LivenessTarget; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    target: {
      isOpen: () => open,
      checkAlive: () => calls.push("checkAlive"),
      stable: () => calls.push("stable"),
      tooOld: () => calls.push("tooOld"),
      reconnectNow: (reset) => calls.push(`reconnectNow ${reset}`),
      wentOffline: () => calls.push("wentOffline"),
    },
  };
}

describe("Retry", () => {
  it("paces attempts along the backoff, holds one timer, and resets", async () => {
    const clock = new FakeClock();
    const platform = fakePlatform(clock);
    const retry = new Retry(() => platform, { baseMs: 100, capMs: 1000 });
    const fired: number[] = [];
    retry.schedule(() => fired.push(clock.now));
    assert.equal(retry.waiting, true);
    retry.schedule(() => fired.push(clock.now)); // replaces the waiting one
    assert.deepEqual(clock.pending(), [150], "attempt 1 with random 0.5: 100 + 50");
    await clock.advance(150);
    assert.deepEqual(fired, [150]);
    assert.equal(retry.waiting, false);
    assert.equal(retry.nextDelay(), 300, "attempt 2");
    retry.schedule(() => fired.push(-1));
    retry.cancel();
    assert.deepEqual(clock.pending(), []);
    retry.reset();
    assert.equal(retry.nextDelay(), 50, "attempt 0: half the base");
  });
});

describe("liveness timers", () => {
  it("reports stable, pings every interval and asks for a replacement at the age cap", async () => {
    const clock = new FakeClock();
    const transport = new Transport(1, fakePlatform(clock), "wss://h", "t", undefined, { open() {}, frame() {}, close() {} });
    const { target: t, calls } = target(true);
    startSocketTimers(transport, { stableAfterMs: 10, pingIntervalMs: 100, maxConnectionAgeMs: 250 }, t);
    await clock.advance(300);
    assert.deepEqual(calls, ["stable", "checkAlive", "checkAlive", "tooOld", "checkAlive"]);
    transport.clearTimers();
    await clock.advance(1000);
    assert.equal(calls.length, 5, "the timers end with the socket's");
  });
});

describe("browser signals", () => {
  it("checks an open socket on every signal; otherwise reconnects (online, visible) or stops the retry (offline)", () => {
    const browser = new FakeBrowser();
    const platform = fakePlatform(new FakeClock(), [], browser);
    const open = target(true);
    const stopOpen = watchBrowser(platform, open.target);
    for (const event of ["online", "offline", "visible"] as const) browser.emit(event);
    assert.deepEqual(open.calls, ["checkAlive", "checkAlive", "checkAlive"]);
    for (const stop of stopOpen) stop();
    const closed = target(false);
    const stop = watchBrowser(platform, closed.target);
    browser.emit("offline");
    browser.emit("visible"); // offline: nothing to try
    browser.emit("online");
    browser.emit("visible");
    assert.deepEqual(closed.calls, ["wentOffline", "reconnectNow true", "reconnectNow false"]);
    for (const s of stop) s();
    assert.equal(browser.listenerCount(), 0);
  });
});

describe("reconnect policy", () => {
  function setup(state: ConnectionState, hasSocket = false) {
    const clock = new FakeClock();
    const platform = fakePlatform(clock);
    const machine = new ConnectionStateMachine(() => {}, state);
    const attempts: number[] = [];
    const reconnects = new Reconnects(() => platform, { baseMs: 100, capMs: 1000 }, {
      machine,
      hasSocket: () => hasSocket,
      attempt: () => attempts.push(clock.now),
    });
    return { clock, machine, attempts, reconnects };
  }

  it("schedule: reports the loss, then attempts after the backoff delay", async () => {
    const { clock, machine, attempts, reconnects } = setup("open");
    reconnects.schedule();
    assert.equal(machine.state, "reconnecting");
    await clock.advance(49);
    assert.deepEqual(attempts, []);
    await clock.advance(1);
    assert.deepEqual(attempts, [50]);
  });

  it("now: cuts a waiting retry short; refused while a token is fetched, a socket exists, or not reconnecting", async () => {
    const waiting = setup("open");
    waiting.reconnects.schedule();
    waiting.reconnects.now(false);
    assert.deepEqual(waiting.attempts, [0]);
    assert.deepEqual(waiting.clock.pending(), [], "the waiting retry was cancelled");

    const fetching = setup("reconnecting"); // no retry waiting: an attempt is fetching its token
    fetching.reconnects.now(true);
    assert.deepEqual(fetching.attempts, []);

    const offline = setup("offline");
    offline.reconnects.now(true);
    assert.deepEqual(offline.attempts, [0]);
    assert.equal(offline.machine.state, "reconnecting");

    for (const [state, socket] of [["open", false], ["closed", false], ["offline", true]] as const) {
      const refused = setup(state, socket);
      refused.reconnects.now(true);
      assert.deepEqual(refused.attempts, [], state);
      assert.equal(refused.machine.state, state);
    }
  });

  it("wentOffline: only a waiting retry is stopped (and the state goes offline)", async () => {
    const { clock, machine, attempts, reconnects } = setup("open");
    reconnects.wentOffline();
    assert.equal(machine.state, "open");
    reconnects.schedule();
    reconnects.wentOffline();
    assert.equal(machine.state, "offline");
    await clock.advance(10_000);
    assert.deepEqual(attempts, []);
  });
});
