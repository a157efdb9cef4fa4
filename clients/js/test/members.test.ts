import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SwitchboardClient } from "../src/client.js";
import { ClientClosedError, ConnectionLostError, ServerError } from "../src/errors.js";
import { applyPresence, followMembers, type PresenceState } from "../src/members.js";
import type { Member } from "../src/protocol.js";
import type { ClientEvents, MessageHandler, PresenceEvent, PresenceListener, SubscribeOptions, Subscription } from "../src/types.js";
import { flush } from "./fakes.js";

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: Error): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((ok, fail) => ((resolve = ok), (reject = fail)));
  return { promise, resolve, reject };
}

/** The four client methods the follower uses, each answered by the test. */
class FakeClient {
  readonly reads: Array<Deferred<Member[]>> = [];
  readonly subscribes: Array<{ channel: string; handler: MessageHandler; onPresence?: PresenceListener; answer: Deferred<Subscription> }> = [];
  readonly unsubscribes: Array<[string, MessageHandler | undefined]> = [];
  private readonly listeners = new Map<string, Set<(payload: never) => void>>();

  on<K extends keyof ClientEvents>(event: K, listener: (payload: ClientEvents[K]) => void): () => void {
    const set = this.listeners.get(event) ?? new Set();
    this.listeners.set(event, set);
    set.add(listener);
    return () => set.delete(listener);
  }
  emit<K extends keyof ClientEvents>(event: K, payload: ClientEvents[K]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) (listener as (p: ClientEvents[K]) => void)(payload);
  }
  listenerCount(): number {
    return [...this.listeners.values()].reduce((n, set) => n + set.size, 0);
  }
  subscribe(channel: string, handler: MessageHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    const answer = deferred<Subscription>();
    this.subscribes.push({ channel, handler, onPresence: options.onPresence, answer });
    return answer.promise;
  }
  unsubscribe(channel: string, handler?: MessageHandler): Promise<void> {
    this.unsubscribes.push([channel, handler]);
    return Promise.resolve();
  }
  presence<T>(): Promise<Array<Member<T>>> {
    const read = deferred<Member[]>();
    this.reads.push(read);
    return read.promise as Promise<Array<Member<T>>>;
  }
  /** The server acks the subscribe: the `subscribed` event, then the promise. */
  ack(channel = "presence-room"): void {
    this.emit("subscribed", { channel, epoch: "e", seq: 0, recovered: undefined });
    this.subscribes[0]!.answer.resolve({ channel, epoch: "e", seq: 0, unsubscribe: async () => {} });
  }
  presenceEvent(event: PresenceEvent): void {
    this.subscribes[0]!.onPresence?.(event);
  }
}

const CHANNEL = "presence-room";
const join = (user: string, data?: unknown): PresenceEvent => ({ type: "join", channel: CHANNEL, user, ...(data !== undefined && { data }) });
const leave = (user: string): PresenceEvent => ({ type: "leave", channel: CHANNEL, user });

function follow(options: { onMessage?: MessageHandler } = {}) {
  const client = new FakeClient();
  const states: PresenceState[] = [];
  const heard: string[] = [];
  const readErrors: Error[] = [];
  const follower = followMembers(client as unknown as SwitchboardClient, CHANNEL, {
    onChange: (state) => states.push(state),
    onPresence: (event) => heard.push(`${event.type} ${event.user}`),
    onReadError: (error) => readErrors.push(error),
    ...options,
  });
  const last = (): PresenceState => states[states.length - 1]!;
  return { client, follower, states, heard, readErrors, last };
}

describe("applyPresence", () => {
  it("adds a joining user, updates a known one in place keeping connections, removes a leaving one", () => {
    const members = new Map<string, Member>([
      ["ann", { user: "ann", data: { n: 1 }, connections: 3 }],
      ["bob", { user: "bob", connections: 1 }],
    ]);
    applyPresence(members, join("cat"));
    applyPresence(members, join("ann", { n: 2 }));
    applyPresence(members, leave("bob"));
    applyPresence(members, leave("nobody"));
    assert.deepEqual([...members.values()], [
      { user: "ann", data: { n: 2 }, connections: 3 },
      { user: "cat", connections: 1 },
    ]);
    assert.equal("data" in members.get("cat")!, false, "a join without data has no data key");
  });
});

describe("member-list follower", () => {
  it("subscribes (presence only by default), is loading until the first read, reads after the ack", async () => {
    const { client, states, last } = follow();
    assert.deepEqual(states, [{ members: [], status: "loading", error: null }]);
    assert.deepEqual(client.subscribes.map((s) => s.channel), [CHANNEL]);
    assert.equal(client.reads.length, 0, "no read before the subscription is confirmed");
    client.ack();
    await flush();
    assert.equal(client.reads.length, 1, "one read for the ack (the event and the resolved promise)");
    client.reads[0]!.resolve([{ user: "ann", data: { name: "Ann" }, connections: 2 }]);
    await flush();
    assert.deepEqual(last(), { members: [{ user: "ann", data: { name: "Ann" }, connections: 2 }], status: "ready", error: null });
  });

  it("follows join and leave, then reports each event after applying it", async () => {
    const { client, heard, last } = follow();
    client.ack();
    await flush();
    client.reads[0]!.resolve([{ user: "ann", connections: 2 }]);
    await flush();
    client.presenceEvent(join("bob", { name: "Bob" }));
    client.presenceEvent(join("ann", { name: "Ann" }));
    assert.deepEqual(last().members, [
      { user: "ann", data: { name: "Ann" }, connections: 2 },
      { user: "bob", data: { name: "Bob" }, connections: 1 },
    ]);
    client.presenceEvent(leave("ann"));
    assert.deepEqual(last(), { members: [{ user: "bob", data: { name: "Bob" }, connections: 1 }], status: "ready", error: null });
    assert.deepEqual(heard, ["join bob", "join ann", "leave ann"]);
  });

  it("applies what was heard during a read on top of its answer", async () => {
    const { client, last } = follow();
    client.ack();
    await flush();
    client.presenceEvent(join("cat"));
    client.presenceEvent(leave("ann"));
    client.reads[0]!.resolve([{ user: "ann", connections: 1 }, { user: "dan", connections: 1 }]); // read before both
    await flush();
    assert.deepEqual(last().members, [{ user: "dan", connections: 1 }, { user: "cat", connections: 1 }]);
  });

  it("reads again on every resubscribe and reset, once per turn, and drops a replaced read's answer", async () => {
    const { client, last } = follow();
    client.ack();
    await flush();
    client.emit("reset", { channel: CHANNEL, epoch: "e2", seq: 0 });
    client.emit("subscribed", { channel: CHANNEL, epoch: "e2", seq: 0, recovered: false });
    client.emit("subscribed", { channel: "presence-other", epoch: "x", seq: 0, recovered: undefined });
    await flush();
    assert.equal(client.reads.length, 2, "the reset and its ack: one more read; another channel: none");
    client.reads[1]!.resolve([{ user: "new", connections: 1 }]);
    await flush();
    client.reads[0]!.resolve([{ user: "stale", connections: 1 }]);
    await flush();
    assert.deepEqual(last().members, [{ user: "new", connections: 1 }]);
  });

  it("reads once when the subscribe resolves without an ack (another subscriber confirmed it)", async () => {
    const { client } = follow();
    client.subscribes[0]!.answer.resolve({ channel: CHANNEL, epoch: "e", seq: 0, unsubscribe: async () => {} });
    await flush();
    assert.equal(client.reads.length, 1);
  });

  it("does not count a read lost with its socket or the client closing as an error", async () => {
    const { client, states, readErrors } = follow();
    client.ack();
    await flush();
    client.reads[0]!.reject(new ConnectionLostError("gone"));
    await flush();
    client.emit("subscribed", { channel: CHANNEL, epoch: "e", seq: 0, recovered: true });
    await flush();
    client.reads[1]!.reject(new ClientClosedError());
    await flush();
    assert.deepEqual(states.map((s) => s.status), ["loading"]);
    assert.deepEqual(readErrors, []);
  });

  it("reports a refused read, keeps following join and leave, and is ready after the next read", async () => {
    const { client, last, readErrors } = follow();
    client.ack();
    await flush();
    const refusal = new ServerError("payload_too_large", "too many members");
    client.reads[0]!.reject(refusal);
    await flush();
    assert.deepEqual(last(), { members: [], status: "error", error: refusal });
    assert.deepEqual(readErrors, [refusal]);
    client.presenceEvent(join("ann"));
    assert.deepEqual(last(), { members: [{ user: "ann", connections: 1 }], status: "error", error: refusal });
    client.emit("subscribed", { channel: CHANNEL, epoch: "e", seq: 0, recovered: true });
    await flush();
    client.reads[1]!.resolve([{ user: "bob", connections: 1 }]);
    await flush();
    assert.deepEqual(last(), { members: [{ user: "bob", connections: 1 }], status: "ready", error: null });
  });

  it("reports a refused subscribe as the error (not as a read error)", async () => {
    const { client, last, readErrors, follower } = follow();
    const refusal = new ServerError("forbidden", "not yours");
    client.subscribes[0]!.answer.reject(refusal);
    await assert.rejects(follower.subscription, (error: unknown) => error === refusal);
    assert.deepEqual(last(), { members: [], status: "error", error: refusal });
    assert.deepEqual(readErrors, []);
  });

  it("passes the channel's messages to onMessage, and stop() ends everything and unsubscribes that handler", async () => {
    const onMessage: MessageHandler = () => {};
    const { client, follower, states, heard } = follow({ onMessage });
    assert.equal(client.subscribes[0]!.handler, onMessage);
    client.ack();
    await flush();
    follower.stop();
    assert.deepEqual(client.unsubscribes, [[CHANNEL, onMessage]]);
    assert.equal(client.listenerCount(), 0);
    const count = states.length;
    client.reads[0]!.resolve([{ user: "late", connections: 1 }]);
    client.presenceEvent(join("late"));
    client.emit("subscribed", { channel: CHANNEL, epoch: "e", seq: 0, recovered: true });
    await flush();
    assert.equal(states.length, count, "nothing after stop");
    assert.deepEqual(heard, []);
    assert.equal(client.reads.length, 1);
    assert.deepEqual(follower.state, { members: [], status: "loading", error: null });
  });
});
