"use client";

import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { useRealtimeClient } from "@switchboard/client/react";

/** The stub sign-in: sets the session cookie, then (re)connects the realtime client. */
export function SignIn() {
  const router = useRouter();
  const client = useRealtimeClient();
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);

  async function signIn(event: FormEvent) {
    event.preventDefault();
    const response = await fetch("/api/session", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name }),
    });
    if (!response.ok) {
      setError(((await response.json()) as { error?: string }).error ?? "could not sign in");
      return;
    }
    // Without a session the token route answered 401 and the client stopped (`unauthorized`), or
    // that request is still on its way: start over, with the new session's cookie.
    client.close();
    client.connect();
    router.refresh();
  }

  return (
    <form onSubmit={signIn}>
      <input value={name} onChange={(e) => setName(e.target.value)} placeholder="your name" aria-label="name" />
      <button type="submit">Sign in</button>
      {error && <span className="error">{error}</span>}
    </form>
  );
}
