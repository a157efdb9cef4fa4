import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Transport, type TransportHandlers } from "../src/transport.js";
import { FakeClock, fakePlatform, type FakeSocket } from "./fakes.js";

function recording(): { handlers: TransportHandlers; heard: string[] } {
  const heard: string[] = [];
  return {
    heard,
    handlers: {
      open: (t) => heard.push(`open ${t.serial}`),
      frame: (t, data) => heard.push(`frame ${t.serial} ${String(data)}`),
      close: (t, code, reason) => heard.push(`close ${t.serial} ${code} ${reason}`),
    },
  };
}

describe("transport", () => {
  it("offers the token as the second subprotocol by default, or as ?token= (escaped)", () => {
    const sockets: FakeSocket[] = [];
    const platform = fakePlatform(new FakeClock(), sockets);
    const { handlers } = recording();
    new Transport(1, platform, "wss://h/prod", "a.b/c", undefined, handlers);
    new Transport(2, platform, "wss://h/prod", "a.b/c+", "query", handlers);
    new Transport(3, platform, "wss://h/prod?x=1", "t", "query", handlers);
    assert.deepEqual(
      sockets.map((s) => [s.url, s.protocols]),
      [
        ["wss://h/prod", ["switchboard", "a.b/c"]],
        ["wss://h/prod?token=a.b%2Fc%2B", undefined],
        ["wss://h/prod?x=1&token=t", undefined],
      ],
    );
  });

  it("forwards open, frames and close (1006 when the event has no code) with itself", () => {
    const sockets: FakeSocket[] = [];
    const { handlers, heard } = recording();
    new Transport(7, fakePlatform(new FakeClock(), sockets), "wss://h", "t", undefined, handlers);
    const socket = sockets[0]!;
    socket.accept();
    socket.onmessage?.({ data: "hello" });
    socket.onclose?.({} as { code: number; reason: string });
    assert.deepEqual(heard, ["open 7", "frame 7 hello", "close 7 1006 "]);
  });

  it("runs its timers until they are cleared, and close() clears them and detaches", async () => {
    const clock = new FakeClock();
    const sockets: FakeSocket[] = [];
    const { handlers, heard } = recording();
    const transport = new Transport(1, fakePlatform(clock, sockets), "wss://h", "t", undefined, handlers);
    const fired: number[] = [];
    transport.after(10, () => fired.push(10));
    transport.after(20, () => fired.push(20));
    await clock.advance(15);
    assert.deepEqual(fired, [10]);
    transport.retiring = true;
    transport.close(1000, "bye");
    assert.equal(transport.retiring, false);
    assert.deepEqual(clock.pending(), []);
    await clock.advance(100);
    assert.deepEqual(fired, [10]);
    const socket = sockets[0]!;
    assert.deepEqual(socket.closeCalls, [{ code: 1000, reason: "bye" }]);
    assert.equal(socket.onopen, null);
    assert.equal(socket.onclose, null);
    assert.equal(typeof socket.onerror, "function", "onerror stays a no-op for ws");
    transport.close(1000, "again"); // an already closed socket is fine
    assert.deepEqual(heard, [], "a detached socket reports nothing");
  });

  it("send() throws when the socket is not open", () => {
    const sockets: FakeSocket[] = [];
    const transport = new Transport(1, fakePlatform(new FakeClock(), sockets), "wss://h", "t", undefined, recording().handlers);
    assert.throws(() => transport.send("{}"), /not open/);
    sockets[0]!.accept();
    transport.send('{"action":"ping","id":"1"}');
    assert.deepEqual(sockets[0]!.sent, [{ action: "ping", id: "1" }]);
  });
});
