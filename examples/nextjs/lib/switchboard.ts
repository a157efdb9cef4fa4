/**
 * The app's one `@switchboard/server` instance (server-only): `WS_SECRET` signs browser tokens
 * and the publish credential; the HTTP API is `SWITCHBOARD_URL` (the stack's `PublishUrl`
 * output), locally the gateway's own port, derived from `NEXT_PUBLIC_WS_URL`.
 */
import { createSwitchboard } from "@switchboard/server";

export const WS_URL = process.env.NEXT_PUBLIC_WS_URL ?? "ws://localhost:3001";

export const switchboard = createSwitchboard({
  url: process.env.SWITCHBOARD_URL ?? WS_URL.replace(/^ws(s?):/, "http$1:"),
  serverName: "nextjs-example",
});

/** The chat room a user lands in (rendered with its history on the server). */
export const LOBBY = "room:lobby";
