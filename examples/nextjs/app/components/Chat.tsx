"use client";

import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import {
  useChannel,
  useConnectionError,
  useConnectionState,
  usePublish,
  useRealtimeClient,
} from "@switchboard/client/react";
import { announce } from "../actions";

/** The lobby's messages as the server rendered them, and their position (see app/page.tsx). */
export interface InitialHistory {
  channel: string;
  messages: Array<{ data: { text?: unknown } | unknown; seq: number; epoch?: string; from?: string }>;
  seq: number | undefined;
  epoch: string | null;
  /** Why the server could not read the history (the page still works without it). */
  error: string | null;
}

/** A chat line, or a notice the page adds (e.g. that missed messages could not be replayed). */
type Line =
  | { kind: "message"; key: string; from: string; text: string }
  | { kind: "notice"; key: string; text: string };

function textOf(data: unknown): string {
  const text = (data as { text?: unknown } | null)?.text;
  return typeof text === "string" ? text : JSON.stringify(data);
}

let noticeCounter = 0;
function notice(text: string): Line {
  noticeCounter += 1;
  return { kind: "notice", key: `notice-${noticeCounter}`, text };
}

/** A chat room: messages on `room:<name>` arrive through useChannel and go out through publish. */
export function Chat({ user, initial }: { user: string; initial: InitialHistory }) {
  const router = useRouter();
  const client = useRealtimeClient();
  const state = useConnectionState();
  const problem = useConnectionError();
  const publish = usePublish();
  const [room, setRoom] = useState("lobby");
  const [lines, setLines] = useState<Line[]>(() =>
    initial.messages.map((message) => ({
      kind: "message",
      key: `${message.epoch ?? initial.epoch ?? "-"}:${message.seq}`,
      from: message.from ?? "?",
      text: textOf(message.data),
    })),
  );
  const [draft, setDraft] = useState("");
  const [error, setError] = useState<string | null>(null);
  const channel = `room:${room || "lobby"}`;

  const status = useChannel<{ text?: unknown }>(
    channel,
    (message) => {
      const text = textOf(message.data);
      // epoch:seq is unique per message, also across a reset (which starts the seq over).
      const key = `${message.epoch ?? "-"}:${message.seq}`;
      setLines((previous) => [...previous.slice(-199), { kind: "message", key, from: message.from ?? "?", text }]);
    },
    {
      // From the server-rendered position: what was published since the render is replayed.
      ...(channel === initial.channel && initial.seq !== undefined ? { since: initial.seq, epoch: initial.epoch } : {}),
      // The server could not replay what this page missed (its history no longer reaches back,
      // or the channel started over, e.g. a local gateway restarted with empty tables). Keep
      // what is on screen and say so; a real app may reload the room's history here.
      onReset: () =>
        setLines((previous) =>
          previous.length === 0
            ? previous
            : [...previous, notice("Messages sent while this page was disconnected could not be recovered; the lines above are from before.")],
        ),
    },
  );
  const connection =
    state === "open"
      ? status.subscribed
        ? `subscribed to ${channel}`
        : `subscribing to ${channel}…`
      : state === "unauthorized"
        ? "not connected"
        : `not subscribed: ${state === "offline" ? "offline" : "connecting"}…`;

  async function send(event: FormEvent) {
    event.preventDefault();
    if (!draft.trim()) return;
    setError(null);
    if (state !== "open") setError("Not connected: the message goes out once the connection is back.");
    try {
      await publish(channel, { text: draft });
      setDraft("");
      setError(null);
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
    }
  }

  async function sendAnnouncement() {
    if (!draft.trim()) return;
    const result = await announce(channel, draft, crypto.randomUUID());
    if (result.error) setError(`Announcement failed: ${result.error}`);
    else {
      setDraft("");
      setError(null);
    }
  }

  async function signOut() {
    await fetch("/api/session", { method: "DELETE" });
    client.close();
    router.refresh();
  }

  return (
    <section>
      <p>
        Signed in as <b>{user}</b> · <span className="state" data-state={state}>{state}</span>{" "}
        <span className="subscription">{connection}</span>{" "}
        <button type="button" onClick={signOut}>Sign out</button>
      </p>
      {problem && <ConnectionProblem error={problem} retrying={state !== "unauthorized"} />}
      {status.error && <p className="error">{status.error.message}</p>}
      {initial.error && channel === initial.channel && (
        <p className="error history-error">Could not load the room&apos;s history on the server: {initial.error}</p>
      )}
      <label>
        Room{" "}
        <input
          value={room}
          onChange={(e) => {
            setRoom(e.target.value.replace(/[^A-Za-z0-9_\-:.@=]/g, "").slice(0, 64));
            setLines([]);
          }}
          aria-label="room"
        />
      </label>
      <ul className="messages">
        {lines.map((line) =>
          line.kind === "notice" ? (
            <li key={line.key} className="notice" role="status">
              {line.text}
            </li>
          ) : (
            <li key={line.key}>
              <span className="from">{line.from}</span>
              {line.text}
            </li>
          ),
        )}
      </ul>
      <form onSubmit={send}>
        <input value={draft} onChange={(e) => setDraft(e.target.value)} placeholder="Say something" aria-label="message" />
        <button type="submit">Send</button>
        <button type="button" onClick={sendAnnouncement} title="published by a server action through @switchboard/server">
          Announce
        </button>
      </form>
      {error && <p className="error">{error}</p>}
    </section>
  );
}

/** Why the page cannot connect, with what to check (the client keeps retrying meanwhile). */
function ConnectionProblem({ error, retrying }: { error: Error & { code?: string }; retrying: boolean }) {
  const hint =
    error.code === "handshake_failed"
      ? "Check that the gateway runs at NEXT_PUBLIC_WS_URL, that this app's WS_SECRET equals the gateway's, and that the gateway allows this page's Origin."
      : error.code === "token_failed"
        ? "The token route (/api/ws-token) failed: see its message and this app's server log."
        : "Sign in again.";
  return (
    <div className="error connection-error" role="alert" data-code={error.code}>
      <b>Cannot connect{retrying ? " (retrying)" : ""}:</b> {error.message}
      <br />
      {hint}
    </div>
  );
}
