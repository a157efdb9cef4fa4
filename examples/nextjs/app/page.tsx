import { currentUser } from "@/lib/session";
import { Chat } from "./components/Chat";
import { SignIn } from "./components/SignIn";

export default async function Home() {
  const user = await currentUser();
  return (
    <main>
      <h1>Switchboard chat</h1>
      {user ? <Chat user={user} /> : <SignIn />}
    </main>
  );
}
