import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Emitter } from "../src/events.js";
import { RequestTracker } from "../src/requests.js";
import { SocketPair } from "../src/sockets.js";
import { ConnectionStateMachine, type ConnectionState } from "../src/state.js";
import { PlannedSwap, type SwapOwner } from "../src/swap.js";
import { Transport } from "../src/transport.js";
import type { ClientEvents } from "../src/types.js";
import { FakeClock, fakePlatform, flush, type FakeSocket } from "./fakes.js";

function setup(state: ConnectionState = "open") {
  const clock = new FakeClock();
  const sockets: FakeSocket[] = [];
  const platform = fakePlatform(clock, sockets);
  const events = new Emitter<ClientEvents>();
  let pair!: SocketPair;
  const tracker = new RequestTracker(() => platform, 1_000, (t) => pair.drained(t));
  pair = new SocketPair(tracker, events, 1_000);
  const machine = new ConnectionStateMachine(() => {}, state);
  const calls: string[] = [];
  let resubscribed!: () => void;
  const owner: SwapOwner = {
    sockets: pair,
    machine,
    isOpen: () => machine.state === "open" && pair.current?.opened === true,
    openReplacement: () => calls.push("openReplacement"),
    resubscribe: (t) => {
      calls.push(`resubscribe ${t.serial}`);
      return new Promise((resolve) => (resubscribed = resolve));
    },
    tookOver: (t, old) => calls.push(`tookOver ${t.serial} from ${old?.serial}`),
  };
  const open = (planned: boolean, accept = true): Transport => {
    const t = new Transport(pair.nextSerial, platform, "wss://h", "t", undefined, { open() {}, frame() {}, close() {} });
    pair.adopt(t, planned);
    if (accept) {
      sockets[sockets.length - 1]!.accept();
      t.opened = true;
    }
    return t;
  };
  const swap = new PlannedSwap(() => platform, { baseMs: 100, capMs: 1000 }, owner);
  return { clock, sockets, pair, machine, calls, swap, open, resubscribe: () => resubscribed() };
}

describe("planned swap", () => {
  it("begins only from an open client with no replacement under way", () => {
    const s = setup();
    s.swap.begin();
    assert.deepEqual(s.calls, [], "no current socket");
    s.open(false);
    s.swap.begin();
    assert.deepEqual(s.calls, ["openReplacement"]);
    s.open(true, false);
    s.swap.begin();
    assert.deepEqual(s.calls, ["openReplacement"], "one replacement at a time");
    const closed = setup("reconnecting");
    closed.open(false);
    closed.swap.begin();
    assert.deepEqual(closed.calls, []);
  });

  it("resubscribes on the opened replacement and lets it take over once the acks are in", async () => {
    const s = setup();
    const current = s.open(false);
    const next = s.open(true);
    s.swap.opened(next);
    assert.deepEqual(s.calls, ["resubscribe 2"]);
    assert.equal(s.sockets[1]!.last("ping").action, "ping", "it learns its connection id");
    assert.equal(s.pair.current, current, "not before the acks");
    s.resubscribe();
    await flush();
    assert.deepEqual(s.calls, ["resubscribe 2", "tookOver 2 from 1"]);
    assert.deepEqual([s.pair.current, s.pair.next], [next, null]);
  });

  it("retries a failed replacement after a backoff on the current socket's timers, from the first delay after a success", async () => {
    const s = setup();
    const current = s.open(false);
    s.swap.retryLater();
    s.swap.retryLater();
    assert.deepEqual(s.clock.pending(), [50, 150], "attempts 0 and 1 with random 0.5");
    await s.clock.advance(50);
    assert.deepEqual(s.calls, ["openReplacement"]);
    current.clearTimers();
    const next = s.open(true);
    s.swap.replacementClosed();
    assert.equal(s.pair.next, null);
    assert.deepEqual(s.clock.pending(), [300], "attempt 2");
    s.open(true);
    current.clearTimers(); // the current socket closes (the manager clears its timers)
    assert.equal(s.swap.currentClosed(), true); // an open replacement takes over, resetting the backoff
    assert.deepEqual(s.calls.at(-1), "tookOver 3 from 1");
    s.swap.retryLater();
    assert.deepEqual(s.clock.pending(), [50]);
    assert.notEqual(s.pair.current, next);
  });

  it("does not retry while not open or while a replacement exists", () => {
    const s = setup("reconnecting");
    s.open(false);
    s.swap.retryLater();
    assert.deepEqual(s.clock.pending(), []);
  });

  it("when the current socket closes: no replacement, false; one still opening becomes the current attempt", () => {
    const none = setup();
    none.open(false);
    assert.equal(none.swap.currentClosed(), false);
    const opening = setup();
    opening.open(false);
    const next = opening.open(true, false);
    assert.equal(opening.swap.currentClosed(), true);
    assert.deepEqual([opening.pair.current, opening.pair.next], [next, null]);
    assert.equal(opening.machine.state, "reconnecting");
    assert.deepEqual(opening.calls, [], "it has not opened: no take-over yet");
  });
});
