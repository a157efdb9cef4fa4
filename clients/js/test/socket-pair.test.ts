import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConnectionLostError } from "../src/errors.js";
import { Emitter } from "../src/events.js";
import { RequestTracker } from "../src/requests.js";
import { SocketPair } from "../src/sockets.js";
import { Transport } from "../src/transport.js";
import type { ClientEvents } from "../src/types.js";
import { FakeClock, fakePlatform, type FakeSocket } from "./fakes.js";

function setup() {
  const clock = new FakeClock();
  const sockets: FakeSocket[] = [];
  const platform = fakePlatform(clock, sockets);
  const events = new Emitter<ClientEvents>();
  const ids: string[] = [];
  events.on("connection", ({ connectionId }) => ids.push(connectionId));
  let pair: SocketPair;
  const tracker = new RequestTracker(() => platform, 1_000, (t) => pair.drained(t));
  pair = new SocketPair(tracker, events, 1_000);
  const open = (planned: boolean): Transport => {
    const transport = new Transport(pair.nextSerial, platform, "wss://h", "t", undefined, { open() {}, frame() {}, close() {} });
    pair.adopt(transport, planned);
    sockets[sockets.length - 1]!.accept();
    return transport;
  };
  return { clock, sockets, tracker, pair, open, ids };
}

describe("socket pair", () => {
  it("numbers sockets, keeps the current one and a planned next, and promotes next", () => {
    const { pair, open } = setup();
    const first = open(false);
    const second = open(true);
    assert.deepEqual([first.serial, second.serial, pair.nextSerial], [1, 2, 3]);
    assert.equal(pair.holds(first) && pair.holds(second), true);
    assert.equal(pair.promote(), first);
    assert.deepEqual([pair.current, pair.next], [second, null]);
    assert.equal(pair.holds(first), false);
  });

  it("retires a socket at once when nothing is outstanding, else after its last answer", async () => {
    const { pair, open, tracker, sockets } = setup();
    const idle = open(false);
    pair.retire(idle);
    assert.deepEqual(sockets[0]!.closeCalls, [{ code: 1000, reason: "replaced" }]);
    const busy = open(false);
    const ping = pair.ping(busy);
    pair.retire(busy);
    assert.deepEqual(sockets[1]!.closeCalls, [], "waits for the pong");
    tracker.answer({ type: "pong", id: sockets[1]!.last("ping").id });
    await ping;
    assert.deepEqual(sockets[1]!.closeCalls, [{ code: 1000, reason: "replaced" }]);
  });

  it("closes a retiring socket after a request timeout when its requests stay unanswered", async () => {
    const { pair, open, clock, sockets } = setup();
    const busy = open(false);
    const ping = pair.ping(busy, 60_000).catch((error: unknown) => error);
    pair.retire(busy);
    await clock.advance(1_000);
    assert.deepEqual(sockets[0]!.closeCalls, [{ code: 1000, reason: "replaced" }]);
    assert.ok((await ping) instanceof ConnectionLostError);
  });

  it("discardAll closes both sockets and fails their requests with the given error", async () => {
    const { pair, open, sockets } = setup();
    const current = open(false);
    open(true);
    const pending = pair.ping(current);
    const closed = new Error("client closed");
    pair.discardAll("client closed", closed);
    await assert.rejects(pending, (error: unknown) => error === closed);
    assert.deepEqual(sockets.map((s) => s.closeCalls), [[{ code: 1000, reason: "client closed" }], [{ code: 1000, reason: "client closed" }]]);
    assert.deepEqual([pair.current, pair.next], [null, null]);
  });

  it("reports a connection id learned on the current socket once, and not for next", () => {
    const { pair, open, ids } = setup();
    const current = open(false);
    const next = open(true);
    pair.learned(current, "c1");
    pair.learned(current, "c1");
    pair.learned(next, "c2");
    assert.deepEqual(ids, ["c1"]);
    assert.equal(next.connectionId, "c2");
  });
});

describe("emitter", () => {
  it("calls listeners in order, stops on unsubscribe, and skips listeners added during an emit", () => {
    const events = new Emitter<{ tick: number }>();
    const heard: string[] = [];
    const stopA = events.on("tick", (n) => {
      heard.push(`a${n}`);
      events.on("tick", (m) => heard.push(`late${m}`));
    });
    events.on("tick", (n) => heard.push(`b${n}`));
    events.emit("tick", 1);
    stopA();
    events.emit("tick", 2);
    assert.deepEqual(heard, ["a1", "b1", "b2", "late2"]);
  });
});
