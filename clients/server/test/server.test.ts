/** @switchboard/server without a network: tokens verified with jose, requests seen by a fake fetch. */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { jwtVerify } from "jose";
import {
  ApiError,
  BadRequestError,
  ConfigurationError,
  ConflictError,
  createSwitchboard,
  ForbiddenError,
  NetworkError,
  NotFoundError,
  PayloadTooLargeError,
  SwitchboardServerError,
  UnauthorizedError,
} from "../src/index.js";

const SECRET = "unit-test-secret-0123456789-0123456789";
const key = new TextEncoder().encode(SECRET);

interface Seen {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

function fakeFetch(status: number, answer: unknown, seen: Seen[] = []): typeof fetch {
  return (async (url: string, init: RequestInit) => {
    seen.push({
      url,
      method: init.method ?? "GET",
      headers: init.headers as Record<string, string>,
      body: init.body === undefined ? undefined : JSON.parse(init.body as string),
    });
    const text = typeof answer === "string" ? answer : JSON.stringify(answer);
    return new Response(text, { status, headers: { "content-type": "application/json" } });
  }) as typeof fetch;
}

describe("createToken", () => {
  it("signs exactly the claims $connect reads", async () => {
    const sb = createSwitchboard({ secret: SECRET });
    const before = Math.floor(Date.now() / 1000);
    const token = await sb.createToken({
      userId: "alice",
      channels: ["room:*", "user:alice"],
      presence: { name: "Alice" },
      subscribe: ["room:lobby", "user:alice"],
      ttl: 60,
      singleUse: true,
    });
    const { payload, protectedHeader } = await jwtVerify(token, key, { algorithms: ["HS256"] });
    assert.deepEqual(protectedHeader, { alg: "HS256", typ: "JWT" });
    const { iat, exp, jti, ...rest } = payload;
    assert.deepEqual(rest, {
      sub: "alice",
      channels: ["room:*", "user:alice"],
      presence: { name: "Alice" },
      subscribe: ["room:lobby", "user:alice"],
    });
    assert.ok(iat! >= before && iat! <= before + 2);
    assert.equal(exp, iat! + 60);
    assert.match(jti!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("defaults to 30 seconds, no jti, no optional claims; adds aud and iss when configured", async () => {
    const sb = createSwitchboard({ secret: SECRET, audience: "app", issuer: "https://id.example" });
    const { payload } = await jwtVerify(await sb.createToken({ userId: "bob" }), key);
    assert.deepEqual(Object.keys(payload).sort(), ["aud", "exp", "iat", "iss", "sub"]);
    assert.equal(payload.exp! - payload.iat!, 30);
    assert.equal(payload.aud, "app");
    assert.equal(payload.iss, "https://id.example");
  });

  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ["an empty user", { userId: "" }, /userId must be 1 to 256/],
    ["a blank user", { userId: "  " }, /userId/],
    ["a zero ttl", { userId: "a", ttl: 0 }, /ttl/],
    ["a fractional ttl", { userId: "a", ttl: 1.5 }, /ttl/],
    ["a ttl over a day", { userId: "a", ttl: 86_401 }, /ttl/],
    ["channels not a list", { userId: "a", channels: "room:*" }, /channels must be a list/],
    ["a channel pattern with a space", { userId: "a", channels: ["room:* user:a"] }, /channels/],
    ["a subscribe the channels do not allow", { userId: "a", channels: ["room:*"], subscribe: ["user:b"] }, /subscribe: user:b not allowed/],
    ["a subscribe glob", { userId: "a", subscribe: ["room:*"] }, /subscribe must be a list/],
    ["presence over 1 KB", { userId: "a", presence: "x".repeat(1100) }, /presence/],
    ["presence that is not JSON", { userId: "a", presence: () => 1 }, /presence/],
  ];
  for (const [name, options, message] of refused) {
    it(`refuses ${name} before signing`, async () => {
      const sb = createSwitchboard({ secret: SECRET });
      await assert.rejects(sb.createToken(options as never), (error: unknown) => {
        assert.ok(error instanceof ConfigurationError);
        assert.equal(error.code, "configuration");
        assert.match(error.message, message);
        return true;
      });
    });
  }

  it("says where the secret comes from when there is none", async () => {
    const saved = process.env.WS_SECRET;
    delete process.env.WS_SECRET;
    try {
      await assert.rejects(createSwitchboard().createToken({ userId: "a" }), /no secret: set WS_SECRET/);
    } finally {
      if (saved !== undefined) process.env.WS_SECRET = saved;
    }
  });

  it("reads WS_SECRET and SWITCHBOARD_URL from the environment, options winning", async () => {
    const saved = { secret: process.env.WS_SECRET, url: process.env.SWITCHBOARD_URL };
    process.env.WS_SECRET = SECRET;
    process.env.SWITCHBOARD_URL = "https://api.example/prod/";
    try {
      const sb = createSwitchboard();
      assert.equal(sb.url, "https://api.example/prod");
      await jwtVerify(await sb.createToken({ userId: "a" }), key);
      assert.equal(createSwitchboard({ url: "http://127.0.0.1:9" }).url, "http://127.0.0.1:9");
      delete process.env.SWITCHBOARD_URL;
      assert.equal(createSwitchboard().url, "http://localhost:3001");
    } finally {
      for (const [name, value] of [["WS_SECRET", saved.secret], ["SWITCHBOARD_URL", saved.url]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});

describe("the HTTP API", () => {
  it("publishes with a publish-scoped bearer token and the idempotency key", async () => {
    const seen: Seen[] = [];
    const answer = { channel: "room:a", seq: 3, epoch: "e1", delivered: 2, pruned: 0, failed: 0 };
    const sb = createSwitchboard({ secret: SECRET, url: "https://api.example/prod", serverName: "orders", fetch: fakeFetch(200, answer, seen) });
    assert.deepEqual(await sb.publish("room:a", { text: "hi" }, { idempotencyKey: "order-1" }), answer);
    assert.equal(seen.length, 1);
    const [request] = seen;
    assert.equal(request!.url, "https://api.example/prod/publish");
    assert.equal(request!.method, "POST");
    assert.deepEqual(request!.body, { channel: "room:a", data: { text: "hi" } });
    assert.equal(request!.headers["idempotency-key"], "order-1");
    assert.equal(request!.headers["content-type"], "application/json");
    const bearer = request!.headers.authorization!.replace(/^Bearer /, "");
    const { payload } = await jwtVerify(bearer, key, { algorithms: ["HS256"] });
    assert.equal(payload.scope, "publish");
    assert.equal(payload.sub, "orders");
    assert.equal(payload.exp! - payload.iat!, 60);
  });

  it("sends a batch, a direct message and a history read to their routes", async () => {
    const seen: Seen[] = [];
    const sb = createSwitchboard({ secret: SECRET, url: "http://gw", fetch: fakeFetch(200, { results: [{ seq: 1 }, { seq: 1 }] }, seen) });
    assert.deepEqual(await sb.publishBatch([{ channel: "a", data: 1 }, { channel: "b", data: 2 }]), [{ seq: 1 }, { seq: 1 }]);
    await sb.sendToUser("al ice/1", { n: 1 });
    await sb.history("room:a", { limit: 0 });
    await sb.history("room:a", { limit: 20, before: 41 });
    await sb.history("room:a");
    assert.deepEqual(
      seen.map((r) => [r.method, r.url, r.body]),
      [
        ["POST", "http://gw/publish", { messages: [{ channel: "a", data: 1 }, { channel: "b", data: 2 }] }],
        ["POST", "http://gw/users/al%20ice%2F1/messages", { data: { n: 1 } }],
        ["GET", "http://gw/channels/room%3Aa/history?limit=0", undefined],
        ["GET", "http://gw/channels/room%3Aa/history?limit=20&before=41", undefined],
        ["GET", "http://gw/channels/room%3Aa/history", undefined],
      ],
    );
    assert.equal(seen[2]!.headers["content-type"], undefined);
  });

  it("uses getPublishToken instead of signing when given", async () => {
    const seen: Seen[] = [];
    const sb = createSwitchboard({ url: "http://gw", getPublishToken: async () => "idp-token", fetch: fakeFetch(200, { seq: 1 }, seen) });
    await sb.publish("a", 1);
    assert.equal(seen[0]!.headers.authorization, "Bearer idp-token");
  });

  const statuses: Array<[number, typeof SwitchboardServerError, string]> = [
    [400, BadRequestError, "bad_request"],
    [401, UnauthorizedError, "unauthorized"],
    [403, ForbiddenError, "forbidden"],
    [404, NotFoundError, "not_found"],
    [409, ConflictError, "conflict"],
    [413, PayloadTooLargeError, "payload_too_large"],
    [500, ApiError, "internal"],
  ];
  for (const [status, Kind, code] of statuses) {
    it(`turns a ${status} into ${Kind.name} with the API's code and message`, async () => {
      const sb = createSwitchboard({ secret: SECRET, url: "http://gw", fetch: fakeFetch(status, { code, message: "why" }) });
      await assert.rejects(sb.publish("a", 1), (error: unknown) => {
        assert.ok(error instanceof Kind);
        assert.ok(error instanceof SwitchboardServerError);
        assert.equal(error.code, code);
        assert.equal(error.status, status);
        assert.equal(error.message, `the Switchboard API answered ${status}: why`);
        return true;
      });
    });
  }

  it("names a non-JSON answer and an unreachable API", async () => {
    const html = createSwitchboard({ secret: SECRET, url: "http://gw", fetch: fakeFetch(502, "<html>bad gateway</html>") });
    await assert.rejects(html.publish("a", 1), (error: unknown) => error instanceof ApiError && error.code === "http_502" && error.status === 502);
    const empty = createSwitchboard({ secret: SECRET, url: "http://gw", fetch: fakeFetch(200, "") });
    await assert.rejects(empty.publish("a", 1), (error: unknown) => error instanceof ApiError && error.code === "bad_response");
    const down = createSwitchboard({ secret: SECRET, url: "http://127.0.0.1:9" });
    await assert.rejects(down.publish("a", 1), (error: unknown) => {
      assert.ok(error instanceof NetworkError);
      assert.match(error.message, /^could not reach the Switchboard API at http:\/\/127\.0\.0\.1:9/);
      return true;
    });
  });

  it("refuses what the API would refuse before sending anything", async () => {
    const seen: Seen[] = [];
    const sb = createSwitchboard({ secret: SECRET, url: "http://gw", fetch: fakeFetch(200, {}, seen) });
    await assert.rejects(sb.publish("bad channel", 1), ConfigurationError);
    await assert.rejects(sb.publish("a", 1, { idempotencyKey: "" }), ConfigurationError);
    await assert.rejects(sb.publishBatch([]), ConfigurationError);
    await assert.rejects(sb.publishBatch(Array.from({ length: 101 }, () => ({ channel: "a", data: 1 }))), ConfigurationError);
    await assert.rejects(sb.sendToUser("", 1), ConfigurationError);
    await assert.rejects(sb.history("a", { limit: -1 }), ConfigurationError);
    await assert.rejects(sb.history("a", { before: 1.5 }), ConfigurationError);
    assert.equal(seen.length, 0);
  });
});

describe("the package", () => {
  it("imports nothing but jose and itself (so it runs in the Edge runtime)", () => {
    const dist = new URL("../../dist/", import.meta.url);
    const files = readdirSync(dist).filter((name) => name.endsWith(".js"));
    assert.deepEqual(files.sort(), ["errors.js", "index.js"]);
    for (const name of files) {
      const source = readFileSync(new URL(name, dist), "utf8").replace(/\/\*[\s\S]*?\*\//g, "");
      const imports = [...source.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)].map((m) => m[1]);
      assert.ok(imports.every((spec) => spec === "jose" || spec!.startsWith("./")), `${name}: ${imports}`);
      assert.doesNotMatch(source, /\bBuffer\b|\brequire\(/, name);
    }
  });
});
