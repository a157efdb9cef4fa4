import { SwitchboardServerError } from "@switchboard/server";
import { currentUser } from "@/lib/session";
import { LOBBY, switchboard } from "@/lib/switchboard";
import { Chat, type InitialHistory } from "./components/Chat";
import { OnlineUsers } from "./components/OnlineUsers";
import { SignIn } from "./components/SignIn";

/**
 * The page renders the lobby's last messages on the server and hands their position to the
 * client, which subscribes from it: nothing published between this render and the socket is
 * lost (the subscribe replays it).
 */
async function lobbyHistory(): Promise<InitialHistory> {
  try {
    const page = await switchboard.history<{ text?: unknown }>(LOBBY, { limit: 50 });
    return { channel: LOBBY, messages: page.messages, seq: page.seq, epoch: page.epoch, error: null };
  } catch (error) {
    if (!(error instanceof SwitchboardServerError)) throw error;
    return { channel: LOBBY, messages: [], seq: undefined, epoch: null, error: error.message };
  }
}

export default async function Home() {
  const user = await currentUser();
  return (
    <main>
      <h1>Switchboard chat</h1>
      {user ? <Chat user={user} initial={await lobbyHistory()} /> : <SignIn />}
      {user && <OnlineUsers />}
    </main>
  );
}
