import { useState } from "react";
import { useChannel, useConnectionState } from "@switchboard/client/react";

/** /pages-router: the lobby's messages, with the hooks in a Pages Router page. */
export default function PagesRouterLobby() {
  const state = useConnectionState();
  const [count, setCount] = useState(0);
  const { subscribed } = useChannel("room:lobby", () => setCount((n) => n + 1));
  return (
    <main style={{ fontFamily: "system-ui, sans-serif", padding: "1.5rem" }}>
      <h1>Pages Router</h1>
      <p>
        State: <b>{state}</b> · {subscribed ? "subscribed to room:lobby" : "subscribing…"} · {count}{" "}
        messages since this page opened
      </p>
    </main>
  );
}
