/**
 * GET /api/ws-token: a 30-second token for the signed-in user, which the browser client fetches
 * (with cookies) before every connect and reconnect. 401 when nobody is signed in: the client
 * then stops retrying, in its `unauthorized` state. 500 with the reason when the server cannot
 * sign (no `WS_SECRET`): the page shows it.
 *
 * `WS_SECRET` must equal the secret the Switchboard stack verifies with (locally the local
 * gateway's `WS_SECRET`; on AWS the value stored in SSM for the stack). Runs in the Edge runtime:
 * `@switchboard/server` needs only Web Crypto.
 */
import { ConfigurationError } from "@switchboard/server";
import { currentUser } from "@/lib/session";
import { switchboard } from "@/lib/switchboard";

// The Edge runtime (deprecated by Next.js 16, which warns at build time, but still served) shows
// that the helper needs no Node API; delete this line to run the route on Node.js instead.
export const runtime = "edge";
export const dynamic = "force-dynamic";

export async function GET(): Promise<Response> {
  const userId = await currentUser();
  if (!userId) {
    return Response.json({ error: "not signed in" }, { status: 401 });
  }
  try {
    // Single-use: every connect fetches a fresh token anyway.
    const token = await switchboard.createToken({ userId, ttl: 30, singleUse: true });
    return Response.json({ token }, { headers: { "cache-control": "no-store" } });
  } catch (error) {
    if (error instanceof ConfigurationError) {
      return Response.json({ error: error.message }, { status: 500 });
    }
    throw error;
  }
}
