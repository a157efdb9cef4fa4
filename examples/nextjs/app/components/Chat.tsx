"use client";

import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import {
  useChannel,
  useConnectionState,
  usePublish,
  useRealtimeClient,
} from "@switchboard/client/react";

interface Line {
  seq: number;
  from: string;
  text: string;
}

/** A chat room: messages on `room:<name>` arrive through useChannel and go out through publish. */
export function Chat({ user }: { user: string }) {
  const router = useRouter();
  const client = useRealtimeClient();
  const state = useConnectionState();
  const publish = usePublish();
  const [room, setRoom] = useState("lobby");
  const [lines, setLines] = useState<Line[]>([]);
  const [draft, setDraft] = useState("");
  const [error, setError] = useState<string | null>(null);
  const channel = `room:${room || "lobby"}`;

  const status = useChannel<{ text?: unknown }>(
    channel,
    (message) => {
      const text = typeof message.data?.text === "string" ? message.data.text : JSON.stringify(message.data);
      setLines((previous) => [...previous.slice(-199), { seq: message.seq, from: message.from ?? "?", text }]);
    },
    {
      // Messages were lost beyond recovery: a real app reloads the room's history here.
      onReset: () => setLines([]),
    },
  );

  async function send(event: FormEvent) {
    event.preventDefault();
    if (!draft.trim()) return;
    setError(null);
    try {
      await publish(channel, { text: draft });
      setDraft("");
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
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
        {status.subscribed ? `subscribed to ${channel}` : `subscribing to ${channel}…`}{" "}
        <button type="button" onClick={signOut}>Sign out</button>
      </p>
      {status.error && <p className="error">{status.error.message}</p>}
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
        {lines.map((line) => (
          <li key={line.seq}>
            <span className="from">{line.from}</span>
            {line.text}
          </li>
        ))}
      </ul>
      <form onSubmit={send}>
        <input value={draft} onChange={(e) => setDraft(e.target.value)} placeholder="Say something" aria-label="message" />
        <button type="submit">Send</button>
      </form>
      {error && <p className="error">{error}</p>}
    </section>
  );
}
