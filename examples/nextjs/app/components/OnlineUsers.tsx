"use client";

import { useEffect, useState } from "react";

/** Who is online, as the backend events told the server (app/api/switchboard-events/route.ts). */
export function OnlineUsers() {
  const [users, setUsers] = useState<string[] | null>(null);

  useEffect(() => {
    let stopped = false;
    async function refresh() {
      try {
        const response = await fetch("/api/switchboard-events", { cache: "no-store" });
        if (response.ok && !stopped) setUsers(((await response.json()) as { users: string[] }).users);
      } catch {
        // offline: keep what is shown, try again on the next tick
      }
    }
    void refresh();
    const timer = setInterval(refresh, 1000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);

  return (
    <aside>
      <h2>Online</h2>
      {users === null ? (
        <p className="online-loading">…</p>
      ) : (
        <ul className="online" aria-label="online users">
          {users.map((user) => (
            <li key={user}>{user}</li>
          ))}
        </ul>
      )}
    </aside>
  );
}
