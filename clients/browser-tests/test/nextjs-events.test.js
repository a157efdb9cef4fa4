// The Next.js example receives Switchboard's backend events from the local gateway, as the
// stack's webhook would deliver them: the gateway POSTs each event's EventBridge envelope to
// EVENTS_URL (the app's app/api/switchboard-events/route.ts) with the shared-secret header, and
// the page's online list changes when a second user connects and leaves.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { browserTest, launchBrowser } from "../lib/browser.js";
import { Gateway } from "../lib/gateway.js";
import { freePort, NextApp } from "../lib/next-app.js";

const SECRET = "nextjs-events-test-secret-0123456789";
const EVENTS_SECRET = "nextjs-events-webhook-secret-0123456789";

let browser;
let gateway;
let app;

before(async () => {
  const appPort = await freePort();
  const events = `http://127.0.0.1:${appPort}/api/switchboard-events`;
  [gateway, browser] = await Promise.all([
    Gateway.start({ env: { WS_SECRET: SECRET, EVENTS_URL: events, EVENTS_SECRET } }),
    launchBrowser(),
  ]);
  app = await NextApp.start(
    { WS_SECRET: SECRET, SWITCHBOARD_WS_URL: gateway.wsUrl, SWITCHBOARD_EVENTS_SECRET: EVENTS_SECRET },
    { port: appPort },
  );
});

after(async () => {
  await Promise.all([browser?.close(), gateway?.stop(), app?.stop()]);
});

const options = {
  browser: () => browser,
  timeoutMs: 90_000,
  artifacts: () => ({
    "gateway.log": `${gateway?.lines.join("\n") ?? ""}\n`,
    "next.log": `${app?.lines.join("\n") ?? ""}\n`,
  }),
};

async function signIn(page, name) {
  await page.context().clearCookies(); // one browser context: the other page's socket stays open
  await page.goto(app.url);
  await page.getByLabel("name").fill(name);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator(".subscription", { hasText: "subscribed to room:lobby" }).waitFor();
}

/** Wait until the page's online list is exactly `users`. */
async function onlineIs(page, users) {
  const list = page.getByRole("list", { name: "online users" });
  await page.waitForFunction(
    (expected) => {
      const items = [...document.querySelectorAll("ul.online li")].map((li) => li.textContent);
      return JSON.stringify(items) === expected;
    },
    JSON.stringify(users),
    { timeout: 60_000 },
  );
  assert.deepEqual(await list.locator("li").allTextContents(), users);
}

browserTest(
  "the online list shows a second user while they are connected, from the webhook's events",
  async (session) => {
    const alice = await session.newPage("alice");
    await signIn(alice, "alice");
    await onlineIs(alice, ["alice"]);

    // bob in a second page (the session cookie becomes bob's: alice's socket keeps its user)
    const bob = await session.newPage("bob");
    await signIn(bob, "bob");
    await onlineIs(alice, ["alice", "bob"]);

    await bob.getByRole("button", { name: "Sign out" }).click(); // the socket closes: $disconnect
    await bob.getByRole("button", { name: "Sign in" }).waitFor();
    await onlineIs(alice, ["alice"]);

    // what the gateway posted: every webhook answered 200 by the route (the secret matched)
    const posts = gateway.lines.filter((line) => /\bWEBHOOK\b/.test(line));
    assert.ok(posts.length >= 4, posts.join("\n"));
    for (const line of posts) assert.match(line, / 200$/);
    assert.ok(!gateway.lines.some((line) => line.includes(EVENTS_SECRET)), "the secret is never logged");
    // an unsigned or wrongly signed POST is refused; a redelivery is applied once
    const envelope = {
      version: "0", id: "x", "detail-type": "connection.opened", source: "switchboard", account: "123456789012",
      time: "2026-12-01T00:00:00Z", region: "us-east-1", resources: [],
      detail: { eventId: "forged-1", ts: 0, connectionId: "FORGED", userId: "mallory" },
    };
    const post = (headers) =>
      fetch(`${app.url}/api/switchboard-events`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(envelope) });
    assert.equal((await post({})).status, 401);
    assert.equal((await post({ "x-switchboard-secret": "wrong" })).status, 401);
    const first = await post({ "x-switchboard-secret": EVENTS_SECRET });
    assert.deepEqual([first.status, await first.json()], [200, { ok: true, duplicate: false }]);
    const again = await post({ "x-switchboard-secret": EVENTS_SECRET });
    assert.deepEqual([again.status, await again.json()], [200, { ok: true, duplicate: true }]);
    await onlineIs(alice, ["alice", "mallory"]);
    assert.deepEqual(session.pageErrors(), []);
  },
  options,
);
