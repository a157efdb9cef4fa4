import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ChannelCursor } from "../src/cursor.js";
import type { Ack, Message } from "../src/protocol.js";

const msg = (seq: number): Message => ({ type: "message", channel: "c", data: seq, seq });
const ack = (fields: Partial<Ack>): Ack => ({ type: "ack", id: "1", ...fields });
const seqs = (messages: Message[]): number[] => messages.map((m) => m.seq);

describe("ChannelCursor", () => {
  it("delivers consecutive messages and drops anything at or below the last seq", () => {
    const cursor = new ChannelCursor();
    cursor.acknowledge(ack({ epoch: "e1", seq: 4 }), {});
    assert.deepEqual(seqs(cursor.receive(msg(5)).deliver), [5]);
    assert.deepEqual(seqs(cursor.receive(msg(5)).deliver), []);
    assert.deepEqual(seqs(cursor.receive(msg(3)).deliver), []);
    assert.deepEqual(seqs(cursor.receive(msg(6)).deliver), [6]);
    assert.equal(cursor.seq, 6);
    assert.deepEqual(cursor.position(), { since: 6, epoch: "e1" });
  });

  it("asks for recovery on a gap once, holds later messages, and releases them in order", () => {
    const cursor = new ChannelCursor();
    cursor.acknowledge(ack({ epoch: "e1", seq: 1 }), {});
    const gap = cursor.receive(msg(3));
    assert.deepEqual(gap, { deliver: [], recover: true, reset: false });
    cursor.recovering = true; // the client sent the resubscribe
    assert.equal(cursor.receive(msg(4)).recover, false, "one recovery at a time");
    // The replay fills the gap: 2, then the held 3 and 4 follow; the replayed 3 is a duplicate.
    assert.deepEqual(seqs(cursor.receive(msg(2)).deliver), [2, 3, 4]);
    assert.deepEqual(seqs(cursor.receive(msg(3)).deliver), []);
    const done = cursor.acknowledge(ack({ epoch: "e1", seq: 4, recovered: true }), { since: 1, epoch: "e1" });
    assert.deepEqual(done, { deliver: [], recover: false, reset: false });
    assert.equal(cursor.recovering, false);
  });

  it("resets to the server's top when the ack says recovered: false", () => {
    const cursor = new ChannelCursor();
    cursor.acknowledge(ack({ epoch: "e1", seq: 10 }), {});
    cursor.receive(msg(13)); // a gap: 11 and 12 missing
    const update = cursor.acknowledge(ack({ epoch: "e2", seq: 12, recovered: false }), { since: 10, epoch: "e1" });
    assert.equal(update.reset, true);
    assert.deepEqual(seqs(update.deliver), [13], "the held message after the new top is kept");
    assert.equal(cursor.epoch, "e2");
    assert.equal(cursor.seq, 13);
  });

  it("treats a changed epoch without a `recovered` field as not recovered", () => {
    const cursor = new ChannelCursor();
    cursor.acknowledge(ack({ epoch: "e1", seq: 3 }), {});
    const update = cursor.acknowledge(ack({ epoch: "e9", seq: 0 }), { since: 3, epoch: "e1" });
    assert.equal(update.reset, true);
    assert.equal(cursor.seq, 0);
    assert.deepEqual(seqs(cursor.receive(msg(1)).deliver), [1]);
  });

  it("counts a resubscribe as recovered when nothing was missed even without `recovered`", () => {
    const cursor = new ChannelCursor();
    cursor.acknowledge(ack({ epoch: "e1", seq: 3 }), {});
    const update = cursor.acknowledge(ack({ epoch: "e1", seq: 3 }), { since: 3, epoch: "e1" });
    assert.deepEqual(update, { deliver: [], recover: false, reset: false });
  });

  it("asks for another recovery when a gap remains after a reset", () => {
    const cursor = new ChannelCursor();
    cursor.acknowledge(ack({ epoch: "e1", seq: 1 }), {});
    cursor.receive(msg(9));
    const update = cursor.acknowledge(ack({ epoch: "e2", seq: 5, recovered: false }), { since: 1, epoch: "e1" });
    assert.equal(update.reset, true);
    assert.equal(update.recover, true, "6..8 are still missing");
    assert.deepEqual(cursor.position(), { since: 5, epoch: "e2" });
  });

  it("learns the epoch from the first message when the channel had none at subscribe", () => {
    const cursor = new ChannelCursor();
    cursor.acknowledge(ack({ epoch: null as unknown as string, seq: 0 }), {});
    assert.equal(cursor.epoch, undefined);
    assert.deepEqual(seqs(cursor.receive({ ...msg(1), epoch: "e1" }).deliver), [1]);
    assert.deepEqual(cursor.position(), { since: 1, epoch: "e1" });
  });

  it("follows an epoch change in a live message instead of dropping the restarted seq", () => {
    const cursor = new ChannelCursor();
    cursor.acknowledge(ack({ epoch: "e1", seq: 7 }), {});
    cursor.receive({ ...msg(9), epoch: "e1" }); // a gap: 9 is held
    const update = cursor.receive({ ...msg(1), epoch: "e2" });
    assert.equal(update.reset, true);
    assert.equal(update.recover, false);
    assert.deepEqual(seqs(update.deliver), [1]);
    assert.deepEqual(cursor.position(), { since: 1, epoch: "e2" });
    // the held message of the old epoch is gone; the new epoch goes on
    assert.deepEqual(seqs(cursor.receive({ ...msg(2), epoch: "e2" }).deliver), [2]);
    assert.deepEqual(seqs(cursor.receive({ ...msg(2), epoch: "e2" }).deliver), []);
  });

  it("resets once when the channel started over empty: its first message is not another reset", () => {
    const cursor = new ChannelCursor();
    cursor.acknowledge(ack({ epoch: "e1", seq: 0 }), {});
    cursor.receive({ ...msg(1), epoch: "e1" });
    // The server lost the channel (a restarted local gateway): no epoch, no messages yet.
    const update = cursor.acknowledge(ack({ epoch: null, seq: 0, recovered: false } as unknown as Partial<Ack>), { since: 1, epoch: "e1" });
    assert.deepEqual(update, { deliver: [], recover: false, reset: true });
    assert.equal(cursor.epoch, undefined);
    assert.deepEqual(cursor.receive({ ...msg(1), epoch: "e2" }), { deliver: [{ ...msg(1), epoch: "e2" }], recover: false, reset: false });
    assert.deepEqual(cursor.position(), { since: 1, epoch: "e2" });
  });

  it("bounds the messages held back during a gap", () => {
    const cursor = new ChannelCursor(2);
    cursor.acknowledge(ack({ seq: 0 }), {});
    for (const seq of [2, 3, 4, 5]) cursor.receive(msg(seq));
    assert.deepEqual(seqs(cursor.receive(msg(1)).deliver), [1, 2, 3]);
  });
});
