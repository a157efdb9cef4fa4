"use server";
/**
 * Server actions. `announce` publishes from the server (through `@switchboard/server` and the
 * HTTP API), as a backend does after a database write: the message comes with `from` set to the
 * server's name, and its idempotency key makes a retried action publish once.
 */
import { SwitchboardServerError } from "@switchboard/server";
import { currentUser } from "@/lib/session";
import { switchboard } from "@/lib/switchboard";

export interface AnnounceResult {
  seq?: number;
  error?: string;
}

const ROOM = /^room:[A-Za-z0-9_\-:.@=]{1,64}$/;

export async function announce(channel: string, text: string, requestId: string): Promise<AnnounceResult> {
  const user = await currentUser();
  if (!user) return { error: "not signed in" };
  if (!ROOM.test(channel) || typeof text !== "string" || text.trim() === "" || text.length > 500) {
    return { error: "an announcement needs a room and 1 to 500 characters" };
  }
  try {
    const result = await switchboard.publish(
      channel,
      { text: `📣 ${text}`, announcedBy: user },
      { idempotencyKey: `announce-${user}-${requestId}`.slice(0, 256) },
    );
    return { seq: result.seq };
  } catch (error) {
    if (error instanceof SwitchboardServerError) return { error: error.message };
    throw error;
  }
}
