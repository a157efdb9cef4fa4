import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ClientClosedError,
  ConnectionLostError,
  HandshakeError,
  InvalidChannelError,
  QueueFullError,
  ServerError,
  TimeoutError,
  UnauthorizedError,
  type ChannelMessage,
  type TokenResponse,
} from "../src/index.js";
import { RESEND_WINDOW_MS } from "../src/publishes.js";
import { connected, flush, harness, reopened, retry, subscribed, type FakeSocket, type Harness, type SentFrame } from "./fakes.js";

const tokenResponse = (status: number, body: unknown = {}): TokenResponse => ({
  status,
  ok: status >= 200 && status < 300,
  json: async () => body,
});

describe("connection state machine", () => {
  it("goes idle -> connecting -> open -> reconnecting -> open -> closed", async () => {
    const h = harness();
    assert.equal(h.client.state, "idle");
    h.client.connect();
    assert.equal(h.client.state, "connecting");
    await flush();
    h.socket().accept();
    assert.equal(h.client.state, "open");
    h.socket().drop(1001, "Going away");
    assert.equal(h.client.state, "reconnecting");
    await retry(h);
    h.socket().accept();
    assert.equal(h.client.state, "open");
    h.client.close();
    assert.equal(h.client.state, "closed");
    assert.deepEqual(h.states, ["connecting", "open", "reconnecting", "open", "closed"]);
  });

  it("fetches a fresh token for every connect and sends it as a subprotocol", async () => {
    const h = harness();
    await connected(h);
    h.socket().drop();
    await retry(h);
    h.socket().drop();
    await retry(h);
    assert.deepEqual(h.tokens, ["token-1", "token-2", "token-3"]);
    assert.deepEqual(
      h.sockets.map((s) => [s.url, s.protocols]),
      [1, 2, 3].map((n) => ["wss://example.test/prod", ["switchboard", `token-${n}`]]),
    );
  });

  it("puts the token in the query string with tokenTransport: query", async () => {
    const h = harness({ url: "wss://example.test/prod?x=1", tokenTransport: "query" });
    await connected(h);
    assert.equal(h.socket().url, "wss://example.test/prod?x=1&token=token-1");
    assert.equal(h.socket().protocols, undefined);
  });

  it("retries handshake failures with growing, jittered delays and resets after a stable connection", async () => {
    const h = harness({ platform: { random: () => 1 } });
    h.client.connect();
    await flush();
    const delays: number[] = [];
    for (let i = 0; i < 8; i += 1) {
      h.socket().drop(1006); // a refused handshake looks like this in a browser
      delays.push(h.clock.pending()[0]!);
      await h.clock.advance(delays[i]!);
    }
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 5000, 5000, 5000, 5000]);
    assert.equal(h.sockets.length, 9);
    // A connection that stays open 10 s resets the backoff.
    h.socket().accept();
    await h.clock.advance(10_000);
    h.socket().drop();
    assert.equal(h.clock.pending()[0], 500);
  });

  it("keeps the backoff growing when connections drop before they are stable", async () => {
    const h = harness({ platform: { random: () => 1 } });
    await connected(h);
    h.socket().drop();
    assert.equal(h.clock.pending()[0], 500);
    await h.clock.advance(500);
    h.socket().accept();
    await h.clock.advance(9_000);
    h.socket().drop();
    assert.equal(h.clock.pending()[0], 1000);
  });

  it("uses the random source for jitter", async () => {
    const h = harness({ platform: { random: () => 0.25 } });
    await connected(h);
    h.socket().drop();
    assert.deepEqual(h.clock.pending(), [125]);
  });

  it("times out a socket that never opens and tries again", async () => {
    const h = harness({ connectTimeoutMs: 5_000 });
    h.client.connect();
    await flush();
    await h.clock.advance(5_000);
    assert.equal(h.client.state, "reconnecting");
    assert.deepEqual(h.sockets[0]!.closeCalls, [{ code: 4000, reason: "the socket did not open in time" }]);
    await retry(h);
    assert.equal(h.sockets.length, 2);
  });

  it("learns its connection id from the pong", async () => {
    const h = harness();
    const ids: string[] = [];
    h.client.on("connection", ({ connectionId }) => ids.push(connectionId));
    await connected(h, "abc=");
    assert.equal(h.client.connectionId, "abc=");
    assert.deepEqual(ids, ["abc="]);
  });

  it("closes the socket, stops retrying and rejects what is outstanding on close()", async () => {
    const h = harness();
    const socket = await connected(h);
    const publish = h.client.publish("room", 1);
    h.client.close();
    await assert.rejects(publish, ClientClosedError);
    assert.deepEqual(socket.closeCalls, [{ code: 1000, reason: "client closed" }]);
    assert.deepEqual(h.clock.pending(), []);
    assert.equal(h.browser.listenerCount(), 0);
  });

  it("can connect again after close()", async () => {
    const h = harness();
    await connected(h);
    h.client.close();
    await connected(h);
    assert.equal(h.client.state, "open");
    assert.equal(h.sockets.length, 2);
  });
});

describe("after a server restart", () => {
  it("retries within 500 ms, then at most once per 2.5 s while down, and finds it back within 5 s", async () => {
    for (const r of [0, 0.5, 1]) {
      const h = harness({ platform: { random: () => r } });
      await connected(h);
      await h.clock.advance(60_000); // long open: the backoff is reset
      h.socket().drop(1001, "Going away"); // the server stops
      assert.ok(h.clock.pending()[0]! < 500 || (r === 1 && h.clock.pending()[0] === 500), `first retry, r ${r}`);
      // Down for 60 s: every handshake fails like a refused one (1006).
      const attempts: number[] = [];
      const downUntil = h.clock.now + 60_000;
      let sockets = h.sockets.length;
      while (h.clock.now < downUntil) {
        await h.clock.advance(Math.min(h.clock.pending()[0]!, downUntil - h.clock.now));
        if (h.sockets.length > sockets) {
          sockets = h.sockets.length;
          attempts.push(h.clock.now);
          if (h.clock.now < downUntil) h.socket().drop(1006);
        }
      }
      const gaps = attempts.slice(4).map((at, i) => at - attempts[3 + i]!);
      assert.ok(gaps.every((gap) => gap >= 2_500 && gap <= 5_000), `r ${r}: gaps ${gaps}`);
      assert.ok(attempts.length <= 4 + 60_000 / 2_500, `r ${r}: ${attempts.length} attempts`);
      // The server is back: the next attempt (the one in flight, or the next one) opens it.
      if (h.sockets.at(-1)!.readyState === 0) h.socket().drop(1006);
      const back = h.clock.now;
      await h.clock.advance(h.clock.pending()[0]!);
      assert.ok(h.clock.now - back <= 5_000, `r ${r}: ${h.clock.now - back} ms after it came back`);
      h.socket().accept();
      assert.equal(h.client.state, "open");
      assert.equal(h.client.connectionError, null);
    }
  });
});

describe("connection errors", () => {
  it("holds a HandshakeError while sockets close before opening, and clears it on open", async () => {
    const h = harness({ platform: { random: () => 1 } });
    const seen: Array<string | null> = [];
    h.client.on("connectionError", ({ error }) => seen.push(error?.code ?? null));
    h.client.connect();
    await flush();
    h.socket().drop(1006);
    const error = h.client.connectionError;
    assert.ok(error instanceof HandshakeError);
    assert.equal(error.closeCode, 1006);
    assert.match(error.message, /^the connection closed before it opened \(1006\)\. Either the server refused the token \(401/);
    assert.match(error.message, /Origin \(403\)/);
    assert.equal(h.client.state, "reconnecting", "a browser cannot tell a refusal from a server that is down");
    await retry(h);
    h.socket().accept();
    assert.equal(h.client.connectionError, null);
    assert.deepEqual(seen, ["handshake_failed", null]);
    h.socket().drop(1001);
    assert.equal(h.client.connectionError, null, "a drop after opening is not a connection error");
  });

  it("names a socket that did not open in time", async () => {
    const h = harness({ connectTimeoutMs: 3_000 });
    h.client.connect();
    await flush();
    await h.clock.advance(3_000);
    assert.equal(h.client.connectionError?.message.startsWith("the connection closed before it opened (4000: the socket did not open in time)"), true);
  });

  it("carries the token endpoint's own error message, and keeps retrying", async () => {
    const h = harness({ authUrl: "/api/ws-token" }, async () =>
      tokenResponse(500, { error: "WS_SECRET is not set on the server" }),
    );
    h.client.connect();
    await flush();
    const error = h.client.connectionError;
    assert.equal(error?.code, "token_failed");
    assert.equal(error?.message, "the token endpoint answered 500: WS_SECRET is not set on the server");
    assert.equal(h.client.state, "reconnecting");
    assert.equal(h.clock.pending().length, 1);
  });

  it("says the status alone when the error body is not JSON", async () => {
    const h = harness({ authUrl: "/t" }, async () => ({
      status: 502,
      ok: false,
      json: async () => {
        throw new SyntaxError("Unexpected token <");
      },
    }));
    h.client.connect();
    await flush();
    assert.equal(h.client.connectionError?.message, "the token endpoint answered 502");
  });

  it("keeps the UnauthorizedError that stopped the client, and connect() clears it", async () => {
    let status = 401;
    const h = harness({ authUrl: "/t" }, async () => tokenResponse(status, status === 200 ? { token: "t" } : { error: "not signed in" }));
    h.client.connect();
    await flush();
    assert.equal(h.client.state, "unauthorized");
    const error = h.client.connectionError;
    assert.ok(error instanceof UnauthorizedError);
    assert.equal(error.message, "the token endpoint answered 401: not signed in");
    assert.equal(error.status, 401);
    status = 200;
    h.client.connect();
    assert.equal(h.client.connectionError, null);
    await flush();
    h.socket().accept();
    assert.equal(h.client.state, "open");
  });
});

describe("unauthorized", () => {
  for (const status of [401, 403]) {
    it(`stops retrying when the token endpoint answers ${status}`, async () => {
      const calls: Array<{ url: string; credentials: string }> = [];
      const h = harness({ authUrl: "/api/ws-token" }, async (url, init) => {
        calls.push({ url, credentials: init.credentials });
        return tokenResponse(calls.length === 1 ? 200 : status, { token: "t1" });
      });
      const socket = await connected(h);
      assert.deepEqual(socket.protocols, ["switchboard", "t1"]);
      socket.drop();
      await retry(h);
      assert.equal(h.client.state, "unauthorized");
      assert.deepEqual(h.clock.pending(), [], "no retry is scheduled");
      await h.clock.advance(10 * 60_000);
      assert.equal(calls.length, 2);
      assert.equal(h.sockets.length, 1);
      assert.deepEqual(calls[0], { url: "/api/ws-token", credentials: "include" });
      await assert.rejects(h.client.publish("room", 1), UnauthorizedError);
      h.browser.emit("online");
      h.browser.emit("visible");
      await flush();
      assert.equal(calls.length, 2, "browser signals do not restart an unauthorized client");
    });
  }

  it("retries other token endpoint failures with backoff", async () => {
    let calls = 0;
    const h = harness({ authUrl: "/t" }, async () => {
      calls += 1;
      return calls < 3 ? tokenResponse(503) : tokenResponse(200, { token: "ok" });
    });
    const errors: string[] = [];
    h.client.on("error", ({ error }) => errors.push(error.code));
    h.client.connect();
    await flush();
    await retry(h);
    await retry(h);
    assert.equal(calls, 3);
    assert.deepEqual(errors, ["token_failed", "token_failed"]);
    assert.equal(h.client.state, "reconnecting");
    h.socket().accept();
    assert.equal(h.client.state, "open");
  });

  it("stops when getToken throws an error with status 401, and connect() starts over", async () => {
    let allowed = false;
    const h = harness({
      getToken: async () => {
        if (!allowed) throw Object.assign(new Error("signed out"), { status: 401 });
        return "fresh";
      },
    });
    h.client.connect();
    await flush();
    assert.equal(h.client.state, "unauthorized");
    allowed = true;
    h.client.connect();
    await flush();
    h.socket().accept();
    assert.equal(h.client.state, "open");
    assert.deepEqual(h.states, ["connecting", "unauthorized", "connecting", "open"]);
  });
});

describe("requests", () => {
  it("settles publish by the ack with the same id", async () => {
    const h = harness();
    const socket = await connected(h);
    const first = h.client.publish("room:1", { text: "a" });
    const second = h.client.publish("room:1", { text: "b" });
    const [a, b] = socket.frames("publish") as Array<SentFrame & { idempotencyKey?: string }>;
    assert.deepEqual(
      { ...a, id: undefined, idempotencyKey: undefined },
      { action: "publish", channel: "room:1", data: { text: "a" }, id: undefined, idempotencyKey: undefined },
    );
    assert.notEqual(a!.id, b!.id);
    // every acknowledged publish carries its own key (the platform's crypto.randomUUID here)
    assert.match(a!.idempotencyKey!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notEqual(a!.idempotencyKey, b!.idempotencyKey);
    socket.ack(b!, { seq: 8 });
    socket.ack(a!, { seq: 7 });
    assert.equal((await first).seq, 7);
    assert.equal((await second).seq, 8);
  });

  it("publishes with {ack: false} without waiting, and reports a later error as an event", async () => {
    const h = harness();
    const socket = await connected(h);
    const errors: string[] = [];
    h.client.on("error", ({ error }) => errors.push(error instanceof ServerError ? error.code : "?"));
    const result = await h.client.publish("room:1", { text: "a" }, { ack: false });
    assert.deepEqual(result, { channel: "room:1", seq: undefined, ack: undefined });
    const frame = socket.last("publish");
    assert.deepEqual({ ...frame, id: undefined }, {
      action: "publish",
      channel: "room:1",
      data: { text: "a" },
      ack: false,
      id: undefined,
    });
    socket.receive({ type: "error", id: frame.id, code: "rate_limited", message: "slow down" });
    assert.deepEqual(errors, ["rate_limited"]);
    const acked = h.client.publish("room:1", 2, { ack: true });
    const second = socket.last("publish");
    assert.equal("ack" in second, false);
    socket.ack(second, { seq: 9 });
    assert.equal((await acked).seq, 9);
  });

  it("rejects with the server's error code", async () => {
    const h = harness();
    const socket = await connected(h);
    const publish = h.client.publish("room", "x".repeat(10));
    socket.receive({ type: "error", id: socket.last("publish").id, code: "payload_too_large", message: "too big" });
    await assert.rejects(publish, (error: unknown) => {
      assert.ok(error instanceof ServerError);
      assert.equal(error.code, "payload_too_large");
      assert.equal(error.message, "too big");
      return true;
    });
  });

  it("rejects with TimeoutError when no reply comes in time, and ignores a late ack", async () => {
    const h = harness({ requestTimeoutMs: 2_000 });
    const socket = await connected(h);
    const publish = h.client.publish("room", 1);
    const settled = publish.then(() => "resolved", (error: unknown) => error);
    await h.clock.advance(1_999);
    assert.equal(await Promise.race([settled, Promise.resolve("pending")]), "pending");
    await h.clock.advance(1);
    assert.ok((await settled) instanceof TimeoutError);
    socket.ack(socket.last("publish"), { seq: 1 }); // too late: nothing happens
  });

  it("resends a publish whose socket dropped before the ack, with the same key, and resolves once", async () => {
    const h = harness();
    const socket = await connected(h);
    const publish = h.client.publish("room", 1);
    const settled: unknown[] = [];
    void publish.then((ack) => settled.push(ack.seq), (error: unknown) => settled.push(error));
    const first = socket.last("publish") as SentFrame & { idempotencyKey?: string };
    socket.drop();
    await flush();
    assert.deepEqual(settled, []);
    const next = await reopened(h);
    next.pong();
    await flush();
    const again = next.last("publish") as SentFrame & { idempotencyKey?: string };
    assert.deepEqual({ ...again, id: undefined }, { ...first, id: undefined });
    assert.notEqual(again.id, first.id);
    next.ack(again, { channel: "room", seq: 4, epoch: "e", duplicate: true });
    await flush();
    assert.deepEqual(settled, [4]); // a duplicate is the first publish's ack, not an error
    assert.equal((await publish).ack?.duplicate, true);
    assert.equal(next.frames("publish").length, 1);
  });

  it("rejects with ConnectionLostError when the ack is lost past the resend window", async () => {
    const h = harness({ requestTimeoutMs: 10 * 60_000 });
    let socket = await connected(h);
    const publish = h.client.publish("room", 1);
    const settled = publish.then(() => "resolved", (error: unknown) => error);
    await h.clock.advance(RESEND_WINDOW_MS + 1);
    socket.drop();
    socket = await reopened(h);
    socket.pong();
    await flush();
    const error = await settled;
    assert.ok(error instanceof ConnectionLostError);
    assert.match(error.message, /too long ago to resend/);
    assert.equal(socket.frames("publish").length, 0);
  });

  it("sends the app's own idempotencyKey, and refuses a malformed one before sending", async () => {
    const h = harness();
    const socket = await connected(h);
    const publish = h.client.publish("room", 1, { idempotencyKey: "order-42" });
    const frame = socket.last("publish") as SentFrame & { idempotencyKey?: string };
    assert.equal(frame.idempotencyKey, "order-42");
    socket.ack(frame, { seq: 1 });
    assert.equal((await publish).seq, 1);
    for (const bad of ["", "k".repeat(65), "caf\u00e9", "a\nb"]) {
      await assert.rejects(h.client.publish("room", 1, { idempotencyKey: bad }), TypeError);
    }
    assert.equal(socket.frames("publish").length, 1);
  });

  it("refuses invalid channel names", async () => {
    const h = harness();
    await assert.rejects(h.client.publish("has space", 1), InvalidChannelError);
    await assert.rejects(h.client.publish("x".repeat(129), 1), InvalidChannelError);
    await assert.rejects(h.client.subscribe("", () => {}), InvalidChannelError);
    await connected(h);
    const ok = h.client.publish("a-Z_0:.@=", 1);
    assert.equal(h.socket().last("publish").channel, "a-Z_0:.@=");
    h.socket().ack(h.socket().last("publish"));
    await ok;
  });
});

describe("publish queue", () => {
  it("queues publishes made while disconnected and sends them in order on connect", async () => {
    const h = harness();
    const first = h.client.publish("room", 1);
    const second = h.client.publish("room", 2);
    assert.equal(h.client.queuedPublishes, 2);
    const socket = await connected(h);
    assert.deepEqual(socket.frames("publish").map((f) => f.data), [1, 2]);
    assert.equal(h.client.queuedPublishes, 0);
    for (const frame of socket.frames("publish")) socket.ack(frame, { seq: frame.data as number });
    assert.deepEqual([(await first).seq, (await second).seq], [1, 2]);
  });

  it("rejects with QueueFullError beyond maxQueuedPublishes and keeps the rest", async () => {
    const h = harness({ maxQueuedPublishes: 3 });
    const queued = [1, 2, 3].map((n) => h.client.publish("room", n));
    await assert.rejects(h.client.publish("room", 4), (error: unknown) => {
      assert.ok(error instanceof QueueFullError);
      assert.equal(error.code, "queue_full");
      assert.match(error.message, /full \(3 waiting/);
      return true;
    });
    assert.equal(h.client.queuedPublishes, 3);
    const socket = await connected(h);
    assert.deepEqual(socket.frames("publish").map((f) => f.data), [1, 2, 3]);
    for (const frame of socket.frames("publish")) socket.ack(frame);
    await Promise.all(queued);
  });

  it("queues while reconnecting and flushes after resubscribing", async () => {
    const h = harness();
    let socket = await connected(h);
    await subscribed(socket, () => h.client.subscribe("room", () => {}), { epoch: "e", seq: 0 });
    socket.drop();
    const publish = h.client.publish("room", "while away");
    socket = await reopened(h);
    assert.deepEqual(socket.sent.map((f) => f.action), ["ping", "subscribe", "publish"]);
    socket.ack(socket.last("publish"), { seq: 1 });
    assert.equal((await publish).seq, 1);
  });
});

describe("subscriptions and recovery", () => {
  it("waits for the connection, then resolves on the ack with the channel's position", async () => {
    const h = harness();
    const subscription = h.client.subscribe("room", () => {});
    const socket = await connected(h);
    const frame = socket.last("subscribe");
    assert.equal(frame.channel, "room");
    assert.equal(frame.since, undefined);
    socket.ack(frame, { epoch: "e1", seq: 5 });
    const result = await subscription;
    assert.deepEqual([result.channel, result.epoch, result.seq], ["room", "e1", 5]);
  });

  it("rejects a refused subscribe and forgets the handler", async () => {
    const h = harness();
    const socket = await connected(h);
    const subscription = h.client.subscribe("private", () => {});
    socket.receive({ type: "error", id: socket.last("subscribe").id, code: "forbidden", message: "no" });
    await assert.rejects(subscription, (error: unknown) => error instanceof ServerError && error.code === "forbidden");
    assert.deepEqual(h.client.subscribedChannels, []);
  });

  it("delivers messages in order and drops duplicates by seq", async () => {
    const h = harness();
    const socket = await connected(h);
    const got: number[] = [];
    await subscribed(socket, () => h.client.subscribe("room", (m) => got.push(m.seq)), { epoch: "e1", seq: 2 });
    for (const seq of [2, 3, 3, 4, 1, 4, 5]) socket.message("room", seq);
    assert.deepEqual(got, [3, 4, 5]);
    assert.equal(socket.frames("subscribe").length, 1, "a duplicate is not a gap");
  });

  it("resubscribes every channel with since and epoch after a reconnect, with no duplicates", async () => {
    const h = harness();
    let socket = await connected(h);
    const got: Array<[string, number]> = [];
    const handler = (m: ChannelMessage) => got.push([m.channel, m.seq]);
    await subscribed(socket, () => h.client.subscribe("a", handler), { epoch: "ea", seq: 10 });
    await subscribed(socket, () => h.client.subscribe("b", handler), { epoch: "eb", seq: 0 });
    socket.message("a", 11);
    socket.drop(1001);
    socket = await reopened(h);
    const resubscribes = socket.frames("subscribe").map(({ channel, since, epoch }) => ({ channel, since, epoch }));
    assert.deepEqual(resubscribes, [
      { channel: "a", since: 11, epoch: "ea" },
      { channel: "b", since: 0, epoch: "eb" },
    ]);
    // The server replays what was missed (overlapping what we already had), then acks.
    socket.message("a", 11);
    socket.message("a", 12);
    socket.ack(socket.frames("subscribe")[0]!, { epoch: "ea", seq: 12, recovered: true });
    socket.ack(socket.frames("subscribe")[1]!, { epoch: "eb", seq: 0, recovered: true });
    socket.message("a", 12);
    socket.message("a", 13);
    assert.deepEqual(got, [["a", 11], ["a", 12], ["a", 13]]);
  });

  it("rewinds on the first subscribe, delivers the rewound messages like live ones, and resumes with since", async () => {
    const h = harness();
    let socket = await connected(h);
    const got: number[] = [];
    const subscription = h.client.subscribe("room", (m) => got.push(m.seq), { rewind: 3 });
    await flush();
    const first = socket.last("subscribe");
    assert.deepEqual([first.rewind, first.since], [3, undefined]);
    for (const seq of [6, 7, 8]) socket.message("room", seq); // the rewound messages, then the ack
    socket.ack(first, { epoch: "e1", seq: 8, rewound: 3 });
    const result = await subscription;
    assert.deepEqual([result.epoch, result.seq], ["e1", 8]);
    socket.message("room", 9);
    assert.deepEqual(got, [6, 7, 8, 9]);
    socket.drop(1001);
    socket = await reopened(h);
    const resubscribe = socket.last("subscribe");
    assert.deepEqual([resubscribe.rewind, resubscribe.since, resubscribe.epoch], [undefined, 9, "e1"]);
  });

  it("sends rewind again only while nothing of the channel was seen", async () => {
    const h = harness();
    let socket = await connected(h);
    const got: number[] = [];
    void h.client.subscribe("room", (m) => got.push(m.seq), { rewind: 2 });
    await flush();
    socket.drop(1001); // lost before any rewound message or the ack: ask again
    socket = await reopened(h);
    assert.equal(socket.last("subscribe").rewind, 2);
    socket.message("room", 4); // a rewound message arrives, then the socket drops before the ack
    socket.drop(1001);
    socket = await reopened(h);
    const resume = socket.last("subscribe");
    assert.deepEqual([resume.rewind, resume.since], [undefined, 4]);
    assert.deepEqual(got, [4]);
  });

  it("refuses a rewind out of range, not an integer, or with since, before sending anything", async () => {
    const h = harness();
    const socket = await connected(h);
    const refusals: Array<[Record<string, number>, string]> = [
      [{ rewind: 101 }, "subscribe: rewind must be an integer from 0 to 100, got 101"],
      [{ rewind: -1 }, "subscribe: rewind must be an integer from 0 to 100, got -1"],
      [{ rewind: 2.5 }, "subscribe: rewind must be an integer from 0 to 100, got 2.5"],
      [{ rewind: 2, since: 1 }, "subscribe: rewind cannot be combined with since"],
    ];
    for (const [options, message] of refusals) {
      await assert.rejects(h.client.subscribe("room", () => {}, options), (error: unknown) => {
        return error instanceof TypeError && error.message === message;
      });
    }
    assert.deepEqual(socket.frames("subscribe"), []);
    assert.deepEqual(h.client.subscribedChannels, []);
  });

  // Found by the soak (make soak): with the server slow, every timed-out resubscribe was sent
  // again at once, on top of the one still queued, and the server never caught up.
  it("asks again after a backoff, not at once, when a resubscribe times out", async () => {
    const h = harness({ requestTimeoutMs: 1000, backoff: { baseMs: 400, capMs: 10_000 } });
    let socket = await connected(h);
    await subscribed(socket, () => h.client.subscribe("room", () => {}), { epoch: "e", seq: 1 });
    socket.drop(1001);
    socket = await reopened(h);
    assert.equal(socket.frames("subscribe").length, 1);
    await h.clock.advance(1000); // the resubscribe times out
    assert.equal(socket.frames("subscribe").length, 1, "not again at once");
    await h.clock.advance(199); // random 0.5 of the first ceiling (400 ms): 200 ms
    assert.equal(socket.frames("subscribe").length, 1);
    await h.clock.advance(1);
    assert.equal(socket.frames("subscribe").length, 2);
    await h.clock.advance(1000 + 599); // times out again: the ceiling doubles (800 ms), equal jitter: 600 ms
    assert.equal(socket.frames("subscribe").length, 2);
    await h.clock.advance(1);
    assert.equal(socket.frames("subscribe").length, 3);
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 1, recovered: true });
    await flush();
    assert.deepEqual(socket.frames("subscribe").map((f) => f.since), [1, 1, 1]);
  });

  it("raises `reset` when the resubscribe ack says recovered: false", async () => {
    const h = harness();
    let socket = await connected(h);
    const resets: unknown[] = [];
    h.client.on("reset", (event) => resets.push(event));
    const got: number[] = [];
    await subscribed(socket, () => h.client.subscribe("room", (m) => got.push(m.seq)), { epoch: "e1", seq: 3 });
    socket.drop();
    socket = await reopened(h);
    socket.ack(socket.last("subscribe"), { epoch: "e2", seq: 50, recovered: false });
    await flush();
    assert.deepEqual(resets, [{ channel: "room", epoch: "e2", seq: 50 }]);
    socket.message("room", 51);
    assert.deepEqual(got, [51]);
  });

  it("raises `reset` and keeps delivering when a live message shows a new epoch", async () => {
    const h = harness();
    const socket = await connected(h);
    const resets: unknown[] = [];
    h.client.on("reset", (event) => resets.push(event));
    const got: number[] = [];
    await subscribed(socket, () => h.client.subscribe("room", (m) => got.push(m.seq)), { epoch: "e1", seq: 3 });
    socket.receive({ type: "message", channel: "room", data: 4, seq: 4, epoch: "e1" });
    // The channel's history was reset: seq starts over under a new epoch. Not duplicates.
    socket.receive({ type: "message", channel: "room", data: 1, seq: 1, epoch: "e2" });
    socket.receive({ type: "message", channel: "room", data: 2, seq: 2, epoch: "e2" });
    assert.deepEqual(got, [4, 1, 2]);
    assert.deepEqual(resets, [{ channel: "room", epoch: "e2", seq: 1 }]);
    assert.equal(socket.frames("subscribe").length, 1, "no recovery asked for");
  });

  it("recovers a gap in live messages by resubscribing with since and epoch", async () => {
    const h = harness();
    const socket = await connected(h);
    const got: number[] = [];
    await subscribed(socket, () => h.client.subscribe("room", (m) => got.push(m.seq)), { epoch: "e1", seq: 1 });
    socket.message("room", 2);
    socket.message("room", 4); // 3 is missing
    socket.message("room", 5);
    const recovery = socket.frames("subscribe").slice(1);
    assert.equal(recovery.length, 1, "one recovery for one gap");
    assert.deepEqual({ since: recovery[0]!.since, epoch: recovery[0]!.epoch }, { since: 2, epoch: "e1" });
    assert.deepEqual(got, [2]);
    socket.message("room", 3); // the replay
    socket.message("room", 4);
    socket.ack(recovery[0]!, { epoch: "e1", seq: 5, recovered: true });
    socket.message("room", 6);
    assert.deepEqual(got, [2, 3, 4, 5, 6]);
  });

  it("stops delivering after unsubscribe and tells the server", async () => {
    const h = harness();
    const socket = await connected(h);
    const got: number[] = [];
    const sub = h.client.subscribe("room", (m) => got.push(m.seq));
    await flush();
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 0 });
    const subscription = await sub;
    socket.message("room", 1);
    const done = subscription.unsubscribe();
    assert.equal(socket.last("unsubscribe").channel, "room");
    socket.ack(socket.last("unsubscribe"));
    await done;
    socket.message("room", 2);
    assert.deepEqual(got, [1]);
    assert.deepEqual(h.client.subscribedChannels, []);
  });

  it("reports a resubscribe the server refuses after a reconnect, and forgets the channel", async () => {
    const h = harness();
    let socket = await connected(h);
    const errors: Array<[string, string | undefined]> = [];
    h.client.on("error", ({ error, channel }) => errors.push([error.code, channel]));
    await subscribed(socket, () => h.client.subscribe("room", () => {}), { epoch: "e", seq: 0 });
    socket.drop();
    socket = await reopened(h);
    socket.receive({ type: "error", id: socket.last("subscribe").id, code: "forbidden", message: "no" });
    await flush();
    assert.deepEqual(errors, [["forbidden", "room"]]);
    assert.deepEqual(h.client.subscribedChannels, []);
  });

  it("reports an error frame without an id as an `error` event", async () => {
    const h = harness();
    const socket = await connected(h);
    const errors: string[] = [];
    h.client.on("error", ({ error }) => errors.push(`${error.code}: ${error.message}`));
    socket.receive({ type: "error", code: "bad_request", message: "not JSON" });
    socket.onmessage?.({ data: "not json at all" }); // ignored, not a crash
    assert.deepEqual(errors, ["bad_request: not JSON"]);
    assert.equal(h.client.state, "open");
  });

  it("shares one server subscription between handlers of a channel", async () => {
    const h = harness();
    const socket = await connected(h);
    const got: string[] = [];
    await subscribed(socket, () => h.client.subscribe("room", () => got.push("a")), { epoch: "e", seq: 0 });
    const second = await h.client.subscribe("room", () => got.push("b"));
    assert.equal(second.seq, 0);
    assert.equal(socket.frames("subscribe").length, 1);
    socket.message("room", 1);
    assert.deepEqual(got, ["a", "b"]);
    await second.unsubscribe();
    assert.equal(socket.frames("unsubscribe").length, 0, "a handler is left");
  });
});

describe("keep-alive and the 2-hour cap", () => {
  it("pings every 5 minutes and replaces a socket whose pong does not come", async () => {
    const h = harness();
    const socket = await connected(h);
    await h.clock.advance(5 * 60_000);
    assert.equal(socket.frames("ping").length, 2);
    socket.pong();
    await h.clock.advance(5 * 60_000);
    assert.equal(socket.frames("ping").length, 3);
    await h.clock.advance(10_000); // no pong
    assert.deepEqual(socket.closeCalls, [{ code: 4000, reason: "no pong" }]);
    assert.equal(h.client.state, "reconnecting");
  });

  it("swaps to a new socket before the 2-hour cap without losing or repeating a message", async () => {
    const h = harness({ pingIntervalMs: 60 * 60_000 });
    const old = await connected(h, "old");
    const got: number[] = [];
    await subscribed(old, () => h.client.subscribe("room", (m) => got.push(m.seq)), { epoch: "e1", seq: 0 });
    old.message("room", 1);
    await h.clock.advance(60 * 60_000);
    old.pong("old");
    await h.clock.advance(50 * 60_000); // 1 h 50 min: a planned reconnect
    assert.equal(h.sockets.length, 2);
    const publish = h.client.publish("room", "in flight");
    const fresh = h.socket();
    fresh.accept();
    fresh.pong("new");
    assert.equal(h.client.state, "open");
    assert.equal(h.client.connectionId, "old", "the old socket stays current until resubscribed");
    const resubscribe = fresh.last("subscribe");
    assert.deepEqual([resubscribe.since, resubscribe.epoch], [1, "e1"]);
    // Both sockets carry message 2; the new one replays it too.
    old.message("room", 2);
    fresh.message("room", 2);
    fresh.ack(resubscribe, { epoch: "e1", seq: 2, recovered: true });
    await flush();
    assert.equal(h.client.connectionId, "new");
    assert.deepEqual(old.closeCalls, [], "the old socket waits for its outstanding publish");
    old.ack(old.last("publish"), { seq: 3 });
    assert.equal((await publish).seq, 3);
    assert.deepEqual(old.closeCalls, [{ code: 1000, reason: "replaced" }]);
    fresh.message("room", 3);
    assert.deepEqual(got, [1, 2, 3]);
    assert.deepEqual(h.states, ["connecting", "open"], "no visible reconnect");
    assert.deepEqual(h.tokens, ["token-1", "token-2"]);
  });

  it("keeps the old socket when the planned replacement fails, and tries again", async () => {
    const h = harness({ maxConnectionAgeMs: 1_000, pingIntervalMs: 60 * 60_000, platform: { random: () => 1 } });
    const old = await connected(h);
    await h.clock.advance(1_000);
    h.socket().drop(1006);
    assert.equal(h.client.state, "open");
    assert.equal(old.readyState, 1);
    await h.clock.advance(500);
    assert.equal(h.sockets.length, 3);
  });
});

describe("browser signals", () => {
  it("waits while offline and reconnects at once when back online", async () => {
    const h = harness({ platform: { random: () => 1 } });
    const socket = await connected(h);
    h.browser.online = false;
    socket.drop();
    assert.equal(h.client.state, "offline");
    assert.deepEqual(h.clock.pending(), []);
    await h.clock.advance(10 * 60_000);
    assert.equal(h.sockets.length, 1);
    h.browser.emit("online");
    await flush();
    assert.equal(h.sockets.length, 2);
    assert.equal(h.client.state, "reconnecting");
    h.socket().accept();
    assert.equal(h.client.state, "open");
  });

  it("cancels a scheduled retry on `offline` and skips the backoff on `online`", async () => {
    const h = harness({ platform: { random: () => 1 } });
    const socket = await connected(h);
    socket.drop();
    await h.clock.advance(500);
    h.socket().drop();
    assert.deepEqual(h.clock.pending(), [1000]);
    h.browser.emit("offline");
    assert.equal(h.client.state, "offline");
    assert.deepEqual(h.clock.pending(), []);
    h.browser.emit("online");
    await flush();
    assert.equal(h.sockets.length, 3);
  });

  it("starts offline when the browser is offline at connect()", async () => {
    const h = harness();
    h.browser.online = false;
    h.client.connect();
    await flush();
    assert.equal(h.client.state, "offline");
    assert.equal(h.sockets.length, 0);
    h.browser.emit("online");
    await flush();
    assert.equal(h.sockets.length, 1);
  });

  it("checks the socket when the tab becomes visible and replaces it if no pong comes", async () => {
    const h = harness();
    const socket = await connected(h);
    h.browser.emit("visible");
    assert.equal(socket.frames("ping").length, 2);
    socket.pong();
    await h.clock.advance(10_000);
    assert.equal(h.client.state, "open", "answered: the socket is kept");
    h.browser.emit("visible");
    await h.clock.advance(10_000);
    assert.equal(h.client.state, "reconnecting");
    assert.deepEqual(socket.closeCalls, [{ code: 4000, reason: "no pong" }]);
  });

  it("reconnects at once when the tab becomes visible during a backoff", async () => {
    const h = harness({ platform: { random: () => 1 } });
    const socket = await connected(h);
    socket.drop();
    assert.deepEqual(h.clock.pending(), [500]);
    h.browser.emit("visible");
    await flush();
    assert.equal(h.sockets.length, 2);
  });
});
