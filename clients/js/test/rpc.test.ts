import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RpcError, ServerError, TimeoutError } from "../src/index.js";
import { connected, harness } from "./fakes.js";

describe("rpc", () => {
  it("sends method and params and resolves with the ack's result", async () => {
    const h = harness();
    const socket = await connected(h);
    const call = h.client.rpc<{ n: number }>("double", { n: 21 });
    const frame = socket.last("rpc");
    assert.deepEqual({ ...frame, id: undefined }, { action: "rpc", method: "double", params: { n: 21 }, id: undefined });
    socket.ack(frame, { result: { n: 42 } });
    assert.deepEqual(await call, { n: 42 });
  });

  it("leaves params out when not given, and resolves a null result", async () => {
    const h = harness();
    const socket = await connected(h);
    const call = h.client.rpc("ping-app");
    const frame = socket.last("rpc");
    assert.equal("params" in frame, false);
    socket.ack(frame, { result: null });
    assert.equal(await call, null);
  });

  it("rejects with RpcError telling unknown_method from a hook's own refusal", async () => {
    const h = harness();
    const socket = await connected(h);
    const unknown = h.client.rpc("nope");
    const refused = h.client.rpc("recent", []);
    const [a, b] = socket.frames("rpc");
    socket.receive({ type: "error", id: a!.id, code: "unknown_method", message: "no rpc method 'nope'" });
    socket.receive({ type: "error", id: b!.id, code: "bad_request", message: "params" });
    const first = await unknown.then(() => undefined, (error: unknown) => error);
    assert.ok(first instanceof RpcError && first instanceof ServerError);
    assert.deepEqual([first.code, first.method, first.unknownMethod], ["unknown_method", "nope", true]);
    const second = await refused.then(() => undefined, (error: unknown) => error);
    assert.ok(second instanceof RpcError);
    assert.deepEqual([second.code, second.method, second.unknownMethod], ["bad_request", "recent", false]);
  });

  it("passes a timeout through as TimeoutError", async () => {
    const h = harness({ requestTimeoutMs: 1000 });
    await connected(h);
    const settled = h.client.rpc("slow").then(() => undefined, (error: unknown) => error);
    await h.clock.advance(1000);
    assert.ok((await settled) instanceof TimeoutError);
  });
});
