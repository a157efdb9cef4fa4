/**
 * GET /api/ws-token: a 30-second HS256 token for the signed-in user, which the browser client
 * fetches (with cookies) before every connect and reconnect. 401 when nobody is signed in: the
 * client then stops retrying, in its `unauthorized` state.
 *
 * `WS_SECRET` must equal the secret the Switchboard stack verifies with (locally the local
 * gateway's `WS_SECRET`; on AWS the value stored in SSM for the stack).
 */
import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import { currentUser } from "@/lib/session";

export const dynamic = "force-dynamic";

const TOKEN_LIFETIME_SECONDS = 30;

export async function GET(): Promise<Response> {
  const secret = process.env.WS_SECRET;
  if (!secret) {
    return Response.json({ error: "WS_SECRET is not set on the server" }, { status: 500 });
  }
  const userId = await currentUser();
  if (!userId) {
    return Response.json({ error: "not signed in" }, { status: 401 });
  }
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(userId)
    .setIssuedAt(now)
    .setExpirationTime(now + TOKEN_LIFETIME_SECONDS)
    .setJti(randomUUID()) // single-use: every connect fetches a fresh token anyway
    .sign(new TextEncoder().encode(secret));
  return Response.json({ token }, { headers: { "cache-control": "no-store" } });
}
