import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ChannelMessage } from "../src/index.js";
import { connected, flush, harness, reopened } from "./fakes.js";

describe("server-side subscriptions (the token's subscribe claim)", () => {
  it("delivers a channel the client never subscribed to `message` listeners, and resumes it with since", async () => {
    const h = harness();
    let socket = await connected(h);
    const seen: Array<[string, number]> = [];
    h.client.on("message", (m: ChannelMessage) => seen.push([m.channel, m.seq]));
    socket.receive({ type: "message", channel: "user:alice", data: 1, seq: 4, epoch: "e", from: "s", ts: 1 });
    socket.receive({ type: "message", channel: "user:alice", data: 1, seq: 4, epoch: "e", from: "s", ts: 1 }); // a copy
    assert.deepEqual(seen, [["user:alice", 4]]);
    assert.deepEqual(socket.frames("subscribe"), []); // nothing was sent for it
    assert.deepEqual(h.client.subscribedChannels, ["user:alice"]);

    // a later subscribe of the same channel joins it: no second subscription, no double delivery
    const got: number[] = [];
    const sub = await h.client.subscribe("user:alice", (m) => got.push(m.seq));
    assert.deepEqual([sub.epoch, sub.seq], ["e", 4]);
    assert.deepEqual(socket.frames("subscribe"), []);
    socket.receive({ type: "message", channel: "user:alice", data: 2, seq: 5, epoch: "e", from: "s", ts: 2 });
    assert.deepEqual(got, [5]);
    assert.deepEqual(seen, [["user:alice", 4], ["user:alice", 5]]);

    // after a reconnect it is recovered like any channel: a subscribe with since and epoch
    socket.drop();
    socket = await reopened(h);
    socket.pong();
    await flush();
    const resubscribe = socket.last("subscribe");
    assert.deepEqual([resubscribe.channel, resubscribe.since, resubscribe.epoch], ["user:alice", 5, "e"]);
    socket.message("user:alice", 6);
    socket.ack(resubscribe, { channel: "user:alice", epoch: "e", seq: 6, recovered: true });
    await flush();
    assert.deepEqual(got, [5, 6]);
  });

  it("does not adopt a channel the client unsubscribed from (a message already on its way)", async () => {
    const h = harness();
    const socket = await connected(h);
    socket.receive({ type: "message", channel: "user:alice", data: 1, seq: 1, epoch: "e", from: "s", ts: 1 });
    const left = h.client.unsubscribe("user:alice");
    socket.ack(socket.last("unsubscribe"));
    await left;
    const seen: number[] = [];
    h.client.on("message", (m: ChannelMessage) => seen.push(m.seq));
    socket.receive({ type: "message", channel: "user:alice", data: 2, seq: 2, epoch: "e", from: "s", ts: 2 });
    assert.deepEqual(seen, []);
    assert.deepEqual(h.client.subscribedChannels, []);
  });
});
