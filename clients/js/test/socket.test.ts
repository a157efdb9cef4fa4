/**
 * The client against a real WebSocket server (the `ws` package) on localhost: the subprotocol
 * hand-off of the token, real frames both ways, and a server-side drop followed by a reconnect
 * with a fresh token and a recovering resubscribe. Real timers, short settings.
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { WebSocket, WebSocketServer, type WebSocket as ServerSocket } from "ws";
import { createClient, type SocketConstructor } from "../src/index.js";

interface Seen {
  protocols: string[];
  url: string;
  frames: Array<Record<string, unknown>>;
  socket: ServerSocket;
}

let server: WebSocketServer;
let url: string;
const connections: Seen[] = [];
let seq = 0;

/** A tiny Switchboard: acks subscribes (replaying from `since`), echoes publishes as messages. */
function serve(seen: Seen): void {
  const history: Array<Record<string, unknown>> = [];
  seen.socket.on("message", (raw) => {
    const frame = JSON.parse(String(raw)) as Record<string, unknown>;
    seen.frames.push(frame);
    const reply = (value: unknown) => seen.socket.send(JSON.stringify(value));
    if (frame.action === "ping") reply({ type: "pong", id: frame.id, connectionId: `c${connections.length}` });
    if (frame.action === "subscribe") {
      if (typeof frame.since === "number") {
        for (let n = (frame.since as number) + 1; n <= seq; n += 1) {
          reply({ type: "message", channel: frame.channel, data: { n }, seq: n, from: "server", ts: n });
        }
        reply({ type: "ack", id: frame.id, epoch: "e1", seq, recovered: true });
      } else {
        reply({ type: "ack", id: frame.id, epoch: "e1", seq });
      }
    }
    if (frame.action === "publish") {
      seq += 1;
      history.push(frame);
      reply({ type: "ack", id: frame.id, seq });
      reply({ type: "message", channel: frame.channel, data: frame.data, seq, from: "me", ts: Date.now() });
    }
  });
}

before(async () => {
  server = new WebSocketServer({
    port: 0,
    host: "127.0.0.1",
    handleProtocols: (protocols) => (protocols.has("switchboard") ? "switchboard" : false),
  });
  server.on("connection", (socket, request) => {
    const protocols = String(request.headers["sec-websocket-protocol"] ?? "").split(/,\s*/).filter(Boolean);
    const seen: Seen = { protocols, url: request.url ?? "", frames: [], socket };
    connections.push(seen);
    serve(seen);
  });
  await new Promise<void>((resolve) => server.once("listening", resolve));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const client of server.clients) client.terminate();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function until(condition: () => boolean, what: string, ms = 3000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("against a real WebSocket server", () => {
  it("connects with the token as a subprotocol, publishes, receives, reconnects and recovers", async () => {
    let tokens = 0;
    const client = createClient({
      url,
      getToken: async () => `tok${++tokens}`,
      backoff: { baseMs: 20, capMs: 50 },
      platform: { WebSocket: WebSocket as unknown as SocketConstructor, isOnline: () => true, listen: () => () => {} },
    });
    const got: number[] = [];
    try {
      client.connect();
      await client.subscribe("room:1", (message) => got.push(message.seq));
      assert.equal(client.state, "open");
      assert.deepEqual(connections[0]!.protocols, ["switchboard", "tok1"]);
      await until(() => client.connectionId === "c1", "the connection id");

      const ack = await client.publish("room:1", { text: "hi" });
      assert.equal(ack.seq, 1);
      await until(() => got.length === 1, "the echo");

      // Two messages are published that this socket never carries, then the server drops it.
      const states: string[] = [];
      client.on("state", ({ state }) => states.push(state));
      seq += 2;
      connections[0]!.socket.terminate();
      await until(() => states.join() === "reconnecting,open", "the reconnect");
      assert.deepEqual(connections[1]!.protocols, ["switchboard", "tok2"]);
      await until(() => got.length === 3, "the replay");
      const resubscribe = connections[1]!.frames.find((frame) => frame.action === "subscribe");
      assert.deepEqual({ since: resubscribe?.since, epoch: resubscribe?.epoch }, { since: 1, epoch: "e1" });
      assert.deepEqual(got, [1, 2, 3]);
    } finally {
      client.close();
    }
  });

  it("sends the token as a query parameter with tokenTransport: query", async () => {
    const client = createClient({
      url,
      tokenTransport: "query",
      getToken: () => "a.b-c_d",
      platform: { WebSocket: WebSocket as unknown as SocketConstructor, isOnline: () => true, listen: () => () => {} },
    });
    const before = connections.length;
    try {
      client.connect();
      await until(() => client.state === "open", "the connection");
      const seen = connections[before]!;
      assert.equal(seen.url, "/?token=a.b-c_d");
      assert.deepEqual(seen.protocols, []);
    } finally {
      client.close();
    }
  });
});

// Found by the soak (make soak), where hundreds of clients run on the `ws` package: closing a
// socket that had not opened yet (close(), or the connect timeout) detached its handlers first,
// and `ws` then emitted its "closed before the connection was established" error with no
// listener, which ends a Node process.
describe("the ws package: closing a socket that is still connecting", () => {
  it("does not leave an error event without a listener", async () => {
    const { createServer } = await import("node:net");
    const sockets: Array<import("node:net").Socket> = [];
    const silent = createServer((socket) => sockets.push(socket)); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as AddressInfo).port;
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.prependListener("uncaughtException", onUncaught);
    try {
      for (const how of ["close", "connect timeout"] as const) {
        const client = createClient({
          url: `ws://127.0.0.1:${port}`,
          getToken: () => "token",
          connectTimeoutMs: how === "close" ? 10_000 : 50,
          backoff: { baseMs: 10_000, capMs: 10_000 },
          platform: { WebSocket: WebSocket as unknown as SocketConstructor },
        });
        const before = sockets.length;
        client.connect();
        while (sockets.length === before) await new Promise((resolve) => setTimeout(resolve, 5));
        if (how === "close") client.close();
        else while (client.state !== "reconnecting") await new Promise((resolve) => setTimeout(resolve, 5));
        await new Promise((resolve) => setTimeout(resolve, 50)); // ws emits its error on a later tick
        assert.deepEqual(uncaught, [], how);
        assert.equal(client.state, how === "close" ? "closed" : "reconnecting");
        client.close();
      }
    } finally {
      process.removeListener("uncaughtException", onUncaught);
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});
