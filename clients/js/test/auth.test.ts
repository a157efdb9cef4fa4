import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConnectionLostError, ServerError } from "../src/index.js";
import { connected, flush, harness, reopened, subscribed, type SentFrame } from "./fakes.js";

describe("refreshAuth", () => {
  it("sends a fresh token from getToken and resolves with the ack's expiresAt", async () => {
    const h = harness();
    const socket = await connected(h);
    const refreshed = h.client.refreshAuth();
    await flush();
    const frame = socket.last("auth") as SentFrame & { token?: string };
    assert.deepEqual({ ...frame, id: undefined }, { action: "auth", token: "token-2", id: undefined });
    assert.deepEqual(h.tokens, ["token-1", "token-2"]);
    socket.ack(frame, { expiresAt: 1_900_000_000 });
    assert.deepEqual(await refreshed, { expiresAt: 1_900_000_000 });
  });

  it("rejects with the server's unauthorized, and with UnauthorizedError when getToken refuses", async () => {
    let refuse = false;
    const h = harness({
      getToken: async () => {
        if (refuse) throw Object.assign(new Error("signed out"), { status: 401 });
        return "t";
      },
    });
    const socket = await connected(h);
    const refused = h.client.refreshAuth();
    await flush();
    socket.receive({ type: "error", id: socket.last("auth").id, code: "unauthorized", message: "another user" });
    await assert.rejects(refused, (error: unknown) => error instanceof ServerError && error.code === "unauthorized");
    refuse = true;
    await assert.rejects(h.client.refreshAuth(), (error: unknown) => (error as { status?: number }).status === 401);
    assert.equal(h.client.state, "open"); // a refused refresh leaves the connection as it was
  });

  it("rejects with ConnectionLostError when not connected", async () => {
    const h = harness();
    await assert.rejects(h.client.refreshAuth(), ConnectionLostError);
  });
});

describe("unsubscribed", () => {
  it("ends the channel: an event, no more messages to its handlers, no resubscribe after a reconnect", async () => {
    const h = harness();
    let socket = await connected(h);
    const got: number[] = [];
    await subscribed(socket, () => h.client.subscribe("room:a", (m) => got.push(m.seq)), { epoch: "e", seq: 0 });
    await subscribed(socket, () => h.client.subscribe("room:b", () => {}), { epoch: "e", seq: 0 });
    const events: unknown[] = [];
    h.client.on("unsubscribed", (event) => events.push(event));
    socket.message("room:a", 1);
    socket.receive({ type: "unsubscribed", channel: "room:a", reason: "forbidden" });
    socket.message("room:a", 2);
    assert.deepEqual(got, [1]);
    assert.deepEqual(events, [{ channel: "room:a", reason: "forbidden" }]);
    socket.receive({ type: "unsubscribed", channel: "room:zzz", reason: "forbidden" }); // not ours: ignored
    assert.equal(events.length, 1);
    socket.drop();
    socket = await reopened(h);
    socket.pong();
    await flush();
    assert.deepEqual(socket.frames("subscribe").map((f) => f.channel), ["room:b"]);
  });
});

