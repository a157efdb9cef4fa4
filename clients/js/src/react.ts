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
  type PublishAck,
  type SwitchboardClient,
} from "./client.js";

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

/** The connection state, re-rendering on change (`"idle"` while rendering on the server). */
export function useConnectionState(): ConnectionState {
  const client = useRealtimeClient();
  const subscribe = useCallback(
    (onChange: () => void) => client.on("state", onChange),
    [client],
  );
  return useSyncExternalStore(
    subscribe,
    () => client.state,
    () => "idle",
  );
}

export interface UseChannelOptions {
  /** Called when the server could not replay missed messages: reload the channel's state. */
  onReset?: (event: { channel: string; epoch: string | undefined; seq: number | undefined }) => void;
}

export interface ChannelStatus {
  /** The server has confirmed the subscription. */
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
  const latest = useRef({ onMessage, onReset: options.onReset });
  latest.current = { onMessage, onReset: options.onReset };
  const [status, setStatus] = useState<ChannelStatus>({ subscribed: false, error: null });

  useEffect(() => {
    if (channel === null) return undefined;
    let active = true;
    setStatus({ subscribed: false, error: null });
    const handler = (message: ChannelMessage<T>): void => latest.current.onMessage(message);
    const stopReset = client.on("reset", (event) => {
      if (event.channel === channel) latest.current.onReset?.(event);
    });
    client.subscribe<T>(channel, handler).then(
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
      client.unsubscribe(channel, handler as (message: ChannelMessage) => void).catch(() => {
        // Unsubscribing is best-effort: the server drops subscriptions with the connection.
      });
    };
  }, [client, channel]);

  return status;
}

/** A stable `publish(channel, data)` bound to the provider's client. */
export function usePublish(): (channel: string, data: unknown) => Promise<PublishAck> {
  const client = useRealtimeClient();
  return useCallback((channel: string, data: unknown) => client.publish(channel, data), [client]);
}
