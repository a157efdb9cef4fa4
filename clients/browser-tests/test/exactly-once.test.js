// Exactly-once publish in headless Chromium: the local gateway loses the first publish ack with
// its socket (FAULTS=ack_lost=1: the message went out, the publisher's socket dropped where its
// ack would have come), the page's client reconnects and resends the publish with the same
// idempotencyKey, and publish() resolves once, with the one seq every subscriber saw.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { browserTest, launchBrowser, recordSockets } from "../lib/browser.js";
import { Gateway } from "../lib/gateway.js";

let gateway;
let browser;
const channel = `room:once-${Date.now().toString(36)}`;
const POLL = { polling: 50 };

before(async () => {
  [gateway, browser] = await Promise.all([Gateway.start({ env: { FAULTS: "ack_lost=1" } }), launchBrowser()]);
});

after(async () => {
  await Promise.all([browser?.close(), gateway?.stop()]);
});

async function openDemo(page, user) {
  const query = new URLSearchParams({ user, channel, autoconnect: "1" });
  await page.goto(`${gateway.httpUrl}/?${query}`);
  await page.waitForFunction(
    (name) => window.demo?.client?.state === "open" && window.demo.subscriptions.some((s) => s.channel === name),
    channel,
    POLL,
  );
}

browserTest(
  "a publish whose ack is lost with its socket is resent after the reconnect and resolves once, with one seq",
  async (session) => {
    const alice = await session.newPage("alice");
    const bob = await session.newPage("bob");
    const sockets = recordSockets(alice);
    await openDemo(bob, "bob");
    await openDemo(alice, "alice");

    const ack = await alice.evaluate(() => window.demo.publish({ text: "once" }).then((result) => result.ack));
    await bob.waitForFunction(() => window.demo.messages.length >= 1, undefined, POLL);
    // room for a second copy to show up, if the resend had published again
    await alice.evaluate(() => window.demo.client.ping());
    await bob.evaluate(() => window.demo.client.ping());

    // One message, one seq: the resend was answered with the first publish's position.
    const seen = await bob.evaluate(() => window.demo.messages.map((m) => [m.seq, m.data]));
    assert.deepEqual(seen, [[ack.seq, { text: "once" }]]);
    assert.equal(ack.duplicate, true);
    assert.deepEqual(await alice.evaluate(() => window.demo.messages.map((m) => m.seq)), [ack.seq]);

    // On the wire: the first socket sent the publish and died without its ack; the second sent
    // the same frame (same key, new request id) and got the duplicate ack.
    assert.equal(sockets.length, 2);
    assert.equal(sockets[0].closed, true);
    const [first] = sockets[0].sent.filter((f) => f.action === "publish");
    const [again] = sockets[1].sent.filter((f) => f.action === "publish");
    assert.match(first.idempotencyKey, /^[0-9a-f-]{36}$/);
    assert.deepEqual({ ...again, id: undefined }, { ...first, id: undefined });
    assert.equal(sockets[0].received.some((f) => f.type === "ack" && f.id === first.id), false);
    const answer = sockets[1].received.find((f) => f.id === again.id);
    assert.deepEqual([answer.type, answer.seq, answer.duplicate], ["ack", ack.seq, true]);
    const demo = await alice.evaluate(() => ({ states: window.demo.states, errors: window.demo.errors }));
    assert.deepEqual(demo.states, ["connecting", "open", "reconnecting", "open"]);
    assert.deepEqual(demo.errors, []);
    assert.deepEqual(session.pageErrors(), []);
  },
  { browser: () => browser, artifacts: () => ({ "gateway.log": `${gateway?.lines.join("\n") ?? ""}\n` }) },
);
