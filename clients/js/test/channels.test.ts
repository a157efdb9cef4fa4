import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ChannelRegistry, DirectCopies } from "../src/channels.js";

const join = (user: string, data?: unknown) => ({ type: "join" as const, channel: "presence-x", user, data });
const leave = (user: string) => ({ type: "leave" as const, channel: "presence-x", user });

describe("channel registry", () => {
  it("creates a channel once, at the first start given, and keeps it until deleted", () => {
    const registry = new ChannelRegistry();
    const room = registry.open("room", { since: 7, epoch: "e1" });
    assert.deepEqual(room.cursor.position(), { since: 7, epoch: "e1" });
    assert.equal(registry.open("room", { since: 99, epoch: "other" }), room, "a later start is ignored");
    assert.deepEqual(room.cursor.position(), { since: 7, epoch: "e1" });
    const fresh = registry.open("fresh", { rewind: 20 });
    assert.equal(fresh.rewind, 20);
    assert.deepEqual(fresh.cursor.position(), {});
    assert.deepEqual(registry.names, ["room", "fresh"]);
    registry.delete(room);
    assert.equal(registry.holds(room), false);
    const again = registry.open("room", {});
    assert.notEqual(again, room);
    registry.delete(room); // deleting a replaced record leaves the new one
    assert.equal(registry.holds(again), true);
  });

  it("forgets confirmations and in-flight subscribes when the socket goes; unconfirmAll keeps the recovery flag", () => {
    const registry = new ChannelRegistry();
    const a = registry.open("a", {});
    a.confirmed = true;
    a.inFlight = "x-1";
    a.cursor.recovering = true;
    registry.unconfirmAll();
    assert.deepEqual([a.confirmed, a.inFlight, a.cursor.recovering], [false, null, true]);
    a.confirmed = true;
    registry.socketLost();
    assert.deepEqual([a.confirmed, a.inFlight, a.cursor.recovering], [false, null, false]);
  });

  it("rejects waiting subscribes on clear and forgets every channel", async () => {
    const registry = new ChannelRegistry();
    const channel = registry.open("a", {});
    const waiting = new Promise((resolve, reject) => channel.waiters.push({ handler: () => {}, resolve, reject }));
    const closed = new Error("closed");
    registry.clear(closed);
    await assert.rejects(waiting, (error: unknown) => error === closed);
    assert.deepEqual(registry.names, []);
  });

  it("rejectWaiters removes the waiters' handlers only when asked", async () => {
    const registry = new ChannelRegistry();
    const channel = registry.open("a", {});
    const handler = (): void => {};
    channel.handlers.set(handler, undefined);
    const one = new Promise((resolve, reject) => channel.waiters.push({ handler, resolve, reject }));
    channel.rejectWaiters(new Error("keep"), false);
    await assert.rejects(one, /keep/);
    assert.equal(channel.handlers.size, 1);
    const two = new Promise((resolve, reject) => channel.waiters.push({ handler, resolve, reject }));
    channel.rejectWaiters(new Error("drop"), true);
    await assert.rejects(two, /drop/);
    assert.equal(channel.handlers.size, 0);
  });
});

describe("copies from a planned swap's second socket", () => {
  it("drops a presence event repeated by another socket, not one repeated by the same socket", () => {
    const channel = new ChannelRegistry().open("presence-x", {});
    assert.equal(channel.isPresenceCopy(join("ann", { n: 1 }), 1), false);
    assert.equal(channel.isPresenceCopy(join("ann", { n: 1 }), 2), true, "socket 2's copy");
    assert.equal(channel.isPresenceCopy(join("ann", { n: 1 }), 1), false, "the same socket again is news");
    assert.equal(channel.isPresenceCopy(join("ann", { n: 2 }), 2), false, "other data is news");
    assert.equal(channel.isPresenceCopy(leave("ann"), 1), false);
    assert.equal(channel.isPresenceCopy(leave("ann"), 2), true);
    assert.equal(channel.isPresenceCopy(join("bob"), 1), false, "per user");
    channel.socketLost();
    assert.equal(channel.isPresenceCopy(leave("ann"), 3), false, "after a lost socket everything is news");
  });

  it("drops a direct frame once when another socket brings it, and remembers at most 64", () => {
    const copies = new DirectCopies();
    const frame = (n: number) => ({ type: "direct" as const, data: { n }, from: "srv", ts: 5 });
    assert.equal(copies.isCopy(frame(1), 1), false);
    assert.equal(copies.isCopy(frame(1), 1), false, "the same socket twice: two messages");
    assert.equal(copies.isCopy(frame(1), 2), true);
    assert.equal(copies.isCopy(frame(1), 2), true, "the second one from socket 1 also had a copy coming");
    assert.equal(copies.isCopy(frame(1), 2), false, "no copy left: news");
    for (let n = 100; n < 165; n += 1) copies.isCopy(frame(n), 1); // 65 frames: the first is forgotten
    assert.equal(copies.isCopy(frame(100), 2), false);
    assert.equal(copies.isCopy(frame(164), 2), true);
    copies.clear();
    assert.equal(copies.isCopy(frame(163), 2), false);
  });
});
