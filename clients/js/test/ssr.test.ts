/**
 * Importing the client and rendering the React bindings on the server must not touch a browser
 * API: every such global is replaced by a trap that records who read it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createElement, type ReactNode } from "react";
import { renderToString } from "react-dom/server";

const BROWSER_GLOBALS = ["window", "document", "WebSocket", "fetch", "navigator", "location", "localStorage"];
const touched: string[] = [];
const saved = new Map<string, PropertyDescriptor | undefined>();

before(() => {
  for (const name of BROWSER_GLOBALS) {
    saved.set(name, Object.getOwnPropertyDescriptor(globalThis, name));
    Object.defineProperty(globalThis, name, {
      configurable: true,
      get() {
        // Only reads from this package count (React itself may probe for a DOM).
        if (/\/build\/src\//.test(new Error().stack ?? "")) touched.push(name);
        return undefined;
      },
    });
  }
});

after(() => {
  for (const [name, descriptor] of saved) {
    if (descriptor) Object.defineProperty(globalThis, name, descriptor);
    else delete (globalThis as Record<string, unknown>)[name];
  }
});

describe("server rendering", () => {
  it("imports and creates a client without touching a browser API", async () => {
    const { createClient } = await import("../src/index.js");
    const client = createClient({ url: "wss://example.test", authUrl: "/api/ws-token" });
    assert.equal(client.state, "idle");
    const pending = client.subscribe("room", () => {});
    const publish = client.publish("room", 1);
    assert.equal(client.queuedPublishes, 1);
    client.close();
    await assert.rejects(pending, { code: "closed" });
    await assert.rejects(publish, { code: "closed" });
    assert.deepEqual(touched, []);
  });

  it("renders the provider and the hooks to a string without connecting", async () => {
    const react = await import("../src/react.js");
    let rendered = 0;
    function Chat(): ReactNode {
      const state = react.useConnectionState();
      const status = react.useChannel("room:lobby", () => {});
      const publish = react.usePublish();
      rendered += 1;
      assert.equal(typeof publish, "function");
      return createElement("p", null, `state=${state} subscribed=${status.subscribed}`);
    }
    const html = renderToString(
      createElement(react.RealtimeProvider, { url: "wss://example.test", authUrl: "/t" }, createElement(Chat)),
    );
    assert.equal(html, "<p>state=idle subscribed=false</p>");
    assert.equal(rendered, 1);
    assert.deepEqual(touched, []);
  });

  it("explains a hook used outside the provider", async () => {
    const react = await import("../src/react.js");
    function Orphan(): ReactNode {
      react.useConnectionState();
      return null;
    }
    assert.throws(() => renderToString(createElement(Orphan)), /RealtimeProvider/);
  });
});
