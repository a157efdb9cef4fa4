import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConnectionLostError, QueueFullError, ServerError, TimeoutError } from "../src/errors.js";
import { OfflineQueue, RequestTracker } from "../src/requests.js";
import { Transport } from "../src/transport.js";
import { FakeClock, fakePlatform, flush, type FakeSocket } from "./fakes.js";

function setup(): { clock: FakeClock; tracker: RequestTracker; transport: Transport; socket: FakeSocket; drained: Transport[] } {
  const clock = new FakeClock();
  const sockets: FakeSocket[] = [];
  const platform = fakePlatform(clock, sockets);
  const drained: Transport[] = [];
  const tracker = new RequestTracker(() => platform, 1_000, (t) => drained.push(t));
  const handlers = { open: () => {}, frame: () => {}, close: () => {} };
  const transport = new Transport(1, platform, "wss://h", "t", undefined, handlers);
  sockets[0]!.accept();
  return { clock, tracker, transport, socket: sockets[0]!, drained };
}

describe("request tracker", () => {
  it("gives unique ids with one prefix per client", () => {
    const { tracker } = setup();
    const [a, b] = [tracker.nextId(), tracker.nextId()];
    assert.match(a, /^[0-9a-z]+-1$/);
    assert.equal(b, a.replace(/-1$/, "-2"));
  });

  it("settles a request with the ack, the pong or the error frame carrying its id", async () => {
    const { tracker, transport, socket } = setup();
    const ack = tracker.send(transport, { action: "publish", channel: "c", data: 1, id: "p1" });
    const pong = tracker.send(transport, { action: "ping", id: "g1" });
    const refused = tracker.send(transport, { action: "subscribe", channel: "c", id: "s1" });
    assert.deepEqual(socket.sent.map((f) => f.id), ["p1", "g1", "s1"]);
    assert.deepEqual([...transport.pending], ["p1", "g1", "s1"]);
    assert.equal(tracker.answer({ type: "ack", id: "p1", seq: 3 }), true);
    assert.equal(tracker.answer({ type: "pong", id: "g1", connectionId: "c1" }), true);
    assert.equal(tracker.answer({ type: "error", id: "s1", code: "forbidden", message: "no" }), true);
    assert.deepEqual(await ack, { type: "ack", id: "p1", seq: 3 });
    assert.deepEqual(await pong, { type: "pong", id: "g1", connectionId: "c1" });
    await assert.rejects(refused, (error: unknown) => error instanceof ServerError && error.code === "forbidden");
    assert.equal(transport.pending.size, 0);
  });

  it("says an error frame with an unknown (or no) id answers nothing; a late ack is ignored", () => {
    const { tracker } = setup();
    assert.equal(tracker.answer({ type: "error", code: "bad_request", message: "x" }), false);
    assert.equal(tracker.answer({ type: "error", id: "nope", code: "bad_request", message: "x" }), false);
    assert.equal(tracker.answer({ type: "ack", id: "nope" }), true);
  });

  it("times out with TimeoutError (default or per request) and forgets the request", async () => {
    const { clock, tracker, transport } = setup();
    const slow = tracker.send(transport, { action: "ping", id: "a" });
    const quick = tracker.send(transport, { action: "ping", id: "b" }, 50);
    assert.deepEqual(clock.pending(), [50, 1000]);
    const quickResult = assert.rejects(quick, TimeoutError);
    await clock.advance(50);
    await quickResult;
    const slowResult = assert.rejects(slow, /no reply to ping a in 1000 ms/);
    await clock.advance(950);
    await slowResult;
    assert.equal(transport.pending.size, 0);
  });

  it("rejects at once with ConnectionLostError when the socket refuses the frame", async () => {
    const { tracker, transport, socket } = setup();
    socket.readyState = 3;
    await assert.rejects(tracker.send(transport, { action: "ping", id: "a" }), ConnectionLostError);
    await assert.rejects(tracker.sendOnly(transport, { action: "ping", id: "b" }), ConnectionLostError);
    assert.equal(transport.pending.size, 0);
  });

  it("fails everything on a socket, and reports a retiring socket drained after its last answer", async () => {
    const { tracker, transport, drained } = setup();
    const one = tracker.send(transport, { action: "ping", id: "a" });
    const two = tracker.send(transport, { action: "ping", id: "b" });
    transport.retiring = true;
    tracker.answer({ type: "pong", id: "a" });
    assert.deepEqual(drained, []);
    const lost = new ConnectionLostError("gone");
    tracker.failAll(transport, lost);
    assert.deepEqual(drained, [transport]);
    await one;
    await assert.rejects(two, (error: unknown) => error === lost);
  });
});

describe("offline queue", () => {
  it("holds at most `limit` requests and runs them in order on flush", async () => {
    const queue = new OfflineQueue<string>(2);
    const ran: string[] = [];
    const a = queue.add(async (c) => (ran.push(`a on ${c}`), 1));
    const b = queue.add(async (c) => (ran.push(`b on ${c}`), 2));
    await assert.rejects(queue.add(async () => 3), (error: unknown) => error instanceof QueueFullError && /2/.test(error.message));
    assert.equal(queue.size, 2);
    queue.flush("socket-1");
    assert.equal(queue.size, 0);
    assert.deepEqual([await a, await b], [1, 2]);
    assert.deepEqual(ran, ["a on socket-1", "b on socket-1"]);
  });

  it("passes a run's failure to its caller and rejects everything on rejectAll", async () => {
    const queue = new OfflineQueue<string>(5);
    const failing = queue.add(() => Promise.reject(new Error("nope")));
    queue.flush("s");
    await assert.rejects(failing, /nope/);
    const waiting = queue.add(async () => 1);
    const closed = new Error("closed");
    queue.rejectAll(closed);
    await assert.rejects(waiting, (error: unknown) => error === closed);
    assert.equal(queue.size, 0);
    await flush();
  });
});
