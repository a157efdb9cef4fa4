/** The React bindings, rendered with react-test-renderer against a client wired to fakes. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createElement, StrictMode, useState, type ReactNode } from "react";
import { act, create, type ReactTestRenderer } from "react-test-renderer";
import {
  RealtimeProvider,
  useChannel,
  useConnectionError,
  useConnectionState,
  useDirectMessages,
  usePresence,
  usePublish,
  type PresenceState,
} from "../src/react.js";
import type { ChannelMessage, DirectMessage } from "../src/index.js";
import { connected, flush, harness, reopened, retry, type FakeSocket, type Harness } from "./fakes.js";

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

  it("reports a subscription the server ended (unsubscribed) as not subscribed, with its reason", async () => {
    const h = harness();
    const probe: Probe = { received: [] };
    await act(async () => {
      create(createElement(RealtimeProvider, { client: h.client }, createElement(Room, { channel: "room:vip", probe, tag: "v" })));
    });
    const socket = await connected(h);
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 0 });
    await settle();
    assert.equal(probe.subscribed, true);
    await act(async () => socket.receive({ type: "unsubscribed", channel: "room:vip", reason: "forbidden" }));
    await settle();
    assert.equal(probe.subscribed, false);
    assert.equal(probe.error, "the server ended the subscription of room:vip");
    await act(async () => socket.message("room:vip", 1));
    assert.deepEqual(probe.received, []);
  });

  it("is not subscribed while disconnected, and again once the resubscribe is acknowledged", async () => {
    const h = harness();
    const probe: Probe = { received: [] };
    let renderer!: ReactTestRenderer;
    await act(async () => {
      renderer = create(createElement(RealtimeProvider, { client: h.client }, createElement(Room, { channel: "room", probe, tag: "a" })));
    });
    const socket = await connected(h);
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 0 });
    await settle();
    assert.deepEqual(renderer.toJSON(), { type: "p", props: {}, children: ["open true"] });
    await act(async () => socket.drop(1006));
    assert.deepEqual(renderer.toJSON(), { type: "p", props: {}, children: ["reconnecting false"] });
    const next = await reopened(h);
    await settle();
    assert.deepEqual(renderer.toJSON(), { type: "p", props: {}, children: ["open false"] }, "open, not yet resubscribed");
    await act(async () => next.ack(next.last("subscribe"), { epoch: "e", seq: 0, recovered: true }));
    assert.deepEqual(renderer.toJSON(), { type: "p", props: {}, children: ["open true"] });
  });
});

function Problem({ seen }: { seen: Array<string | null> }): ReactNode {
  const error = useConnectionError();
  seen.push(error ? `${error.code}: ${error.message}` : null);
  return null;
}

describe("useConnectionError", () => {
  it("shows why connecting fails and clears once a socket opens", async () => {
    const seen: Array<string | null> = [];
    let fetches = 0;
    const h = harness({ authUrl: "/api/ws-token", platform: { random: () => 0 } }, async () =>
      ++fetches === 1
        ? { status: 500, ok: false, json: async () => ({ error: "WS_SECRET is not set on the server" }) }
        : { status: 200, ok: true, json: async () => ({ token: "t" }) },
    );
    await act(async () => {
      create(createElement(RealtimeProvider, { client: h.client }, createElement(Problem, { seen })));
    });
    await settle();
    assert.equal(seen.at(-1), "token_failed: the token endpoint answered 500: WS_SECRET is not set on the server");
    await act(async () => retry(h));
    await act(async () => h.socket().drop(1006));
    assert.match(seen.at(-1)!, /^handshake_failed: the connection closed before it opened \(1006\)/);
    await act(async () => reopened(h).then(() => undefined));
    await settle();
    assert.equal(seen.at(-1), null);
    assert.equal(seen[0], null, "nothing to show before the first attempt");
  });
});

/** What the last render of `<Members>` saw. */
interface MembersProbe {
  last?: PresenceState;
}

function Members({ channel, probe }: { channel: string | null; probe: MembersProbe }): ReactNode {
  const presence = usePresence(channel);
  probe.last = presence;
  return createElement("ul", null, presence.members.map((m) => m.user).join(","));
}

/** Mount `<Members>` on `channel` under the harness's client; returns the open socket. */
async function mountMembers(
  h: Harness,
  channel: string,
  probe: MembersProbe,
): Promise<{ socket: FakeSocket }> {
  await act(async () => {
    create(createElement(RealtimeProvider, { client: h.client }, createElement(Members, { channel, probe })));
  });
  const socket = await connected(h);
  await settle();
  return { socket };
}

const members = (probe: { last?: PresenceState }): unknown => probe.last?.members;

describe("useChannel from a server-rendered position", () => {
  it("sends since and epoch with the first subscribe and delivers what came after the render", async () => {
    const h = harness();
    const got: number[] = [];
    function Feed(): ReactNode {
      useChannel("room", (message: ChannelMessage) => got.push(message.seq), { since: 12, epoch: "e1" });
      return null;
    }
    await act(async () => {
      create(createElement(RealtimeProvider, { client: h.client }, createElement(Feed)));
    });
    const socket = await connected(h);
    const frame = socket.last("subscribe");
    assert.deepEqual([frame.since, frame.epoch], [12, "e1"]);
    await act(async () => {
      socket.message("room", 13);
      socket.ack(frame, { epoch: "e1", seq: 13, recovered: true });
    });
    assert.deepEqual(got, [13]);
  });
});

describe("useChannel with rewind", () => {
  it("opens with the last messages, then live ones, and resumes with since after a reconnect", async () => {
    const h = harness();
    const got: number[] = [];
    function Chat(): ReactNode {
      useChannel("room", (message: ChannelMessage) => got.push(message.seq), { rewind: 20 });
      return null;
    }
    await act(async () => {
      create(createElement(RealtimeProvider, { client: h.client }, createElement(Chat)));
    });
    let socket = await connected(h);
    const frame = socket.last("subscribe");
    assert.deepEqual([frame.rewind, frame.since], [20, undefined]);
    await act(async () => {
      socket.message("room", 4);
      socket.message("room", 5);
      socket.ack(frame, { epoch: "e1", seq: 5, rewound: 2 });
      socket.message("room", 6);
    });
    assert.deepEqual(got, [4, 5, 6]);
    socket.drop(1001);
    socket = await reopened(h);
    const resume = socket.last("subscribe");
    assert.deepEqual([resume.rewind, resume.since, resume.epoch], [undefined, 6, "e1"]);
  });
});

describe("usePresence", () => {
  it("reads the members after the subscribe ack, then follows join and leave", async () => {
    const h = harness();
    const probe: MembersProbe = {};
    const { socket } = await mountMembers(h, "presence-room", probe);
    assert.equal(probe.last?.status, "loading");
    assert.deepEqual(socket.frames("presence"), [], "no member list before the subscription is confirmed");
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 0 });
    await settle();
    const read = socket.frames("presence");
    assert.deepEqual(read.map((f) => f.channel), ["presence-room"]);
    socket.ack(read[0]!, { channel: "presence-room", members: [{ user: "alice", data: { name: "Alice" }, connections: 2 }] });
    await settle();
    assert.equal(probe.last?.status, "ready");
    assert.deepEqual(members(probe), [{ user: "alice", data: { name: "Alice" }, connections: 2 }]);

    await act(async () => socket.receive({ type: "join", channel: "presence-room", user: "bob", data: { name: "Bob" } }));
    assert.deepEqual(members(probe), [
      { user: "alice", data: { name: "Alice" }, connections: 2 },
      { user: "bob", data: { name: "Bob" }, connections: 1 },
    ]);
    await act(async () => socket.receive({ type: "join", channel: "presence-room", user: "alice", data: { name: "Alice B." } }));
    assert.deepEqual(members(probe), [
      { user: "alice", data: { name: "Alice B." }, connections: 2 },
      { user: "bob", data: { name: "Bob" }, connections: 1 },
    ], "a second join of a user updates it in place");
    await act(async () => socket.receive({ type: "leave", channel: "presence-room", user: "alice" }));
    assert.deepEqual(members(probe), [{ user: "bob", data: { name: "Bob" }, connections: 1 }]);
    assert.equal(socket.frames("presence").length, 1);
  });

  it("applies the joins and leaves heard while the member list is being read on top of it", async () => {
    const h = harness();
    const probe: MembersProbe = {};
    const { socket } = await mountMembers(h, "presence-room", probe);
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 0 });
    await settle();
    await act(async () => {
      socket.receive({ type: "join", channel: "presence-room", user: "carol" });
      socket.receive({ type: "leave", channel: "presence-room", user: "alice" });
    });
    socket.ack(socket.last("presence"), { members: [{ user: "alice", connections: 1 }] }); // read before both
    await settle();
    assert.deepEqual(members(probe), [{ user: "carol", connections: 1 }]);
  });

  it("reads the members again after a reconnect, once", async () => {
    const h = harness();
    const probe: MembersProbe = {};
    let { socket } = await mountMembers(h, "presence-room", probe);
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 0 });
    await settle();
    socket.ack(socket.last("presence"), { members: [{ user: "alice", connections: 1 }] });
    await settle();
    await act(async () => socket.drop());
    await act(async () => retry(h));
    socket = h.socket();
    await act(async () => socket.accept());
    assert.deepEqual(socket.frames("presence"), [], "not before the resubscribe is confirmed");
    socket.ack(socket.last("subscribe"), { epoch: "e2", seq: 0, recovered: false }); // a reset too
    await settle();
    assert.equal(socket.frames("presence").length, 1, "one read for the ack and its reset");
    socket.ack(socket.last("presence"), { members: [{ user: "bob", connections: 1 }] });
    await settle();
    assert.deepEqual(members(probe), [{ user: "bob", connections: 1 }]);
    assert.equal(probe.last?.status, "ready");
  });

  it("unsubscribes on unmount and on a channel change", async () => {
    const h = harness();
    const probe: MembersProbe = {};
    let setChannel!: (channel: string | null) => void;
    function Switcher(): ReactNode {
      const [channel, set] = useState<string | null>("presence-one");
      setChannel = set;
      return createElement(Members, { channel, probe });
    }
    let renderer!: ReactTestRenderer;
    await act(async () => {
      renderer = create(createElement(RealtimeProvider, { client: h.client }, createElement(Switcher)));
    });
    const socket = await connected(h);
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 0 });
    await settle();
    socket.ack(socket.last("presence"), { members: [{ user: "alice", connections: 1 }] });
    await settle();
    await act(async () => setChannel("presence-two"));
    assert.deepEqual(socket.frames("unsubscribe").map((f) => f.channel), ["presence-one"]);
    assert.deepEqual(probe.last, { members: [], status: "loading", error: null });
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 0 });
    await settle();
    assert.equal(socket.last("presence").channel, "presence-two");
    await act(async () => setChannel(null));
    assert.deepEqual(probe.last, { members: [], status: "idle", error: null });
    await act(async () => renderer.unmount());
    assert.deepEqual(socket.frames("unsubscribe").map((f) => f.channel), ["presence-one", "presence-two"]);
    assert.deepEqual(h.client.subscribedChannels, []);
  });

  it("survives StrictMode's double effects with one subscription and one read", async () => {
    const h = harness();
    const probe: MembersProbe = {};
    await act(async () => {
      create(
        createElement(
          StrictMode,
          null,
          createElement(RealtimeProvider, { client: h.client }, createElement(Members, { channel: "presence-room", probe })),
        ),
      );
    });
    const socket = await connected(h);
    await settle();
    assert.deepEqual(socket.frames("subscribe").map((f) => f.channel), ["presence-room"]);
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 0 });
    await settle();
    assert.equal(socket.frames("presence").length, 1);
    socket.ack(socket.last("presence"), { members: [{ user: "alice", connections: 1 }] });
    await settle();
    await act(async () => socket.receive({ type: "join", channel: "presence-room", user: "bob" }));
    assert.deepEqual(members(probe), [{ user: "alice", connections: 1 }, { user: "bob", connections: 1 }]);
  });

  it("reports a member list the server refuses and still follows join and leave", async () => {
    const h = harness();
    const probe: MembersProbe = {};
    const { socket } = await mountMembers(h, "presence-crowd", probe);
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 0 });
    await settle();
    socket.receive({ type: "error", id: socket.last("presence").id, code: "payload_too_large", message: "too many" });
    await settle();
    assert.equal(probe.last?.status, "error");
    assert.equal(probe.last?.error?.message, "too many");
    await act(async () => socket.receive({ type: "join", channel: "presence-crowd", user: "dan" }));
    assert.deepEqual(members(probe), [{ user: "dan", connections: 1 }]);
  });

  it("reuses a subscription another component already confirmed", async () => {
    const h = harness();
    const probe: MembersProbe = {};
    const socket = await connected(h);
    const first = h.client.subscribe("presence-room", () => undefined);
    await flush();
    socket.ack(socket.last("subscribe"), { epoch: "e", seq: 0 });
    await first;
    await act(async () => {
      create(createElement(RealtimeProvider, { client: h.client }, createElement(Members, { channel: "presence-room", probe })));
    });
    await settle();
    assert.equal(socket.frames("subscribe").length, 1);
    assert.equal(socket.frames("presence").length, 1);
  });
});

describe("useDirectMessages", () => {
  it("calls the latest callback with every direct message while mounted", async () => {
    const h = harness();
    const got: string[] = [];
    function Inbox({ tag }: { tag: string }): ReactNode {
      useDirectMessages((message: DirectMessage) => got.push(`${tag} ${String(message.data)} ${message.from}`));
      return null;
    }
    let renderer!: ReactTestRenderer;
    await act(async () => {
      renderer = create(createElement(RealtimeProvider, { client: h.client }, createElement(Inbox, { tag: "a" })));
    });
    const socket = await connected(h);
    socket.receive({ type: "direct", data: "one", from: "backend", ts: 1 });
    await act(async () => {
      renderer.update(createElement(RealtimeProvider, { client: h.client }, createElement(Inbox, { tag: "b" })));
    });
    socket.receive({ type: "direct", data: "two", from: "backend", ts: 2 });
    await act(async () => renderer.unmount());
    socket.receive({ type: "direct", data: "three", from: "backend", ts: 3 });
    assert.deepEqual(got, ["a one backend", "b two backend"]);
  });
});
