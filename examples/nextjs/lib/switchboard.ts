/**
 * The app's one `@switchboard/server` instance (server-only): `WS_SECRET` signs browser tokens
 * and the publish credential; the HTTP API is `SWITCHBOARD_URL` (the stack's `PublishUrl`
 * output), locally the gateway's own port, derived from the WebSocket URL.
 */
import { createSwitchboard } from "@switchboard/server";

/**
 * The WebSocket API browsers connect to: `SWITCHBOARD_WS_URL`, read when the server starts (so
 * one build can point at any gateway), else `NEXT_PUBLIC_WS_URL`, inlined at build time.
 */
export const WS_URL = process.env.SWITCHBOARD_WS_URL ?? process.env.NEXT_PUBLIC_WS_URL ?? "ws://localhost:3001";

export const switchboard = createSwitchboard({
  url: process.env.SWITCHBOARD_URL ?? WS_URL.replace(/^ws(s?):/, "http$1:"),
  serverName: "nextjs-example",
});

/** The chat room a user lands in (rendered with its history on the server). */
export const LOBBY = "room:lobby";
