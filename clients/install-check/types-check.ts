// TypeScript (NodeNext resolution, strict): the packages' types resolve, the `react` entry's
// included. The @ts-expect-error lines fail the check if a type degraded to `any`.
import { createClient, type ConnectionState, type SwitchboardClient, HandshakeError } from "@switchboard/client";
import { useChannel, useConnectionError, useRpc, type ChannelStatus, type UseRpcResult } from "@switchboard/client/react";
import { createSwitchboard, type PublishResult, type HistoryPage, UnauthorizedError } from "@switchboard/server";

const client: SwitchboardClient = createClient({ url: "wss://example.test/prod", authUrl: "/api/ws-token" });
const state: ConnectionState = client.state;
// @ts-expect-error: not a state
const wrong: ConnectionState = "connected";
const error: HandshakeError = new HandshakeError(1006);
const code: number = error.closeCode;

type Hook = typeof useChannel;
const status: ReturnType<Hook> = { subscribed: false, error: null } satisfies ChannelStatus;
const problem: ReturnType<typeof useConnectionError> = null;
type Recent = UseRpcResult<Array<{ text: string }>, { channel: string }>;
const recent: Recent["result"] = [{ text: "hi" }];
// @ts-expect-error: the result keeps its type (not any)
const notRecent: Recent["result"] = 42;
// @ts-expect-error: so do the params
const badCall: Recent["call"] = (params?: number) => Promise.resolve([{ text: String(params) }]);
const rpcHook: (method: string) => UseRpcResult<unknown, unknown> = useRpc;

const switchboard = createSwitchboard({ secret: "s", url: "http://localhost:3001" });
async function use(): Promise<void> {
  const published: PublishResult = await switchboard.publish("room:a", { text: "hi" }, { idempotencyKey: "k" });
  const seq: number = published.seq;
  const page: HistoryPage<{ text: string }> = await switchboard.history<{ text: string }>("room:a", { limit: 5 });
  const first: string | undefined = page.messages[0]?.data.text;
  // @ts-expect-error: the options take no such field
  await switchboard.publish("room:a", 1, { idempotency: "k" });
  // @ts-expect-error: createToken needs a userId
  await switchboard.createToken({ channels: [] });
  const status401: number = new UnauthorizedError("unauthorized", "no", 401).status;
  void [seq, first, status401];
}
void [state, wrong, code, status, problem, recent, notRecent, badCall, rpcHook, use];
