/** `useRpc`, rendered with react-test-renderer against a client wired to fakes. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createElement, StrictMode, useEffect, useRef, useState, type ReactNode } from "react";
import { act, create, type ReactTestRenderer } from "react-test-renderer";
import { RealtimeProvider, useRpc, type UseRpcResult } from "../src/react.js";
import { RpcError, TimeoutError } from "../src/index.js";
import { connected, flush, harness, type FakeSocket, type Harness } from "./fakes.js";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

// react-test-renderer announces its deprecation on first use; every other console.error is kept
// (a test fails on a React warning, e.g. an update after unmount or outside act).
const warnings: string[] = [];
const consoleError = console.error;
console.error = (...args: unknown[]) => {
  if (String(args[0]).includes("react-test-renderer is deprecated")) return;
  warnings.push(String(args[0]));
  consoleError(...args);
};

interface RpcProbe {
  last?: UseRpcResult<string, { n: number }>;
  renders: number;
}

/** What the probe saw last, without the functions. */
function shown(probe: RpcProbe): unknown {
  const { result, error, pending } = probe.last!;
  return { result, error: error?.message ?? null, pending };
}

function Caller({ method, probe }: { method: string; probe: RpcProbe }): ReactNode {
  probe.last = useRpc<string, { n: number }>(method);
  probe.renders += 1;
  return createElement("p", null, String(probe.last.result ?? "-"));
}

async function mount(h: Harness, probe: RpcProbe, method = "echo"): Promise<ReactTestRenderer> {
  let renderer!: ReactTestRenderer;
  await act(async () => {
    renderer = create(createElement(RealtimeProvider, { client: h.client }, createElement(Caller, { method, probe })));
  });
  return renderer;
}

/** Call through the probe inside act; the call's own promise (wrapped: an async function's
 * promise would adopt it). */
async function call(probe: RpcProbe, n: number): Promise<{ settled: Promise<string> }> {
  let settled!: Promise<string>;
  await act(async () => {
    settled = probe.last!.call({ n });
    await flush();
  });
  return { settled };
}

async function answer(socket: FakeSocket, index: number, reply: { result?: unknown; code?: string }): Promise<void> {
  const frame = socket.frames("rpc")[index]!;
  await act(async () => {
    if (reply.code) socket.receive({ type: "error", id: frame.id, code: reply.code, message: `${reply.code}!` });
    else socket.ack(frame, { result: reply.result });
    await flush();
  });
}

describe("useRpc", () => {
  it("sends the call, shows it pending, then its result; call is stable and returns the call's promise", async () => {
    const h = harness();
    const probe: RpcProbe = { renders: 0 };
    await mount(h, probe);
    assert.deepEqual(shown(probe), { result: undefined, error: null, pending: false });
    const stable = probe.last!.call;
    const socket = await connected(h);
    const { settled: promise } = await call(probe, 1);
    assert.deepEqual({ ...socket.last("rpc"), id: undefined }, { action: "rpc", method: "echo", params: { n: 1 }, id: undefined });
    assert.deepEqual(shown(probe), { result: undefined, error: null, pending: true });
    await answer(socket, 0, { result: "one" });
    assert.deepEqual(shown(probe), { result: "one", error: null, pending: false });
    assert.equal(await promise, "one");
    assert.equal(probe.last!.call, stable, "the same call function across renders");
    // a second call keeps the first result on show until it settles
    await call(probe, 2);
    assert.deepEqual(shown(probe), { result: "one", error: null, pending: true });
    await answer(socket, 1, { result: "two" });
    assert.deepEqual(shown(probe), { result: "two", error: null, pending: false });
  });

  it("waits for the connection like client.rpc: a call made while connecting is sent once open", async () => {
    const h = harness();
    const probe: RpcProbe = { renders: 0 };
    await mount(h, probe);
    const { settled: promise } = await call(probe, 7);
    assert.equal(probe.last!.pending, true);
    const socket = await connected(h);
    await act(async () => flush());
    await answer(socket, 0, { result: "seven" });
    assert.equal(await promise, "seven");
    assert.deepEqual(shown(probe), { result: "seven", error: null, pending: false });
  });

  it("ignores the result and the error of a call superseded by a newer one", async () => {
    const h = harness();
    const probe: RpcProbe = { renders: 0 };
    await mount(h, probe);
    const socket = await connected(h);
    const { settled: first } = await call(probe, 1);
    const { settled: second } = await call(probe, 2);
    await answer(socket, 1, { result: "second" });
    assert.deepEqual(shown(probe), { result: "second", error: null, pending: false });
    await answer(socket, 0, { result: "first" }); // late: superseded
    assert.deepEqual(shown(probe), { result: "second", error: null, pending: false });
    assert.equal(await first, "first", "the superseded call's own promise still settles");
    assert.equal(await second, "second");

    const { settled: third } = await call(probe, 3);
    await call(probe, 4);
    await answer(socket, 2, { code: "internal" }); // the older call fails while the newer is pending
    assert.deepEqual(shown(probe), { result: "second", error: null, pending: true });
    await assert.rejects(third, RpcError);
    await answer(socket, 3, { result: "fourth" });
    assert.deepEqual(shown(probe), { result: "fourth", error: null, pending: false });
  });

  it("shows the error (RpcError, TimeoutError) and clears it with the next call's result", async () => {
    const h = harness({ requestTimeoutMs: 1000 });
    const probe: RpcProbe = { renders: 0 };
    await mount(h, probe);
    const socket = await connected(h);
    const { settled: refused } = await call(probe, 1);
    await answer(socket, 0, { code: "unknown_method" });
    const error = probe.last!.error;
    assert.ok(error instanceof RpcError);
    assert.deepEqual([error.code, error.method, error.unknownMethod], ["unknown_method", "echo", true]);
    assert.deepEqual(shown(probe), { result: undefined, error: "unknown_method!", pending: false });
    await assert.rejects(refused, RpcError);

    await call(probe, 2);
    await act(async () => h.clock.advance(1000));
    assert.ok(probe.last!.error instanceof TimeoutError);
    assert.equal(probe.last!.pending, false);

    await call(probe, 3);
    assert.deepEqual(shown(probe), { result: undefined, error: null, pending: true });
    await answer(socket, 2, { result: "three" });
    assert.deepEqual(shown(probe), { result: "three", error: null, pending: false });
  });

  it("ignores a call that settles after unmount, and its promise still settles", async () => {
    const h = harness();
    const probe: RpcProbe = { renders: 0 };
    const renderer = await mount(h, probe);
    const socket = await connected(h);
    const { settled: promise } = await call(probe, 1);
    await act(async () => renderer.unmount());
    const renders = probe.renders;
    const before = warnings.length;
    await answer(socket, 0, { result: "late" });
    assert.equal(await promise, "late");
    assert.equal(probe.renders, renders);
    assert.deepEqual(warnings.slice(before), []);
  });

  it("starts idle after a method change and ignores the old method's call", async () => {
    const h = harness();
    const probe: RpcProbe = { renders: 0 };
    let setMethod!: (method: string) => void;
    function Switcher(): ReactNode {
      const [method, set] = useState("alpha");
      setMethod = set;
      return createElement(Caller, { method, probe });
    }
    await act(async () => {
      create(createElement(RealtimeProvider, { client: h.client }, createElement(Switcher)));
    });
    const socket = await connected(h);
    await call(probe, 1);
    const alpha = probe.last!.call;
    await act(async () => setMethod("beta"));
    assert.deepEqual(shown(probe), { result: undefined, error: null, pending: false });
    assert.notEqual(probe.last!.call, alpha);
    await answer(socket, 0, { result: "from alpha" });
    assert.deepEqual(shown(probe), { result: undefined, error: null, pending: false });
    await call(probe, 2);
    assert.equal((socket.last("rpc") as unknown as { method: string }).method, "beta");
    await answer(socket, 1, { result: "from beta" });
    assert.deepEqual(shown(probe), { result: "from beta", error: null, pending: false });
  });

  it("reset goes back to idle and ignores the call in flight", async () => {
    const h = harness();
    const probe: RpcProbe = { renders: 0 };
    await mount(h, probe);
    const socket = await connected(h);
    await call(probe, 1);
    await act(async () => probe.last!.reset());
    assert.deepEqual(shown(probe), { result: undefined, error: null, pending: false });
    await answer(socket, 0, { result: "too late" });
    assert.deepEqual(shown(probe), { result: undefined, error: null, pending: false });
  });

  it("survives StrictMode's double effects: a call made once in the first effect is shown", async () => {
    const h = harness();
    const seen: Array<string | undefined> = [];
    function Once(): ReactNode {
      const { call, result } = useRpc<string>("recent");
      const sent = useRef(false);
      useEffect(() => {
        if (sent.current) return; // kept across StrictMode's unmount and remount
        sent.current = true;
        void call({ channel: "room:a" });
      }, [call]);
      seen.push(result);
      return null;
    }
    await act(async () => {
      create(createElement(StrictMode, null, createElement(RealtimeProvider, { client: h.client }, createElement(Once))));
    });
    const socket = await connected(h);
    await act(async () => flush());
    assert.equal(socket.frames("rpc").length, 1);
    await answer(socket, 0, { result: "the messages" });
    assert.equal(seen.at(-1), "the messages");
  });
});
