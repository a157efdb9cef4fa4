/**
 * @switchboard/server against the local gateway (the real handlers): a token from createToken is
 * accepted by $connect, and what publish, publishBatch and sendToUser send reaches the socket.
 * Needs the repository's .venv (`make setup`); the gateway runs on a free port of 127.0.0.1.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { createSwitchboard, ForbiddenError, UnauthorizedError, type Switchboard } from "../src/index.js";

const SECRET = "server-package-e2e-secret-0123456789";

interface GatewayHandle {
  wsUrl: string;
  httpUrl: string;
  stop(): Promise<void>;
  tail(): string;
}

// The browser tests' gateway launcher (plain JS), from build/test/ or test/.
const launcher = new URL("../../../browser-tests/lib/gateway.js", import.meta.url).href;
const { Gateway } = (await import(launcher)) as {
  Gateway: { start(options: { env: Record<string, string> }): Promise<GatewayHandle> };
};

/** A socket with a queue of the frames it received. */
class Peer {
  private readonly frames: Array<Record<string, unknown>> = [];
  private waiting: (() => void) | null = null;

  constructor(readonly socket: WebSocket) {
    socket.on("message", (data) => {
      this.frames.push(JSON.parse(String(data)) as Record<string, unknown>);
      this.waiting?.();
    });
  }

  static open(url: string, token: string): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, ["switchboard", token]);
      const peer = new Peer(socket);
      socket.once("open", () => resolve(peer));
      socket.once("unexpected-response", (_request, response) => reject(Object.assign(new Error(`handshake ${response.statusCode}`), { status: response.statusCode })));
      socket.once("error", reject);
    });
  }

  /** The next frame (waiting for it to arrive). */
  async next(): Promise<Record<string, unknown>> {
    while (this.frames.length === 0) {
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = null;
    }
    return this.frames.shift()!;
  }

  send(frame: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(frame));
  }
}

describe("@switchboard/server through the local gateway", () => {
  let gateway: GatewayHandle;
  let sb: Switchboard;
  before(async () => {
    gateway = await Gateway.start({ env: { WS_SECRET: SECRET } });
    sb = createSwitchboard({ secret: SECRET, url: gateway.httpUrl, serverName: "backend" });
  });
  after(async () => {
    await gateway?.stop();
  });

  it("connects with a createToken token and receives publish, publishBatch and sendToUser", async () => {
    const token = await sb.createToken({ userId: "alice", channels: ["room:*", "user:alice"], singleUse: true });
    const peer = await Peer.open(gateway.wsUrl, token);
    assert.equal(peer.socket.protocol, "switchboard");
    peer.send({ action: "subscribe", channel: "room:e2e", id: "s1" });
    assert.deepEqual(await peer.next(), { type: "ack", id: "s1", channel: "room:e2e", epoch: null, seq: 0 });

    const first = await sb.publish("room:e2e", { text: "hi" }, { idempotencyKey: "e2e-1" });
    assert.equal(first.seq, 1);
    assert.equal(first.delivered, 1);
    const message = await peer.next();
    assert.deepEqual({ ...message, ts: typeof message.ts }, {
      type: "message", channel: "room:e2e", data: { text: "hi" }, seq: 1, epoch: first.epoch, from: "backend", ts: "number",
    });
    // A retry with the same key publishes nothing: the same seq comes back, and the next
    // message the socket gets is the batch's (seq 2), not a copy.
    assert.equal((await sb.publish("room:e2e", { text: "hi" }, { idempotencyKey: "e2e-1" })).seq, 1);
    const batch = await sb.publishBatch([
      { channel: "room:e2e", data: 2 },
      { channel: "room:other", data: "elsewhere" },
    ]);
    assert.deepEqual(batch.map((r) => [r.channel, r.seq, r.delivered]), [["room:e2e", 2, 1], ["room:other", 1, 0]]);
    const second = await peer.next();
    assert.deepEqual([second.type, second.seq, second.data], ["message", 2, 2]);

    const direct = await sb.sendToUser("alice", { note: "for you" });
    assert.deepEqual(direct, { user: "alice", delivered: 1, pruned: 0, failed: 0 });
    const frame = await peer.next();
    assert.deepEqual([frame.type, frame.data, frame.from], ["direct", { note: "for you" }, "backend"]);

    const page = await sb.history<{ text?: string } | number>("room:e2e", { limit: 10 });
    assert.deepEqual([page.channel, page.epoch, page.seq, page.next], ["room:e2e", first.epoch, 2, null]);
    assert.deepEqual(page.messages.map((m) => [m.seq, m.data]), [[1, { text: "hi" }], [2, 2]]);
    const position = await sb.history("room:e2e", { limit: 0 });
    assert.deepEqual([position.seq, position.messages], [2, []]);

    // The single-use token cannot open a second socket.
    await assert.rejects(Peer.open(gateway.wsUrl, token), { status: 403 });
    peer.socket.close();
  });

  it("is refused at $connect with 401 when signed with another secret", async () => {
    const other = createSwitchboard({ secret: "not-the-gateway-secret-0123456789", url: gateway.httpUrl });
    await assert.rejects(Peer.open(gateway.wsUrl, await other.createToken({ userId: "mallory" })), { status: 401 });
    await assert.rejects(other.publish("room:e2e", 1), (error: unknown) => error instanceof UnauthorizedError && error.status === 401);
  });

  it("gets 403 from the API with a credential that lacks scope publish", async () => {
    const browserToken = await sb.createToken({ userId: "alice" });
    const withBrowserToken = createSwitchboard({ url: gateway.httpUrl, getPublishToken: () => browserToken });
    await assert.rejects(withBrowserToken.publish("room:e2e", 1), (error: unknown) => {
      assert.ok(error instanceof ForbiddenError);
      assert.equal(error.code, "forbidden");
      return true;
    });
  });
});
