/**
 * POST /api/switchboard-events: Switchboard's backend events (docs/events.md), as the stack's
 * webhook (an EventBridge API destination, `WebhookUrl`) or `make dev` with `EVENTS_URL` POSTs
 * them: one EventBridge envelope per request.
 *
 * Verification: the `x-switchboard-secret` header must equal `SWITCHBOARD_EVENTS_SECRET` (the
 * stack's `WebhookSecret`, locally `EVENTS_SECRET`), compared in constant time. A shared secret
 * rather than an HMAC of the body because an API destination cannot sign what it sends: its
 * connection can only add a header (API key auth). Anything unverified is 401; no secret
 * configured is 503 (never accept unverified events). Each event is applied once (by
 * `detail.eventId`: events come at least once).
 *
 * GET /api/switchboard-events: who is online, for app/components/OnlineUsers.tsx.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { applyEvent, isSwitchboardEvent, onlineUsers } from "@/lib/online";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

const MAX_BODY_BYTES = 256 * 1024; // EventBridge's largest event

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/** Whether `given` equals `expected`, in time independent of where they differ. */
function sameSecret(given: string | null, expected: string): boolean {
  return given !== null && timingSafeEqual(digest(given), digest(expected));
}

export async function POST(request: Request): Promise<Response> {
  const expected = process.env.SWITCHBOARD_EVENTS_SECRET;
  if (!expected) {
    return Response.json({ error: "set SWITCHBOARD_EVENTS_SECRET (the stack's WebhookSecret)" }, { status: 503 });
  }
  if (!sameSecret(request.headers.get("x-switchboard-secret"), expected)) {
    return Response.json({ error: "unauthorized" }, { status: 401 });
  }
  const text = await request.text();
  if (new TextEncoder().encode(text).length > MAX_BODY_BYTES) {
    return Response.json({ error: "payload too large" }, { status: 413 });
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return Response.json({ error: "not JSON" }, { status: 400 });
  }
  if (!isSwitchboardEvent(body)) {
    return Response.json({ error: "not a Switchboard event" }, { status: 400 });
  }
  const applied = applyEvent(body);
  return Response.json({ ok: true, duplicate: !applied });
}

export async function GET(): Promise<Response> {
  return Response.json({ users: onlineUsers() }, { headers: { "cache-control": "no-store" } });
}
