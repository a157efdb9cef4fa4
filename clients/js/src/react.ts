"use client";
/**
 * React bindings for `@switchboard/client`: a provider for the root layout (App Router) or
 * `_app.tsx` (Pages Router), so one connection survives route changes, and hooks on top of it.
 *
 * ```tsx
 * // app/layout.tsx (a server component may render it: the props are plain strings)
 * <RealtimeProvider url={process.env.NEXT_PUBLIC_WS_URL!} authUrl="/api/ws-token">
 *   {children}
 * </RealtimeProvider>
 * ```
 *
 * Rendering on the server creates the client but never connects it: the connection starts in an
 * effect, which runs only in the browser.
 */
import {
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useRef,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from "react";
import {
  createClient,
  type ChannelMessage,
  type ClientOptions,
  type ConnectionState,
  type DirectMessage,
  type PublishAck,
  type PublishOptions,
  type SubscribeOptions,
  type SwitchboardClient,
} from "./client.js";
import { ServerError, type SwitchboardError } from "./errors.js";
import { followMembers, type PresenceState } from "./members.js";

const RealtimeContext = createContext<SwitchboardClient | null>(null);

export type RealtimeProviderProps = Partial<ClientOptions> & {
  /** Use this client instead of creating one (the provider then never closes it). */
  client?: SwitchboardClient;
  children?: ReactNode;
};

/**
 * Holds one client for the whole app and connects it in the browser. Pass `url` with `authUrl`
 * (or `getToken`), or a ready `client`. Changing the options after the first render has no
 * effect; remount the provider (e.g. with a `key`) to switch servers.
 */
export function RealtimeProvider(props: RealtimeProviderProps): ReactNode {
  const { client: given, children, ...options } = props;
  const [client] = useState<SwitchboardClient>(() => given ?? createClient(options as ClientOptions));
  useEffect(() => {
    client.connect();
    if (given) return undefined;
    return () => client.close();
  }, [client, given]);
  return createElement(RealtimeContext.Provider, { value: client }, children);
}

/** The provider's client. Throws outside a `<RealtimeProvider>`. */
export function useRealtimeClient(): SwitchboardClient {
  const client = useContext(RealtimeContext);
  if (!client) throw new Error("useRealtimeClient: wrap the app in <RealtimeProvider>");
  return client;
}

/** A value of the client that `event` reports changes of, re-rendering on change. */
function useClientValue<T>(event: "state" | "connectionError", read: (client: SwitchboardClient) => T, onServer: T): T {
  const client = useRealtimeClient();
  const subscribe = useCallback((onChange: () => void) => client.on(event, onChange), [client, event]);
  return useSyncExternalStore(
    subscribe,
    () => read(client),
    () => onServer,
  );
}

/** The connection state, re-rendering on change (`"idle"` while rendering on the server). */
export function useConnectionState(): ConnectionState {
  return useClientValue("state", (client) => client.state, "idle");
}

/**
 * Why the client cannot connect, re-rendering on change; `null` while connected (and while
 * rendering on the server). Show it next to the state: a `HandshakeError` (the server refused
 * the token or Origin, or is unreachable), a `token_failed` error with the token endpoint's
 * message (e.g. "WS_SECRET is not set on the server"), or the `UnauthorizedError` that stopped
 * the client (`state` is then `unauthorized`).
 */
export function useConnectionError(): SwitchboardError | null {
  return useClientValue("connectionError", (client) => client.connectionError, null);
}

export interface UseChannelOptions {
  /** Called when the server could not replay missed messages: reload the channel's state. */
  onReset?: (event: { channel: string; epoch: string | undefined; seq: number | undefined }) => void;
  /**
   * Resume from this position (e.g. a server-rendered page's `history` read): the first
   * subscribe replays what was published after it. Read when the effect subscribes; ignored if
   * the channel is already subscribed.
   */
  since?: number;
  epoch?: string | null;
  /**
   * Receive the channel's last `rewind` kept messages (0-100) through `onMessage` before the
   * live ones, e.g. a chat opening with its last 20 messages. Only the first subscribe rewinds;
   * a reconnect resumes with `since`. Not with `since`; read when the effect subscribes.
   */
  rewind?: number;
}

export interface ChannelStatus {
  /**
   * The server has confirmed the subscription on the current socket: `false` from the moment
   * the connection drops until the resubscribe on the next socket is acknowledged.
   */
  subscribed: boolean;
  /** Why the subscription failed (e.g. a `ServerError` with code `forbidden`). */
  error: Error | null;
}

/**
 * Subscribe to `channel` while the component is mounted; `onMessage` may change on every render
 * (the latest one is called). Pass `null` as the channel to subscribe to nothing.
 */
export function useChannel<T = unknown>(
  channel: string | null,
  onMessage: (message: ChannelMessage<T>) => void,
  options: UseChannelOptions = {},
): ChannelStatus {
  const client = useRealtimeClient();
  const { onReset, since, epoch, rewind } = options;
  const current = { onMessage, onReset, since, epoch, rewind };
  const latest = useRef(current);
  latest.current = current;
  const [status, setStatus] = useState<ChannelStatus>({ subscribed: false, error: null });

  useEffect(() => {
    if (channel === null) return undefined;
    let active = true;
    setStatus({ subscribed: false, error: null });
    const handler = (message: ChannelMessage<T>): void => latest.current.onMessage(message);
    const stopReset = client.on("reset", (event) => {
      if (event.channel === channel) latest.current.onReset?.(event);
    });
    const stopState = client.on("state", ({ state }) => {
      if (active && state !== "open") {
        setStatus((known) => (known.subscribed ? { subscribed: false, error: known.error } : known));
      }
    });
    const stopSubscribed = client.on("subscribed", (event) => {
      if (active && event.channel === channel) setStatus({ subscribed: true, error: null });
    });
    // the server ended the subscription (a refreshAuth() token no longer allows the channel)
    const stopEnded = client.on("unsubscribed", (event) => {
      if (active && event.channel === channel) {
        setStatus({ subscribed: false, error: new ServerError(event.reason, `the server ended the subscription of ${channel}`) });
      }
    });
    const start = latest.current;
    const subscribeOptions: SubscribeOptions =
      start.since !== undefined ? { since: start.since, epoch: start.epoch } : {};
    if (start.rewind !== undefined) subscribeOptions.rewind = start.rewind;
    client.subscribe<T>(channel, handler, subscribeOptions).then(
      () => {
        if (active) setStatus({ subscribed: true, error: null });
      },
      (error: Error) => {
        if (active) setStatus({ subscribed: false, error });
      },
    );
    return () => {
      active = false;
      stopReset();
      stopState();
      stopSubscribed();
      stopEnded();
      client.unsubscribe(channel, handler as (message: ChannelMessage) => void).catch(() => {
        // Unsubscribing is best-effort: the server drops subscriptions with the connection.
      });
    };
  }, [client, channel]);

  return status;
}

/** A stable `publish(channel, data, options?)` bound to the provider's client. */
export function usePublish(): (
  channel: string,
  data: unknown,
  options?: PublishOptions,
) => Promise<PublishAck> {
  const client = useRealtimeClient();
  return useCallback(
    (channel: string, data: unknown, options?: PublishOptions) =>
      client.publish(channel, data, options),
    [client],
  );
}

/** What `useRpc` shows: the latest call's outcome. */
export interface RpcState<T> {
  /** The latest call's result, once it resolved (kept while a newer call is pending). */
  result: T | undefined;
  /** Why the latest call failed: an `RpcError`, `TimeoutError` or `ConnectionLostError`. */
  error: Error | null;
  /** A call is in flight. */
  pending: boolean;
}

export interface UseRpcResult<T, P> extends RpcState<T> {
  /**
   * Call the method (`client.rpc(method, params)`); stable for one method. Returns the call's
   * own promise, which settles even when the call is superseded (the state then ignores it):
   * await it for the value, or ignore it (its rejection is handled).
   */
  call: (params?: P) => Promise<T>;
  /** Back to idle; a call still in flight is ignored. */
  reset: () => void;
}

interface RpcSlot<T> extends RpcState<T> {
  client: SwitchboardClient | null;
  method: string;
}

const IDLE_RPC: RpcSlot<never> = { client: null, method: "", result: undefined, error: null, pending: false };

/**
 * Call the app's `rpc` hook `method` from a component: `const { call, result, error, pending }
 * = useRpc<Result, Params>("recent")`, then `call(params)` (e.g. in an event handler or an
 * effect). The state is that of the latest call: a call superseded by a newer one, or settling
 * after unmount or after a `method` change, changes nothing. StrictMode-safe.
 */
export function useRpc<T = unknown, P = unknown>(method: string): UseRpcResult<T, P> {
  const client = useRealtimeClient();
  const [slot, setSlot] = useState<RpcSlot<T>>(IDLE_RPC);
  const latest = useRef(0); // the id of the latest call (or reset); an older one is ignored
  const mounted = useRef(false);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const call = useCallback(
    (params?: P): Promise<T> => {
      const id = ++latest.current;
      const settle = (outcome: Pick<RpcState<T>, "result" | "error">): void => {
        if (mounted.current && latest.current === id) setSlot({ client, method, pending: false, ...outcome });
      };
      setSlot((known) => ({
        client,
        method,
        result: known.client === client && known.method === method ? known.result : undefined,
        error: null,
        pending: true,
      }));
      const promise = client.rpc<T>(method, params);
      promise.then(
        (result) => settle({ result, error: null }),
        (error: Error) => settle({ result: undefined, error }),
      );
      return promise;
    },
    [client, method],
  );
  const reset = useCallback(() => {
    latest.current += 1;
    setSlot(IDLE_RPC);
  }, []);

  // the state of another method (or client) is not this one's: idle until its first call
  const shown: RpcState<T> = slot.client === client && slot.method === method ? slot : IDLE_RPC;
  return { result: shown.result, error: shown.error, pending: shown.pending, call, reset };
}

export type { PresenceState } from "./members.js";

const NO_PRESENCE: PresenceState<never> = { members: [], status: "idle", error: null };

/**
 * The members of a presence channel (`presence-` prefix) while the component is mounted: it
 * subscribes to the channel, reads the member list once the subscription is confirmed, then
 * follows `join` (adds or updates the user) and `leave` (removes the user). The list is read
 * again after every resubscribe (a reconnect, a planned socket swap, a `reset`), since joins and
 * leaves are not replayed. Pass `null` for no channel. The following itself is members.ts's.
 */
export function usePresence<T = unknown>(channel: string | null): PresenceState<T> {
  const client = useRealtimeClient();
  const [state, setState] = useState<PresenceState<T>>(NO_PRESENCE);

  useEffect(() => {
    if (channel === null) {
      setState(NO_PRESENCE);
      return undefined;
    }
    const follower = followMembers<T>(client, channel, { onChange: setState });
    return () => follower.stop();
  }, [client, channel]);

  return state;
}

/**
 * Call `onMessage` with every `direct` message the app's backend sends to this user
 * (`POST /users/{user}/messages`) while the component is mounted; `onMessage` may change on
 * every render.
 */
export function useDirectMessages<T = unknown>(onMessage: (message: DirectMessage<T>) => void): void {
  const client = useRealtimeClient();
  const latest = useRef(onMessage);
  latest.current = onMessage;
  useEffect(
    () => client.on("direct", (message) => latest.current(message as DirectMessage<T>)),
    [client],
  );
}
