/** Presence (join/leave, the member list), history, direct messages and resuming from a position. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ServerError, TimeoutError, type ChannelMessage, type PresenceEvent } from "../src/index.js";
import { connected, flush, harness, reopened, subscribed, type FakeSocket, type Harness } from "./fakes.js";

const noop = (): void => undefined;

describe("presence events", () => {
  it("delivers join and leave to the channel's presence listeners and as client events", async () => {
    const h = harness();
    const socket = await connected(h);
    const heard: PresenceEvent[] = [];
    const events: unknown[] = [];
    h.client.on("join", (event) => events.push(event));
    h.client.on("leave", (event) => events.push(event));
    await subscribed(socket, () => h.client.subscribe("presence-room", noop, { onPresence: (e) => heard.push(e) }), {
      epoch: null,
      seq: 0,
    });
    socket.receive({ type: "join", channel: "presence-room", user: "alice", data: { name: "Alice" } });
    socket.receive({ type: "join", channel: "presence-room", user: "bob" });
    socket.receive({ type: "leave", channel: "presence-room", user: "alice" });
    const expected = [
      { type: "join", channel: "presence-room", user: "alice", data: { name: "Alice" } },
      { type: "join", channel: "presence-room", user: "bob" },
      { type: "leave", channel: "presence-room", user: "alice" },
    ];
    assert.deepEqual(heard, expected);
    assert.deepEqual(events, expected);
  });

  it("ignores presence of channels it is not subscribed to, malformed frames and unknown types", async () => {
    const h = harness();
    const socket = await connected(h);
    const heard: unknown[] = [];
    const errors: unknown[] = [];
    h.client.on("error", (event) => errors.push(event));
    const listener = (event: PresenceEvent): number => heard.push(event);
    await subscribed(socket, () => h.client.subscribe("presence-a", noop, { onPresence: listener }), { seq: 0 });
    h.client.on("join", (event) => heard.push(["event", event.channel]));
    socket.receive({ type: "join", channel: "presence-b", user: "alice" });
    socket.receive({ type: "join", channel: "presence-a" }); // no user
    socket.receive({ type: "typing", channel: "presence-a", user: "alice" });
    assert.deepEqual(heard, []);
    void h.client.unsubscribe("presence-a", noop).catch(noop); // its ack never comes here
    socket.receive({ type: "join", channel: "presence-a", user: "alice" });
    assert.deepEqual(heard, []);
    assert.deepEqual(errors, []);
  });

  it("stops calling a presence listener once its handler is unsubscribed", async () => {
    const h = harness();
    const socket = await connected(h);
    const heard: string[] = [];
    const first = (): void => undefined;
    const second = (): void => undefined;
    await subscribed(socket, () => h.client.subscribe("presence-x", first, { onPresence: (e) => heard.push(`1 ${e.user}`) }), { seq: 0 });
    await h.client.subscribe("presence-x", second, { onPresence: (e) => heard.push(`2 ${e.user}`) });
    socket.receive({ type: "join", channel: "presence-x", user: "a" });
    await h.client.unsubscribe("presence-x", first);
    socket.receive({ type: "join", channel: "presence-x", user: "b" });
    assert.deepEqual(heard, ["1 a", "2 a", "2 b"]);
  });

  it("emits `direct` messages from the app's backend", async () => {
    const h = harness();
    const socket = await connected(h);
    const got: unknown[] = [];
    h.client.on("direct", (message) => got.push(message));
    socket.receive({ type: "direct", data: { text: "your export is ready" }, from: "backend", ts: 1700 });
    socket.receive({ type: "direct", data: 2, from: "backend", ts: 1701 });
    assert.deepEqual(got, [
      { data: { text: "your export is ready" }, from: "backend", ts: 1700 },
      { data: 2, from: "backend", ts: 1701 },
    ]);
  });

  it("drops the copies of join, leave and direct that both sockets of a planned swap receive", async () => {
    const h = harness({ maxConnectionAgeMs: 60_000, pingIntervalMs: 60 * 60_000 });
    const old = await connected(h, "old");
    const heard: string[] = [];
    h.client.on("join", (e) => heard.push(`join ${e.user}`));
    h.client.on("leave", (e) => heard.push(`leave ${e.user}`));
    h.client.on("direct", (m) => heard.push(`direct ${String(m.data)}`));
    await subscribed(old, () => h.client.subscribe("presence-room", noop), { epoch: "e", seq: 0 });
    await h.clock.advance(60_000);
    const fresh = h.socket();
    assert.notEqual(fresh, old);
    fresh.accept();
    for (const socket of [old, fresh]) {
      socket.receive({ type: "join", channel: "presence-room", user: "carol", data: 1 });
      socket.receive({ type: "direct", data: "hi", from: "backend", ts: 5 });
    }
    fresh.ack(fresh.last("subscribe"), { epoch: "e", seq: 0, recovered: true });
    fresh.pong("new");
    await flush();
    assert.equal(h.client.connectionId, "new");
    fresh.receive({ type: "leave", channel: "presence-room", user: "carol" });
    fresh.receive({ type: "join", channel: "presence-room", user: "carol", data: 1 }); // back again
    assert.deepEqual(heard, ["join carol", "direct hi", "leave carol", "join carol"]);
  });

  it("reports news after a reconnect even when it looks like the last event before the drop", async () => {
    const h = harness();
    let socket = await connected(h);
    const heard: string[] = [];
    h.client.on("join", (e) => heard.push(`join ${e.user}`));
    await subscribed(socket, () => h.client.subscribe("presence-room", noop), { epoch: "e", seq: 0 });
    socket.receive({ type: "join", channel: "presence-room", user: "dave" });
    socket.drop();
    socket = await reopened(h);
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 0, recovered: true });
    socket.receive({ type: "join", channel: "presence-room", user: "dave" }); // left and came back meanwhile
    assert.deepEqual(heard, ["join dave", "join dave"]);
  });
});

describe("presence() and history() requests", () => {
  it("presence() resolves with the members from the ack", async () => {
    const h = harness();
    const socket = await connected(h);
    const members = h.client.presence("presence-room");
    const frame = socket.last("presence");
    assert.deepEqual(frame, { action: "presence", channel: "presence-room", id: frame.id });
    socket.ack(frame, {
      channel: "presence-room",
      members: [
        { user: "alice", data: { name: "Alice" }, connections: 2 },
        { user: "bob", connections: 1 },
        { nonsense: true },
      ],
    });
    assert.deepEqual(await members, [
      { user: "alice", data: { name: "Alice" }, connections: 2 },
      { user: "bob", connections: 1 },
    ]);
  });

  it("presence() rejects with the server's error and with TimeoutError", async () => {
    const h = harness({ requestTimeoutMs: 1_000 });
    const socket = await connected(h);
    const refused = h.client.presence("room");
    socket.receive({ type: "error", id: socket.last("presence").id, code: "bad_request", message: "not a presence channel" });
    await assert.rejects(refused, (error: unknown) => error instanceof ServerError && error.code === "bad_request");
    const tooMany = h.client.presence("presence-big");
    socket.receive({ type: "error", id: socket.last("presence").id, code: "payload_too_large", message: "too many" });
    await assert.rejects(tooMany, { code: "payload_too_large" });
    const late = h.client.presence("presence-room");
    const lateFrame = socket.last("presence");
    const assertion = assert.rejects(late, (error: unknown) => error instanceof TimeoutError);
    await h.clock.advance(1_000);
    await assertion;
    socket.ack(lateFrame, { members: [] }); // too late: ignored
  });

  it("presence() and history() wait for the connection like publish", async () => {
    const h = harness();
    const members = h.client.presence("presence-room");
    const page = h.client.history("room", { limit: 0 });
    assert.equal(h.client.queuedPublishes, 2);
    const socket = await connected(h);
    socket.ack(socket.last("presence"), { members: [{ user: "u", connections: 1 }] });
    socket.ack(socket.last("history"), { channel: "room", epoch: "e", seq: 9, messages: [], next: null });
    assert.deepEqual(await members, [{ user: "u", connections: 1 }]);
    assert.deepEqual(await page, { channel: "room", epoch: "e", seq: 9, messages: [], next: null });
  });

  it("history() sends limit and before and returns the page", async () => {
    const h = harness();
    const socket = await connected(h);
    const page = h.client.history("room", { limit: 2, before: 10 });
    const frame = socket.last("history");
    assert.deepEqual(frame, { action: "history", channel: "room", id: frame.id, limit: 2, before: 10 });
    socket.ack(frame, {
      channel: "room",
      epoch: "e1",
      seq: 12,
      messages: [
        { type: "message", channel: "room", data: "eight", seq: 8, epoch: "e1", from: "a", ts: 1 },
        { type: "message", channel: "room", data: "nine", seq: 9, epoch: "e1", from: "b", ts: 2 },
      ],
      next: 8,
    });
    const result = await page;
    assert.equal(result.seq, 12);
    assert.equal(result.epoch, "e1");
    assert.equal(result.next, 8);
    assert.deepEqual(result.messages.map((m) => [m.seq, m.data]), [[8, "eight"], [9, "nine"]]);

    const position = h.client.history("empty", { limit: 0 });
    const positionFrame = socket.last("history");
    assert.deepEqual(positionFrame, { action: "history", channel: "empty", id: positionFrame.id, limit: 0 });
    socket.ack(positionFrame, { channel: "empty", epoch: null, seq: 0, messages: [], next: null });
    assert.deepEqual(await position, { channel: "empty", epoch: null, seq: 0, messages: [], next: null });
  });

  it("history() rejects with the server's error and with TimeoutError", async () => {
    const h = harness({ requestTimeoutMs: 500 });
    const socket = await connected(h);
    const forbidden = h.client.history("secret");
    assert.deepEqual(Object.keys(socket.last("history")).sort(), ["action", "channel", "id"]);
    socket.receive({ type: "error", id: socket.last("history").id, code: "forbidden", message: "no" });
    await assert.rejects(forbidden, { code: "forbidden" });
    const late = h.client.history("room", { limit: 5 });
    const assertion = assert.rejects(late, (error: unknown) => error instanceof TimeoutError);
    await h.clock.advance(500);
    await assertion;
    await assert.rejects(h.client.history("bad channel!"), { code: "invalid_channel" });
  });
});

describe("subscribe from a known position", () => {
  it("sends since and epoch with the first subscribe and delivers what was missed", async () => {
    const h = harness();
    const socket = await connected(h);
    const got: number[] = [];
    const resets: unknown[] = [];
    h.client.on("reset", (event) => resets.push(event));
    const subscription = h.client.subscribe("room", (m: ChannelMessage) => got.push(m.seq), { since: 7, epoch: "e1" });
    await flush();
    const frame = socket.last("subscribe");
    assert.deepEqual([frame.since, frame.epoch], [7, "e1"]);
    socket.message("room", 7); // at the position: already rendered, dropped
    socket.message("room", 8);
    socket.message("room", 9);
    socket.ack(frame, { epoch: "e1", seq: 9, recovered: true });
    assert.equal((await subscription).seq, 9);
    socket.message("room", 10);
    assert.deepEqual(got, [8, 9, 10]);
    assert.deepEqual(resets, []);
  });

  it("raises `reset` when the position cannot be recovered and continues from the ack", async () => {
    const h = harness();
    const socket = await connected(h);
    const got: number[] = [];
    const resets: unknown[] = [];
    h.client.on("reset", (event) => resets.push(event));
    const subscription = h.client.subscribe("room", (m: ChannelMessage) => got.push(m.seq), { since: 3, epoch: "old" });
    await flush();
    socket.ack(socket.last("subscribe"), { epoch: "new", seq: 40, recovered: false });
    const confirmed = await subscription;
    assert.deepEqual([confirmed.epoch, confirmed.seq], ["new", 40]);
    assert.deepEqual(resets, [{ channel: "room", epoch: "new", seq: 40 }]);
    socket.message("room", 41);
    assert.deepEqual(got, [41]);
  });

  it("sends since without epoch for a channel that had no message yet, and waits for the connection", async () => {
    const h = harness();
    const subscription = h.client.subscribe("room", noop, { since: 0, epoch: null });
    const socket = await connected(h);
    const frame = socket.last("subscribe");
    assert.equal(frame.since, 0);
    assert.equal("epoch" in frame, false);
    socket.ack(frame, { epoch: null, seq: 0, recovered: true });
    assert.equal((await subscription).seq, 0);
  });

  it("ignores the position when the channel is already subscribed, and refuses a bad one", async () => {
    const h = harness();
    const socket = await connected(h);
    await subscribed(socket, () => h.client.subscribe("room", noop), { epoch: "e", seq: 20 });
    const other = (): void => undefined;
    const again = await h.client.subscribe("room", other, { since: 2, epoch: "x" });
    assert.equal(again.seq, 20);
    assert.equal(socket.frames("subscribe").length, 1);
    await assert.rejects(h.client.subscribe("room2", noop, { since: -1 }), TypeError);
    await assert.rejects(h.client.subscribe("room2", noop, { since: 1.5 }), TypeError);
    assert.deepEqual(h.client.subscribedChannels, ["room"]);
  });

  it("emits `subscribed` on every subscribe ack, resubscribes included", async () => {
    const h = harness();
    let socket = await connected(h);
    const acks: unknown[] = [];
    h.client.on("subscribed", (event) => acks.push(event));
    await subscribed(socket, () => h.client.subscribe("room", noop), { epoch: "e", seq: 4 });
    socket.drop();
    socket = await reopened(h);
    socket.message("room", 5); // replayed
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 5, recovered: true });
    await flush();
    assert.deepEqual(acks, [
      { channel: "room", epoch: "e", seq: 4, recovered: undefined },
      { channel: "room", epoch: "e", seq: 5, recovered: true },
    ]);
  });
});
