// The demo page and the built client in headless Chromium, against the local gateway running
// the real application (template.yaml): what a browser user of `make dev` sees.
//
// One gateway (free port on 127.0.0.1) and one browser serve the whole file; each test opens its
// own pages on its own channel. A failing test leaves screenshots, console logs, the demo's
// state and the gateway's output in clients/browser-tests/test-results/<test>/.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { browserTest, launchBrowser, recordSockets, Session } from "../lib/browser.js";
import { Gateway } from "../lib/gateway.js";
import { startTokenServer } from "../lib/token-server.js";

let gateway;
let browser;
const run = Date.now().toString(36);
const channelFor = (name) => `room:${name}-${run}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `condition()` (or the promise it returns) holds, checked every 20 ms; fails after `timeoutMs`. */
async function until(condition, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

before(async () => {
  [gateway, browser] = await Promise.all([Gateway.start(), launchBrowser()]);
});

after(async () => {
  await Promise.all([browser?.close(), gateway?.stop()]);
  if (process.env.BROWSER_TESTS_GATEWAY_LOG && gateway) {
    writeFileSync(process.env.BROWSER_TESTS_GATEWAY_LOG, `${gateway.lines.join("\n")}\n`);
  }
});

/** The gateway's output since line `from` holds no traceback or error-level function log. */
function assertGatewayHealthy(from) {
  const bad = gateway.lines.slice(from).filter((line) => /Traceback|Error:|Exception\b| ERROR /.test(line));
  assert.deepEqual(bad, [], "the gateway's output shows errors");
}

const options = {
  browser: () => browser,
  artifacts: () => ({ "gateway.log": `${gateway?.lines.join("\n") ?? ""}\n` }),
};

// Poll on a timer: requestAnimationFrame, waitForFunction's default, is throttled in pages that
// are not in front, and several pages share one window here.
const POLL = { polling: 50 };

/** Open the demo page as `user` on `channel` (autoconnect), with more URL parameters if given. */
async function openDemo(page, user, channel, extra = {}) {
  const query = new URLSearchParams({ user, channel, autoconnect: "1", ...extra });
  await page.goto(`${gateway.httpUrl}/?${query}`);
}

/** Wait until the page's client is open and its subscribe to `channel` was acked. */
async function waitSubscribed(page, channel) {
  await page.waitForFunction(
    (name) => window.demo?.client?.state === "open" && window.demo.subscriptions.some((s) => s.channel === name),
    channel,
    POLL,
  );
}

/** Wait until the page delivered at least `count` messages. */
async function waitMessages(page, count) {
  await page.waitForFunction((n) => window.demo.messages.length >= n, count, POLL);
}

/** Publish `data` from the page through its client; resolves with the server's ack frame. */
function publishFrom(page, data) {
  return page.evaluate((payload) => window.demo.publish(payload).then((result) => result.ack), data);
}

/** `[seq, data, from]` of every message the page delivered. */
function delivered(page) {
  return page.evaluate(() => window.demo.messages.map((m) => [m.seq, m.data, m.from]));
}

browserTest(
  "two pages exchange messages through the local gateway",
  async (session) => {
    const logFrom = gateway.lines.length;
    const channel = channelFor("chat");
    const alice = await session.newPage("alice");
    const bob = await session.newPage("bob");
    const aliceSockets = recordSockets(alice);
    await Promise.all([openDemo(alice, "alice", channel), openDemo(bob, "bob", channel)]);
    await Promise.all([waitSubscribed(alice, channel), waitSubscribed(bob, channel)]);

    // Alice types and clicks, as a user would; Bob answers the same way. (The page in front:
    // clicks wait for animation frames, which background pages get rarely.)
    await alice.bringToFront();
    await alice.fill("#message", "hello bob");
    await alice.click("#publish");
    await waitMessages(bob, 1);
    await bob.bringToFront();
    await bob.fill("#message", "hi alice");
    await bob.click("#publish");
    await Promise.all([waitMessages(alice, 2), waitMessages(bob, 2)]);

    const expected = [
      [1, { text: "hello bob" }, "alice"],
      [2, { text: "hi alice" }, "bob"],
    ];
    assert.deepEqual(await delivered(alice), expected);
    assert.deepEqual(await delivered(bob), expected);
    // The page shows them, and the state.
    for (const page of [alice, bob]) {
      await page.locator("#log li", { hasText: "alice: hello bob" }).waitFor();
      await page.locator("#log li", { hasText: "bob: hi alice" }).waitFor();
      assert.equal(await page.textContent("#state"), "open");
      assert.match(await page.textContent("#connection-id"), /^[A-Za-z0-9_=-]{8,}$/);
    }
    // One socket each, token in the subprotocol (not in the URL), nothing else on the wire.
    assert.equal(aliceSockets.length, 1);
    assert.doesNotMatch(aliceSockets[0].url, /token=/);
    assert.equal(aliceSockets[0].received.filter((frame) => frame.type === "error").length, 0);
    const states = await alice.evaluate(() => window.demo.states);
    assert.deepEqual(states, ["connecting", "open"]);
    assert.deepEqual(session.pageErrors(), []);
    for (const page of [alice, bob]) assert.deepEqual(await page.evaluate(() => window.demo.errors), []);
    assertGatewayHealthy(logFrom);
  },
  options,
);

browserTest(
  "DELETE @connections/{id} makes a page reconnect with a fresh token and resubscribe, losing and repeating nothing",
  async (session) => {
    const logFrom = gateway.lines.length;
    const channel = channelFor("reconnect");
    const alice = await session.newPage("alice");
    const bob = await session.newPage("bob");
    const sockets = recordSockets(alice);

    // Alice's token requests go through the test, which can hold one back; and the tokens her
    // handshakes offered (Sec-WebSocket-Protocol: switchboard, TOKEN), from the DevTools protocol.
    const tokens = [];
    let tokenRequests = 0;
    let gate = null;
    await alice.route(
      (url) => url.pathname === "/dev/token",
      async (route) => {
        tokenRequests += 1;
        if (gate) await gate;
        const response = await route.fetch();
        tokens.push((await response.json()).token);
        await route.fulfill({ response });
      },
    );
    const handshakes = [];
    const cdp = await session.context.newCDPSession(alice);
    await cdp.send("Network.enable");
    cdp.on("Network.webSocketWillSendHandshakeRequest", ({ request }) => {
      const name = Object.keys(request.headers).find((key) => key.toLowerCase() === "sec-websocket-protocol");
      handshakes.push(name ? request.headers[name] : null);
    });

    // Bob starts the channel (so it has an epoch), then Alice joins after seq 1.
    await openDemo(bob, "bob", channel);
    await waitSubscribed(bob, channel);
    const acks = [await publishFrom(bob, { n: 1 })];
    await openDemo(alice, "alice", channel);
    await waitSubscribed(alice, channel);
    for (const n of [2, 3, 4]) acks.push(await publishFrom(bob, { n }));
    await waitMessages(alice, 3);
    const firstId = await alice.evaluate(() => window.demo.client.connectionId);
    assert.ok(firstId, "alice knows her connection id");
    assert.equal(tokenRequests, 1);

    // Drop Alice's connection from the server side; hold her next token request until Bob has
    // published 5-7, so that those can only reach her through the resubscribe's replay.
    let release;
    gate = new Promise((resolve) => {
      release = resolve;
    });
    const deleted = await gateway.management("DELETE", firstId);
    assert.equal(deleted.status, 204);
    await alice.waitForFunction(() => window.demo.client.state === "reconnecting", undefined, POLL);
    await until(() => tokenRequests === 2, "alice's second token request");
    for (const n of [5, 6, 7]) acks.push(await publishFrom(bob, { n }));
    // Tokens carry `iat` in whole seconds: let a second pass so the fresh token differs.
    const firstIat = JSON.parse(Buffer.from(tokens[0].split(".")[1], "base64url")).iat;
    while (Math.floor(Date.now() / 1000) <= firstIat) await sleep(50);
    gate = null;
    release();

    await alice.waitForFunction(
      (old) => window.demo.client.state === "open" && window.demo.client.connectionId && window.demo.client.connectionId !== old,
      firstId,
      POLL,
    );
    // The state is `open` before the resubscribe is acked: wait for that ack on the wire, so that
    // 8-10 are published to a subscribed Alice (earlier, they would come in the replay).
    await until(() => sockets[1]?.received.some((f) => f.type === "ack" && "recovered" in f), "the resubscribe's ack");
    await waitMessages(alice, 6);
    for (const n of [8, 9, 10]) acks.push(await publishFrom(bob, { n }));
    await Promise.all([waitMessages(alice, 9), waitMessages(bob, 10)]);
    await sleep(300); // room for a late duplicate to show up

    // Every message once, in order: Alice from seq 2 (she joined after 1), Bob all of them.
    const all = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.deepEqual(await delivered(alice), all.slice(1).map((n) => [n, { n }, "bob"]));
    assert.deepEqual(await delivered(bob), all.map((n) => [n, { n }, "bob"]));
    assert.deepEqual(acks.map((ack) => ack.seq), all);
    // Published while Alice was away: Bob only; after her return: both, once each.
    assert.deepEqual(acks.slice(4, 7).map((ack) => [ack.delivered, ack.failed]), [[1, 0], [1, 0], [1, 0]]);
    assert.deepEqual(acks.slice(7).map((ack) => [ack.delivered, ack.pruned, ack.failed]), [[2, 0, 0], [2, 0, 0], [2, 0, 0]]);

    // A fresh token for the new socket, offered in the subprotocol.
    assert.equal(tokens.length, 2);
    assert.notEqual(tokens[0], tokens[1]);
    assert.deepEqual(handshakes, tokens.map((token) => `switchboard, ${token}`));

    // On the wire: the old socket closed; the new one resubscribed from seq 4 of the same epoch,
    // got 5-7 replayed before a `recovered: true` ack, then 8-10 live; no message frame twice.
    assert.equal(sockets.length, 2);
    assert.equal(sockets[0].closed, true);
    const messageSeqs = (socket) => socket.received.filter((f) => f.type === "message").map((f) => f.seq);
    assert.deepEqual(messageSeqs(sockets[0]), [2, 3, 4]);
    const epoch = acks[0].epoch;
    assert.ok(epoch, "the publish ack carries the channel's epoch");
    const firstSubscribe = sockets[0].sent.find((f) => f.action === "subscribe");
    const firstAck = sockets[0].received.find((f) => f.type === "ack" && f.id === firstSubscribe.id);
    assert.deepEqual([firstAck.epoch, firstAck.seq], [epoch, 1]);
    const resubscribe = sockets[1].sent.find((f) => f.action === "subscribe");
    assert.deepEqual(
      { channel: resubscribe.channel, since: resubscribe.since, epoch: resubscribe.epoch },
      { channel, since: 4, epoch },
    );
    const replies = sockets[1].received.filter((f) => f.type === "message" || f.id === resubscribe.id);
    assert.deepEqual(
      replies.map((f) => (f.type === "message" ? f.seq : `${f.type} recovered=${f.recovered} epoch=${f.epoch}`)),
      [5, 6, 7, `ack recovered=true epoch=${epoch}`, 8, 9, 10],
    );
    assert.equal(sockets[1].received.filter((f) => f.type === "error").length, 0);

    // The app saw a reconnect but no reset; the server forgot the old connection.
    const demo = await alice.evaluate(() => ({ states: window.demo.states, resets: window.demo.resets, errors: window.demo.errors }));
    assert.deepEqual(demo.states, ["connecting", "open", "reconnecting", "open"]);
    assert.deepEqual(demo.resets, []);
    assert.deepEqual(demo.errors, []);
    const newId = await alice.evaluate(() => window.demo.client.connectionId);
    assert.equal((await gateway.management("GET", firstId)).status, 410);
    assert.equal((await gateway.management("GET", newId)).status, 200);
    assert.deepEqual(session.pageErrors(), []);
    assertGatewayHealthy(logFrom);
  },
  options,
);

browserTest(
  "a page whose token endpoint answers 401 (or 403) stops retrying in the unauthorized state",
  async (session) => {
    const tokenServer = await startTokenServer();
    try {
      const logFrom = gateway.lines.length;
      const channel = channelFor("refused");
      const pages = {};
      const opened = {};
      for (const [user, status] of [["carol", 401], ["dave", 403], ["erin", 500]]) {
        const page = await session.newPage(`${user}-${status}`);
        opened[status] = 0;
        page.on("websocket", () => {
          opened[status] += 1;
        });
        pages[status] = page;
        await openDemo(page, user, channel, { token_url: `${tokenServer.url}/${status}` });
      }
      for (const status of [401, 403]) {
        await pages[status].waitForFunction(() => window.demo.client.state === "unauthorized", undefined, POLL);
        await pages[status].locator('#state[data-state="unauthorized"]').waitFor();
      }
      const before = { 401: tokenServer.count(401), 403: tokenServer.count(403) };
      assert.deepEqual(before, { 401: 1, 403: 1 });

      await sleep(3_000);
      // Refused: not one more token request, no socket, still unauthorized.
      for (const status of [401, 403]) {
        assert.equal(tokenServer.count(status), 1, `token requests after a ${status}`);
        assert.equal(opened[status], 0, `sockets opened after a ${status}`);
        const state = await pages[status].evaluate(() => ({
          state: window.demo.client.state,
          states: window.demo.states,
          subscriptions: window.demo.subscriptions,
          messages: window.demo.messages,
        }));
        assert.deepEqual(state.states, ["connecting", "unauthorized"]);
        assert.equal(state.state, "unauthorized");
        assert.deepEqual([state.subscriptions, state.messages], [[], []]);
        const publish = await pages[status].evaluate(() =>
          window.demo.publish({ text: "x" }).then(
            () => "published",
            (error) => error.code,
          ),
        );
        assert.equal(publish, "unauthorized");
      }
      // By contrast a failing (500) token endpoint is retried with backoff.
      assert.ok(tokenServer.count(500) >= 2, `a 500 was retried (${tokenServer.count(500)} requests)`);
      assert.notEqual(await pages[500].evaluate(() => window.demo.client.state), "unauthorized");
      assert.equal(opened[500], 0);
      assert.deepEqual(session.pageErrors(), []);
      assertGatewayHealthy(logFrom);
    } finally {
      await tokenServer.close();
    }
  },
  options,
);

/** `[user, connections]` of every entry of the page's member list, sorted by user. */
function members(page) {
  return page.evaluate(() =>
    window.demo.members.map((m) => [m.user, m.connections]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

/** Wait until the page's member list holds exactly `users` (one entry each, any order). */
async function waitMembers(page, users) {
  await page.waitForFunction(
    (expected) => {
      const got = window.demo.members.map((m) => m.user).sort();
      return got.length === expected.length && got.every((user, i) => user === expected[i]);
    },
    [...users].sort(),
    POLL,
  );
}

/** What the page shows of the member list: `[[data-user, text], ...]` sorted, and the count. */
async function shownMembers(page) {
  const items = await page.$$eval("#members li", (lis) => lis.map((li) => [li.dataset.user, li.textContent]));
  items.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { items, count: await page.textContent("#members-count"), hidden: await page.locator("#presence").isHidden() };
}

browserTest(
  "presence: two users see each other, a second tab adds no entry, a closed page leaves",
  async (session) => {
    const logFrom = gateway.lines.length;
    const channel = `presence-${channelFor("members")}`;
    const alice = await session.newPage("alice");
    const bob = await session.newPage("bob");
    await Promise.all([openDemo(alice, "alice", channel), openDemo(bob, "bob", channel)]);
    await Promise.all([waitSubscribed(alice, channel), waitSubscribed(bob, channel)]);

    // Each page lists both users, one tab each, in its state and on screen.
    await Promise.all([waitMembers(alice, ["alice", "bob"]), waitMembers(bob, ["alice", "bob"])]);
    for (const page of [alice, bob]) {
      assert.deepEqual(await members(page), [["alice", 1], ["bob", 1]]);
      await page.waitForFunction(() => document.querySelectorAll("#members li").length === 2, undefined, POLL);
      assert.deepEqual(await shownMembers(page), {
        items: [["alice", "alice"], ["bob", "bob"]],
        count: "2",
        hidden: false,
      });
    }

    // A second tab of Alice: no second entry anywhere, and no second join. The new tab reads the
    // list after its subscribe: Alice with two connections, which it shows.
    const aliceJoinsSeenByBob = () => bob.evaluate(() => window.demo.presence.filter((e) => e.type === "join" && e.user === "alice").length);
    const joinsBefore = await aliceJoinsSeenByBob();
    const alice2 = await session.newPage("alice-tab2");
    await openDemo(alice2, "alice", channel);
    await waitSubscribed(alice2, channel);
    await alice2.waitForFunction(
      () => window.demo.members.some((m) => m.user === "alice" && m.connections === 2) && window.demo.members.length === 2,
      undefined,
      POLL,
    );
    assert.deepEqual(await members(alice2), [["alice", 2], ["bob", 1]]);
    await alice2.waitForFunction(() => document.querySelectorAll("#members li").length === 2, undefined, POLL);
    assert.deepEqual(await shownMembers(alice2), {
      items: [["alice", "alice (2 tabs)"], ["bob", "bob"]],
      count: "2",
      hidden: false,
    });
    // The server's member list, asked from Bob's page, agrees.
    const serverList = await bob.evaluate(
      (name) => window.demo.client.presence(name).then((list) => list.map((m) => [m.user, m.connections]).sort()),
      channel,
    );
    assert.deepEqual(serverList, [["alice", 2], ["bob", 1]]);
    await sleep(300); // room for a (wrong) second join to arrive
    assert.equal(await aliceJoinsSeenByBob(), joinsBefore, "a second tab sends no join");
    for (const page of [alice, bob]) {
      assert.deepEqual((await members(page)).map(([user]) => user), ["alice", "bob"]);
      assert.equal(await page.locator('#members li[data-user="alice"]').count(), 1);
    }

    // Bob closes his page: a leave, and he is gone from both of Alice's tabs.
    await bob.close();
    await Promise.all([waitMembers(alice, ["alice"]), waitMembers(alice2, ["alice"])]);
    for (const page of [alice, alice2]) {
      const leaves = await page.evaluate(() => window.demo.presence.filter((e) => e.type === "leave"));
      assert.deepEqual(leaves.map((e) => [e.type, e.channel, e.user]), [["leave", channel, "bob"]]);
      await page.waitForFunction(() => !document.querySelector('#members li[data-user="bob"]'), undefined, POLL);
      assert.equal(await page.textContent("#members-count"), "1");
    }

    // Alice closes her second tab: she still has one connection, so nobody hears her leave.
    await alice2.close();
    const remaining = async () =>
      alice.evaluate((name) => window.demo.client.presence(name).then((list) => list.map((m) => [m.user, m.connections])), channel);
    await until(
      async () => JSON.stringify(await remaining()) === JSON.stringify([["alice", 1]]),
      "alice's second tab to leave the member list",
    );
    assert.deepEqual(await members(alice), [["alice", 1]]);
    assert.deepEqual(
      (await alice.evaluate(() => window.demo.presence.filter((e) => e.type === "leave"))).map((e) => e.user),
      ["bob"],
    );

    assert.deepEqual(session.pageErrors(), []);
    assert.deepEqual(await alice.evaluate(() => window.demo.errors), []);
    assertGatewayHealthy(logFrom);
  },
  options,
);

browserTest(
  "direct messages: POST /users/{user}/messages with a publish token reaches each of the user's pages once",
  async (session) => {
    const logFrom = gateway.lines.length;
    const channel = channelFor("direct");
    const carol = await session.newPage("carol");
    const carol2 = await session.newPage("carol-tab2");
    const dave = await session.newPage("dave");
    const carolSockets = recordSockets(carol);
    await Promise.all([openDemo(carol, "carol", channel), openDemo(carol2, "carol", channel), openDemo(dave, "dave", channel)]);
    await Promise.all([waitSubscribed(carol, channel), waitSubscribed(carol2, channel), waitSubscribed(dave, channel)]);

    // The server credential: a token from the gateway's /dev/token (signed HS256 with its
    // WS_SECRET) carrying "scope": "publish", as a backend would hold.
    const token = async (query) => {
      const response = await fetch(`${gateway.httpUrl}/dev/token?${new URLSearchParams(query)}`);
      assert.equal(response.status, 200);
      return (await response.json()).token;
    };
    const serverToken = await token({ user: "backend", scope: "publish" });
    const [header, claims] = serverToken.split(".").slice(0, 2).map((part) => JSON.parse(Buffer.from(part, "base64url")));
    assert.equal(header.alg, "HS256");
    assert.deepEqual([claims.sub, claims.scope], ["backend", "publish"]);
    const send = (user, body, bearer = serverToken) =>
      fetch(`${gateway.httpUrl}/users/${encodeURIComponent(user)}/messages`, {
        method: "POST",
        headers: { Authorization: `Bearer ${bearer}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });

    // A browser token (no scope) may not send one; nothing arrives.
    const refused = await send("carol", { data: { text: "not from a backend" } }, await token({ user: "mallory" }));
    assert.equal(refused.status, 403);

    const data = { text: "your order shipped", order: 42 };
    const response = await send("carol", { data });
    assert.equal(response.status, 200);
    const answer = await response.json();
    assert.deepEqual(
      { user: answer.user, delivered: answer.delivered, pruned: answer.pruned, failed: answer.failed },
      { user: "carol", delivered: 2, pruned: 0, failed: 0 },
    );

    await Promise.all([carol, carol2].map((page) => page.waitForFunction(() => window.demo.direct.length >= 1, undefined, POLL)));
    await sleep(300); // room for a late duplicate to show up
    for (const page of [carol, carol2]) {
      const direct = await page.evaluate(() => window.demo.direct);
      assert.equal(direct.length, 1, "the direct message arrived once");
      assert.deepEqual([direct[0].data, direct[0].from], [data, "backend"]);
      assert.equal(typeof direct[0].ts, "number");
      // The page shows it once, and it is no channel message.
      const shown = page.locator("#log li", { hasText: `direct from backend: ${JSON.stringify(data)}` });
      await shown.first().waitFor();
      assert.equal(await shown.count(), 1);
      assert.deepEqual(await page.evaluate(() => window.demo.messages), []);
    }
    // Dave, on the same channel, got nothing.
    assert.deepEqual(await dave.evaluate(() => window.demo.direct), []);
    assert.equal(await dave.locator("#log li", { hasText: "direct from" }).count(), 0);
    // On Carol's wire: one direct frame (and not the refused one).
    assert.equal(carolSockets.length, 1);
    const directFrames = carolSockets[0].received.filter((frame) => frame.type === "direct");
    assert.deepEqual(directFrames.map((frame) => [frame.data, frame.from]), [[data, "backend"]]);

    assert.deepEqual(session.pageErrors(), []);
    for (const page of [carol, carol2, dave]) assert.deepEqual(await page.evaluate(() => window.demo.errors), []);
    assertGatewayHealthy(logFrom);
  },
  options,
);

browserTest(
  "a failing test leaves a screenshot, the console log and the demo's state of each page",
  async (session) => {
    // What browserTest does when a test fails, into a temporary directory instead of test-results/.
    const page = await session.newPage("dora");
    await openDemo(page, "dora", channelFor("artifacts"));
    await waitSubscribed(page, channelFor("artifacts"));
    await page.evaluate(() => console.warn("a line for the log"));
    const failed = new Session(session.context, "a failed test");
    failed.pages = session.pages;
    const directory = mkdtempSync(join(tmpdir(), "switchboard-artifacts-"));
    try {
      await failed.saveArtifacts(new Error("boom"), { "gateway.log": "gateway output\n" }, directory);
      const png = readFileSync(join(directory, "dora.png"));
      assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]); // a PNG
      assert.ok(png.length > 2_000, `a real screenshot (${png.length} bytes)`);
      const log = readFileSync(join(directory, "dora.console.log"), "utf8");
      assert.match(log, /console\.warning: a line for the log/);
      assert.match(log, /ws > \{"action":"subscribe"/);
      const demo = JSON.parse(readFileSync(join(directory, "dora.demo.json"), "utf8"));
      assert.deepEqual([demo.user, demo.state], ["dora", "open"]);
      assert.match(readFileSync(join(directory, "error.txt"), "utf8"), /^Error: boom/);
      assert.equal(readFileSync(join(directory, "gateway.log"), "utf8"), "gateway output\n");
      assert.match(session.resultsDirectory, /\/clients\/browser-tests\/test-results\/a-failing-test-leaves-a-screenshot-the-console-log-/);
      assert.ok(!existsSync(session.resultsDirectory), "nothing saved for a passing test");
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  },
  options,
);
