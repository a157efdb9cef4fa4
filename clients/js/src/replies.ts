/**
 * The replies of the read requests, turned into what `presence()` and `history()` resolve with:
 * a member list and a history page, skipping any entry that lacks its required fields.
 */
import { epochOf, type Ack, type Member, type Message } from "./protocol.js";
import type { HistoryPage } from "./types.js";

/** The `members` of a presence ack: `[{user, data, connections}]`. */
export function parseMembers<T>(value: unknown): Array<Member<T>> {
  if (!Array.isArray(value)) return [];
  const members: Array<Member<T>> = [];
  for (const item of value as unknown[]) {
    if (typeof item !== "object" || item === null) continue;
    const { user, data, connections } = item as Record<string, unknown>;
    if (typeof user !== "string") continue;
    const member: Member<T> = { user, connections: typeof connections === "number" ? connections : 1 };
    if (data !== undefined) member.data = data as T;
    members.push(member);
  }
  return members;
}

/** A history ack as a page of `channel`, oldest first. */
export function parseHistoryPage<T>(channel: string, ack: Ack): HistoryPage<T> {
  const messages: Array<Message<T>> = [];
  if (Array.isArray(ack.messages)) {
    for (const item of ack.messages as unknown[]) {
      if (typeof item !== "object" || item === null) continue;
      const message = item as Record<string, unknown>;
      if (typeof message.seq !== "number") continue;
      messages.push({ ...message, type: "message", channel } as Message<T>);
    }
  }
  return {
    channel,
    epoch: epochOf(ack.epoch) ?? null,
    seq: typeof ack.seq === "number" ? ack.seq : 0,
    messages,
    next: typeof ack.next === "number" ? ack.next : null,
  };
}
