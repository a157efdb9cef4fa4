/** The React bindings, rendered with react-test-renderer against a client wired to fakes. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createElement, StrictMode, useState, type ReactNode } from "react";
import { act, create, type ReactTestRenderer } from "react-test-renderer";
import {
  RealtimeProvider,
  useChannel,
  useConnectionState,
  usePublish,
} from "../src/react.js";
import type { ChannelMessage } from "../src/index.js";
import { connected, flush, harness } from "./fakes.js";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

// react-test-renderer announces its deprecation on first use; keep the test output readable.
const consoleError = console.error;
console.error = (...args: unknown[]) => {
  if (String(args[0]).includes("react-test-renderer is deprecated")) return;
  consoleError(...args);
};

interface Probe {
  state?: string;
  subscribed?: boolean;
  error?: string | null;
  received: unknown[];
  publish?: (channel: string, data: unknown) => Promise<unknown>;
}

function Room({ channel, probe, tag }: { channel: string | null; probe: Probe; tag: string }): ReactNode {
  probe.state = useConnectionState();
  probe.publish = usePublish();
  const status = useChannel(channel, (message: ChannelMessage) => probe.received.push([tag, message.seq]));
  probe.subscribed = status.subscribed;
  probe.error = status.error?.message ?? null;
  return createElement("p", null, `${probe.state} ${status.subscribed}`);
}

async function settle(): Promise<void> {
  await act(async () => {
    await flush();
  });
}

describe("React bindings", () => {
  it("connects in an effect, subscribes while mounted and unsubscribes on unmount", async () => {
    const h = harness();
    const probe: Probe = { received: [] };
    let renderer!: ReactTestRenderer;
    await act(async () => {
      renderer = create(
        createElement(RealtimeProvider, { client: h.client }, createElement(Room, { channel: "room", probe, tag: "a" })),
      );
    });
    assert.equal(h.client.state, "connecting");
    const socket = await connected(h);
    await settle();
    assert.equal(probe.state, "open");
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 0 });
    await settle();
    assert.equal(probe.subscribed, true);
    assert.deepEqual(renderer.toJSON(), { type: "p", props: {}, children: ["open true"] });
    await act(async () => socket.message("room", 1));
    assert.deepEqual(probe.received, [["a", 1]]);

    const published = probe.publish!("room", { text: "hi" });
    socket.ack(socket.last("publish"), { seq: 2 });
    assert.deepEqual(await published, { channel: "room", seq: 2, ack: { type: "ack", id: socket.last("publish").id, seq: 2 } });

    await act(async () => renderer.unmount());
    assert.equal(socket.last("unsubscribe").channel, "room");
    assert.equal(h.client.state, "open", "a client passed in is not closed by the provider");
  });

  it("follows a channel change: unsubscribes the old one, subscribes the new one", async () => {
    const h = harness();
    const probe: Probe = { received: [] };
    let setChannel!: (channel: string) => void;
    function Switcher(): ReactNode {
      const [channel, set] = useState("one");
      setChannel = set;
      return createElement(Room, { channel, probe, tag: channel });
    }
    await act(async () => {
      create(createElement(RealtimeProvider, { client: h.client }, createElement(Switcher)));
    });
    const socket = await connected(h);
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 0 });
    await settle();
    await act(async () => setChannel("two"));
    assert.deepEqual(socket.frames("unsubscribe").map((f) => f.channel), ["one"]);
    assert.deepEqual(socket.frames("subscribe").map((f) => f.channel), ["one", "two"]);
    socket.message("one", 1); // no longer subscribed: ignored
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 5 });
    await settle();
    await act(async () => socket.message("two", 6));
    assert.deepEqual(probe.received, [["two", 6]]);
  });

  it("survives StrictMode's double effects with one socket and one subscription", async () => {
    const h = harness();
    const probe: Probe = { received: [] };
    let renderer!: ReactTestRenderer;
    await act(async () => {
      renderer = create(
        createElement(
          StrictMode,
          null,
          createElement(RealtimeProvider, h.options, createElement(Room, { channel: "room", probe, tag: "s" })),
        ),
      );
    });
    await settle();
    assert.equal(h.sockets.length, 1, "the first, cancelled connect opened no socket");
    const socket = h.socket();
    socket.accept();
    await settle();
    assert.deepEqual(socket.frames("subscribe").map((f) => f.channel), ["room"]);
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 0 });
    await settle();
    assert.equal(probe.state, "open");
    assert.equal(probe.subscribed, true);
    await act(async () => socket.message("room", 1));
    assert.deepEqual(probe.received, [["s", 1]]);
    await act(async () => renderer.unmount());
    assert.deepEqual(socket.closeCalls, [{ code: 1000, reason: "client closed" }], "its own client is closed");
  });

  it("reports a refused subscription", async () => {
    const h = harness();
    const probe: Probe = { received: [] };
    await act(async () => {
      create(createElement(RealtimeProvider, { client: h.client }, createElement(Room, { channel: "secret", probe, tag: "x" })));
    });
    const socket = await connected(h);
    socket.receive({ type: "error", id: socket.last("subscribe").id, code: "forbidden", message: "not allowed" });
    await settle();
    assert.equal(probe.subscribed, false);
    assert.equal(probe.error, "not allowed");
  });
});
