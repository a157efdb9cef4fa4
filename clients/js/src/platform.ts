/**
 * Everything the client needs from its host: the WebSocket constructor, fetch, timers, a random
 * source and the browser's online/offline and visibility signals. Nothing here is read until
 * `connect()`, so importing the client during server rendering touches no browser API; tests
 * replace any part.
 */

/** The part of a WebSocket the client uses (the browser's and the `ws` package's both fit). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  // `any` so that the DOM's and other implementations' handler types are accepted.
  /* eslint-disable @typescript-eslint/no-explicit-any */
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  /* eslint-enable @typescript-eslint/no-explicit-any */
}

export type SocketConstructor = new (url: string, protocols?: string | string[]) => SocketLike;

/** The part of a fetch response the client reads. */
export interface TokenResponse {
  readonly status: number;
  readonly ok: boolean;
  json(): Promise<unknown>;
}

export type FetchLike = (
  url: string,
  init: { credentials: "include"; cache: "no-store"; headers: Record<string, string> },
) => Promise<TokenResponse>;

/** A browser signal the client reacts to; `visible` is `visibilitychange` to visible. */
export type PlatformEvent = "online" | "offline" | "visible";

export interface Platform {
  WebSocket: SocketConstructor;
  fetch: FetchLike;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
  random(): number;
  /** A random UUID for publish keys; the default is `crypto.randomUUID()` where it exists. */
  randomUUID?(): string;
  /** `false` when the browser says it is offline (`navigator.onLine`). */
  isOnline(): boolean;
  /** Subscribe to a browser signal; returns the function that unsubscribes. */
  listen(event: PlatformEvent, callback: () => void): () => void;
}

interface BrowserGlobals {
  WebSocket?: SocketConstructor;
  fetch?: FetchLike;
  navigator?: { onLine?: boolean };
  addEventListener?: (type: string, callback: () => void) => void;
  removeEventListener?: (type: string, callback: () => void) => void;
  document?: {
    visibilityState?: string;
    addEventListener(type: string, callback: () => void): void;
    removeEventListener(type: string, callback: () => void): void;
  };
}

/** The host's platform (the browser's), with `overrides` winning. Call only from `connect()`. */
export function resolvePlatform(overrides: Partial<Platform> = {}): Platform {
  const g = globalThis as unknown as BrowserGlobals;
  const defaults: Platform = {
    get WebSocket(): SocketConstructor {
      if (typeof g.WebSocket !== "function") {
        throw new Error("@switchboard/client: no WebSocket here; pass platform.WebSocket");
      }
      return g.WebSocket;
    },
    fetch: (url, init) => {
      if (typeof g.fetch !== "function") {
        throw new Error("@switchboard/client: no fetch here; pass platform.fetch or getToken");
      }
      return g.fetch(url, init);
    },
    setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
    clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
    now: () => Date.now(),
    random: () => Math.random(),
    isOnline: () => g.navigator?.onLine !== false,
    listen: (event, callback) => listenToBrowser(g, event, callback),
  };
  const platform = Object.create(defaults) as Platform;
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) Object.defineProperty(platform, key, { value, enumerable: true });
  }
  return platform;
}

function listenToBrowser(g: BrowserGlobals, event: PlatformEvent, callback: () => void): () => void {
  if (event === "visible") {
    const doc = g.document;
    if (!doc) return () => {};
    const onChange = (): void => {
      if (doc.visibilityState === "visible") callback();
    };
    doc.addEventListener("visibilitychange", onChange);
    return () => doc.removeEventListener("visibilitychange", onChange);
  }
  if (typeof g.addEventListener !== "function") return () => {};
  g.addEventListener(event, callback);
  return () => g.removeEventListener?.(event, callback);
}
