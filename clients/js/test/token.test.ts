import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SwitchboardError, UnauthorizedError, type FetchLike, type TokenResponse } from "../src/index.js";
import { acquireToken, isUnauthorized } from "../src/token.js";
import { fakePlatform } from "./fakes.js";

const answer = (status: number, body: unknown): TokenResponse => ({ status, ok: status < 300, json: async () => body });

function fetching(response: TokenResponse | (() => TokenResponse)): { fetch: FetchLike; calls: Array<[string, unknown]> } {
  const calls: Array<[string, unknown]> = [];
  return {
    calls,
    fetch: async (url, init) => {
      calls.push([url, init]);
      return typeof response === "function" ? response() : response;
    },
  };
}

describe("token acquisition", () => {
  it("uses getToken when given; no token from it is a refusal", async () => {
    const platform = fakePlatform();
    assert.equal(await acquireToken({ getToken: () => "t1" }, platform), "t1");
    assert.equal(await acquireToken({ getToken: async () => "t2" }, platform), "t2");
    for (const nothing of [null, undefined, ""]) {
      await assert.rejects(acquireToken({ getToken: () => nothing }, platform), UnauthorizedError);
    }
  });

  it("GETs authUrl with the page's cookies, uncached, and reads {token}", async () => {
    const { fetch, calls } = fetching(answer(200, { token: "abc" }));
    const platform = { ...fakePlatform(), fetch };
    assert.equal(await acquireToken({ authUrl: "/api/ws-token" }, platform), "abc");
    assert.deepEqual(calls, [
      ["/api/ws-token", { credentials: "include", cache: "no-store", headers: { accept: "application/json" } }],
    ]);
  });

  it("tells a refusal (401/403: stop) from a failure (retry), with the endpoint's message", async () => {
    const cases: Array<[TokenResponse, string, string]> = [
      [answer(401, { error: "signed out" }), "unauthorized", "the token endpoint answered 401: signed out"],
      [answer(403, { message: "nope" }), "unauthorized", "the token endpoint answered 403: nope"],
      [answer(500, { error: "no secret" }), "token_failed", "the token endpoint answered 500: no secret"],
      [{ status: 502, ok: false, json: async () => { throw new SyntaxError("html"); } }, "token_failed", "the token endpoint answered 502"],
      [answer(200, {}), "token_failed", "the token endpoint answered without a token"],
      [answer(200, null), "token_failed", "the token endpoint answered without a token"],
      [answer(200, { token: 5 }), "token_failed", "the token endpoint answered without a token"],
    ];
    for (const [response, code, message] of cases) {
      const platform = { ...fakePlatform(), fetch: fetching(response).fetch };
      await assert.rejects(
        acquireToken({ authUrl: "/t" }, platform),
        (error: unknown) => error instanceof SwitchboardError && error.code === code && error.message === message,
        message,
      );
    }
  });

  it("counts UnauthorizedError and errors carrying status 401/403 as refusals", () => {
    assert.equal(isUnauthorized(new UnauthorizedError("x")), true);
    assert.equal(isUnauthorized(Object.assign(new Error("x"), { status: 403 })), true);
    assert.equal(isUnauthorized(Object.assign(new Error("x"), { status: 500 })), false);
    assert.equal(isUnauthorized(new SwitchboardError("token_failed", "x")), false);
    assert.equal(isUnauthorized(null), false);
  });
});
