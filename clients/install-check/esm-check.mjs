// Node ESM, as an app imports the installed packages: every entry point resolves through
// `exports`, and the values work (a token from @switchboard/server verifies with jose).
import assert from "node:assert/strict";
import { createClient, backoffDelay, HandshakeError, SwitchboardError } from "@switchboard/client";
import * as react from "@switchboard/client/react";
import { createSwitchboard, ConfigurationError, createToken, publish } from "@switchboard/server";
import { jwtVerify } from "jose";

const client = createClient({ url: "ws://127.0.0.1:9", getToken: () => "t" });
assert.equal(client.state, "idle");
assert.equal(backoffDelay(1, () => 1), 1000);
assert.ok(new HandshakeError(1006) instanceof SwitchboardError);
const hooks = [
  "RealtimeProvider",
  "useChannel",
  "useConnectionError",
  "useConnectionState",
  "useDirectMessages",
  "usePresence",
  "usePublish",
  "useRpc",
];
assert.deepEqual(hooks.filter((name) => typeof react[name] !== "function"), []);
const secret = "install-check-secret-0123456789-0123";
const token = await createSwitchboard({ secret }).createToken({ userId: "alice", channels: ["room:*"] });
const { payload } = await jwtVerify(token, new TextEncoder().encode(secret));
assert.deepEqual([payload.sub, payload.channels], ["alice", ["room:*"]]);
assert.equal(typeof createToken, "function");
assert.equal(typeof publish, "function");
await assert.rejects(createSwitchboard({ secret: "" }).createToken({ userId: "a" }), ConfigurationError);
console.log("esm-check: @switchboard/client, @switchboard/client/react and @switchboard/server import and work");
