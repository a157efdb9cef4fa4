/**
 * Who is online, from Switchboard's backend events (docs/events.md): a user is online while one
 * of their connections has been opened and not closed. Fed by app/api/switchboard-events/route.ts.
 *
 * Events come at least once and in no guaranteed order, so each is applied once (by its
 * `detail.eventId`) and a connection's close wins over an open that arrives after it.
 *
 * The state lives in this server process (on `globalThis`, shared by every route of the
 * process). That is enough for `next start` and `next dev`; on Vercel, where every instance has
 * its own memory, keep it in a store all instances share (Redis, a database).
 */

export interface SwitchboardEvent {
  "detail-type": string;
  source: string;
  time: string;
  detail: { eventId: string; ts: number; connectionId?: string; userId?: string; channel?: string; reason?: string };
}

interface OnlineState {
  seen: Set<string>; // eventIds applied (the newest MAX_SEEN)
  connections: Map<string, { userId: string; closed: boolean }>;
}

const MAX_SEEN = 10_000;

function state(): OnlineState {
  const holder = globalThis as typeof globalThis & { __switchboardOnline?: OnlineState };
  holder.__switchboardOnline ??= { seen: new Set(), connections: new Map() };
  return holder.__switchboardOnline;
}

/** Whether `body` is an EventBridge envelope of a Switchboard event. */
export function isSwitchboardEvent(body: unknown): body is SwitchboardEvent {
  if (typeof body !== "object" || body === null) return false;
  const envelope = body as Record<string, unknown>;
  const detail = envelope.detail as Record<string, unknown> | null | undefined;
  return (
    envelope.source === "switchboard" &&
    typeof envelope["detail-type"] === "string" &&
    typeof detail === "object" &&
    detail !== null &&
    typeof detail.eventId === "string" &&
    detail.eventId.length > 0 &&
    detail.eventId.length <= 128
  );
}

/** Apply one event; `false` when its eventId was applied before (a redelivery). */
export function applyEvent(event: SwitchboardEvent): boolean {
  const { seen, connections } = state();
  const { eventId, connectionId, userId } = event.detail;
  if (seen.has(eventId)) return false;
  seen.add(eventId);
  if (seen.size > MAX_SEEN) seen.delete(seen.values().next().value as string);
  if (typeof connectionId !== "string" || typeof userId !== "string") return true;
  if (event["detail-type"] === "connection.opened") {
    if (!connections.has(connectionId)) connections.set(connectionId, { userId, closed: false });
  } else if (event["detail-type"] === "connection.closed") {
    connections.set(connectionId, { userId, closed: true });
  }
  return true;
}

/** The users with at least one open connection, sorted. */
export function onlineUsers(): string[] {
  const users = new Set<string>();
  for (const { userId, closed } of state().connections.values()) if (!closed) users.add(userId);
  return [...users].sort();
}
