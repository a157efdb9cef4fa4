/**
 * The member-list follower: the one way this package keeps the member list of a presence
 * channel (`presence-` prefix), used by `usePresence` (react.ts) and the demo page
 * (clients/demo/demo.js). It follows DESIGN.md's presence contract:
 *
 * - `join` comes once per user (their first connection), `leave` once (their last one gone); a
 *   join adds the user or updates their `data` in place (keeping the `connections` the last
 *   read gave), a leave removes the user. Neither says how many connections a user has: only a
 *   read (`client.presence`) does.
 * - Joins and leaves are not kept in the history, so nothing replays the ones missed while
 *   disconnected: the list is read again after every `subscribed` event of the channel (the
 *   first ack and each resubscribe: reconnect, planned swap, gap recovery) and every `reset`,
 *   coalesced to one read per turn; and once when the subscribe resolves without an ack (another
 *   subscriber had already confirmed the channel).
 * - The joins and leaves heard while a read is in flight are applied on top of its answer; the
 *   answer of a read that a newer read replaced is dropped.
 * - A read lost with its socket (`ConnectionLostError`) or the client closing (`ClientClosedError`)
 *   is not an error: the resubscribe reads again, or nothing follows. Any other refusal (e.g.
 *   `payload_too_large` past the server's member cap) makes the status `error`, and the list then
 *   follows joins and leaves only, until a read succeeds.
 */
import type { SwitchboardClient } from "./client.js";
import { ClientClosedError, ConnectionLostError } from "./errors.js";
import type { Member } from "./protocol.js";
import type { MessageHandler, PresenceEvent, PresenceListener, Subscription } from "./types.js";

export interface PresenceState<T = unknown> {
  /** Who is on the channel, one entry per user: `{user, data, connections}`. */
  members: Array<Member<T>>;
  /**
   * `idle` (no channel), `loading` (subscribing, or fetching the first member list), `ready`,
   * or `error` (the subscription was refused, or the member list could not be read: e.g.
   * `payload_too_large` past the server's cap; `members` then follows `join`/`leave` only).
   */
  status: "idle" | "loading" | "ready" | "error";
  error: Error | null;
}

export interface FollowMembersOptions<T> {
  /** Called with the new state after every change (not after `stop()`). */
  onChange(state: PresenceState<T>): void;
  /** The channel's messages (default: none; the subscription is then for presence only). */
  onMessage?: MessageHandler;
  /** Every `join` and `leave`, after the list applied it. */
  onPresence?: PresenceListener;
  /** A member list read was refused (the state's status is then `error`). */
  onReadError?: (error: Error) => void;
}

export interface MemberFollower<T> {
  /** The channel's subscribe: settles as `client.subscribe` does (already handled here). */
  readonly subscription: Promise<Subscription>;
  readonly state: PresenceState<T>;
  /** Stop following and remove this follower's handler from the channel (best effort). */
  stop(): void;
}

/** Apply `event` to `members`: a join adds or updates the user in place, a leave removes them. */
export function applyPresence<T>(members: Map<string, Member<T>>, event: PresenceEvent<T>): void {
  if (event.type === "leave") {
    members.delete(event.user);
    return;
  }
  const member: Member<T> = { user: event.user, connections: members.get(event.user)?.connections ?? 1 };
  if (event.data !== undefined) member.data = event.data;
  members.set(event.user, member);
}

/** Subscribe to `channel` on `client` and follow its member list until `stop()`. */
export function followMembers<T = unknown>(
  client: SwitchboardClient,
  channel: string,
  options: FollowMembersOptions<T>,
): MemberFollower<T> {
  let active = true;
  let members = new Map<string, Member<T>>();
  let state: PresenceState<T> = { members: [], status: "loading", error: null };
  /** Events heard while a member list is being read: applied on top of it. */
  let heard: Array<PresenceEvent<T>> | null = null;
  let readSerial = 0;
  let readScheduled = false;
  let ackSeen = false;

  const change = (status: PresenceState<T>["status"], error: Error | null): void => {
    state = { members: [...members.values()], status, error };
    if (active) options.onChange(state);
  };
  const read = (): void => {
    const serial = ++readSerial;
    heard = [];
    client.presence<T>(channel).then(
      (list) => {
        if (!active || serial !== readSerial) return;
        const next = new Map<string, Member<T>>();
        for (const member of list) next.set(member.user, member);
        for (const event of heard ?? []) applyPresence(next, event);
        heard = null;
        members = next;
        change("ready", null);
      },
      (failure: Error) => {
        if (!active || serial !== readSerial) return;
        heard = null;
        if (failure instanceof ConnectionLostError || failure instanceof ClientClosedError) return;
        change("error", failure);
        options.onReadError?.(failure);
      },
    );
  };
  /** Read the list once, however many triggers (a reset and its ack) come in one turn. */
  const scheduleRead = (): void => {
    if (readScheduled) return;
    readScheduled = true;
    queueMicrotask(() => {
      readScheduled = false;
      if (active) read();
    });
  };

  change("loading", null);
  const onPresence = (event: PresenceEvent): void => {
    if (!active) return;
    const typed = event as PresenceEvent<T>;
    applyPresence(members, typed);
    heard?.push(typed);
    change(state.status, state.error);
    options.onPresence?.(event);
  };
  const handler: MessageHandler = options.onMessage ?? (() => undefined);
  const stopSubscribed = client.on("subscribed", (event) => {
    if (event.channel !== channel) return;
    ackSeen = true;
    scheduleRead();
  });
  const stopReset = client.on("reset", (event) => {
    if (event.channel === channel) scheduleRead();
  });
  const subscription = client.subscribe(channel, handler, { onPresence });
  subscription.then(
    () => {
      // Already confirmed for another subscriber: no ack, so no `subscribed` event comes.
      if (active && !ackSeen) scheduleRead();
    },
    (failure: Error) => {
      if (active) change("error", failure);
    },
  );
  return {
    subscription,
    get state() {
      return state;
    },
    stop() {
      active = false;
      stopSubscribed();
      stopReset();
      client.unsubscribe(channel, handler).catch(() => {
        // Best effort: the server drops subscriptions with the connection.
      });
    },
  };
}
