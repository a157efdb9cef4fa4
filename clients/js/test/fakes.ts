/** Small fakes for the client tests: a manual clock, scripted sockets and browser signals. */
import assert from "node:assert/strict";
import { createClient, type ClientOptions, type SwitchboardClient } from "../src/index.js";
import type { FetchLike, Platform, PlatformEvent } from "../src/platform.js";

/** Let pending promise callbacks and I/O-free async steps run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

interface Timer {
  id: number;
  at: number;
  callback: () => void;
}

/** Timers that only fire when the test advances the clock. */
export class FakeClock {
  now = 0;
  private counter = 0;
  private readonly timers = new Map<number, Timer>();

  setTimeout = (callback: () => void, ms: number): unknown => {
    const id = ++this.counter;
    this.timers.set(id, { id, at: this.now + Math.max(0, ms), callback });
    return id;
  };

  clearTimeout = (handle: unknown): void => {
    this.timers.delete(handle as number);
  };

  /** The delays, from now, of the timers still waiting. */
  pending(): number[] {
    return [...this.timers.values()].map((timer) => timer.at - this.now).sort((a, b) => a - b);
  }

  /** Move time forward by `ms`, firing due timers in order (and letting promises settle). */
  async advance(ms: number): Promise<void> {
    const target = this.now + ms;
    for (;;) {
      await flush();
      let due: Timer | undefined;
      for (const timer of this.timers.values()) {
        if (timer.at <= target && (!due || timer.at < due.at || (timer.at === due.at && timer.id < due.id))) {
          due = timer;
        }
      }
      if (!due) break;
      this.timers.delete(due.id);
      this.now = due.at;
      due.callback();
    }
    this.now = target;
    await flush();
  }
}

export interface SentFrame {
  action: string;
  id: string;
  channel?: string;
  data?: unknown;
  since?: number;
  epoch?: string;
  rewind?: number;
}

/** A WebSocket whose server side the test plays. */
export class FakeSocket {
  readyState = 0;
  readonly sent: SentFrame[] = [];
  readonly closeCalls: Array<{ code?: number; reason?: string }> = [];
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {}

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("InvalidStateError: not open");
    this.sent.push(JSON.parse(data) as SentFrame);
  }

  close(code?: number, reason?: string): void {
    this.closeCalls.push({ code, reason });
    if (this.readyState === 3) return;
    this.readyState = 3;
    const onclose = this.onclose;
    queueMicrotask(() => onclose?.({ code: code ?? 1005, reason: reason ?? "" }));
  }

  // --- the server's side ---

  /** The handshake succeeds. */
  accept(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  /** The socket drops (or the handshake fails: browsers report both as 1006). */
  drop(code = 1006, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  receive(frame: unknown): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  /** Frames sent with `action` (every frame when omitted). */
  frames(action?: string): SentFrame[] {
    return action ? this.sent.filter((frame) => frame.action === action) : [...this.sent];
  }

  last(action: string): SentFrame {
    const frames = this.frames(action);
    const frame = frames[frames.length - 1];
    if (!frame) throw new Error(`no ${action} frame was sent (sent: ${JSON.stringify(this.sent)})`);
    return frame;
  }

  ack(frame: SentFrame, extra: Record<string, unknown> = {}): void {
    this.receive({ type: "ack", id: frame.id, ...extra });
  }

  /** Answer every ping not answered yet. */
  pong(connectionId = "conn-1"): void {
    for (const frame of this.frames("ping").filter((f) => !this.answered.has(f.id))) {
      this.answered.add(frame.id);
      this.receive({ type: "pong", id: frame.id, connectionId });
    }
  }

  message(channel: string, seq: number, data: unknown = { n: seq }): void {
    this.receive({ type: "message", channel, data, seq, from: "u", ts: 1 });
  }

  private readonly answered = new Set<string>();
}

/** The browser's online/offline and visibility signals. */
export class FakeBrowser {
  online = true;
  private readonly listeners = new Map<PlatformEvent, Set<() => void>>();

  listen = (event: PlatformEvent, callback: () => void): (() => void) => {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(callback);
    return () => set.delete(callback);
  };

  emit(event: PlatformEvent): void {
    if (event === "online") this.online = true;
    if (event === "offline") this.online = false;
    for (const callback of [...(this.listeners.get(event) ?? [])]) callback();
  }

  listenerCount(): number {
    let count = 0;
    for (const set of this.listeners.values()) count += set.size;
    return count;
  }
}

export interface Harness {
  client: SwitchboardClient;
  /** The options `client` was created with (fakes included), to create more clients alike. */
  options: ClientOptions;
  clock: FakeClock;
  browser: FakeBrowser;
  sockets: FakeSocket[];
  states: string[];
  tokens: string[];
  socket(): FakeSocket;
}

/** A client wired to fakes; `getToken` hands out token-1, token-2, ... unless overridden. */
export function harness(options: Partial<ClientOptions> = {}, fetch?: FetchLike): Harness {
  const clock = new FakeClock();
  const browser = new FakeBrowser();
  const sockets: FakeSocket[] = [];
  const tokens: string[] = [];
  const getToken = async (): Promise<string> => {
    const token = `token-${tokens.length + 1}`;
    tokens.push(token);
    return token;
  };
  const clientOptions: ClientOptions = {
    url: "wss://example.test/prod",
    ...(options.authUrl ? {} : { getToken }),
    ...options,
    platform: {
      ...fakePlatform(clock, sockets, browser),
      ...(fetch && { fetch }),
      ...options.platform,
    },
  };
  const client = createClient(clientOptions);
  const states: string[] = [];
  client.on("state", ({ state }) => states.push(state));
  return {
    client,
    options: clientOptions,
    clock,
    browser,
    sockets,
    states,
    tokens,
    socket() {
      const socket = sockets[sockets.length - 1];
      if (!socket) throw new Error("no socket was opened");
      return socket;
    },
  };
}

/** Connect and complete the handshake; answers the client's first ping. */
export async function connected(h: Harness, connectionId = "conn-1"): Promise<FakeSocket> {
  if (h.client.state === "idle" || h.client.state === "closed") h.client.connect();
  await flush();
  const socket = h.socket();
  socket.accept();
  socket.pong(connectionId);
  await flush();
  return socket;
}

/** Subscribe on an open socket and ack the subscribe with `fields` (e.g. its `epoch` and `seq`). */
export async function subscribed(
  socket: FakeSocket,
  subscribe: () => Promise<unknown>,
  fields: Record<string, unknown>,
): Promise<void> {
  const done = subscribe();
  await flush();
  socket.ack(socket.last("subscribe"), fields);
  await done;
}

/** Let the scheduled reconnect fire (whatever its jittered delay). */
export async function retry(h: Harness): Promise<void> {
  const delay = h.clock.pending()[0];
  assert.notEqual(delay, undefined, "a reconnect should be scheduled");
  await h.clock.advance(delay!);
}

/** Let the scheduled reconnect fire and accept its socket (the server answers the upgrade). */
export async function reopened(h: Harness): Promise<FakeSocket> {
  await retry(h);
  const socket = h.socket();
  socket.accept();
  return socket;
}

/** A whole platform on fakes, for the module tests (sockets land in `sockets`). */
export function fakePlatform(clock = new FakeClock(), sockets: FakeSocket[] = [], browser = new FakeBrowser()): Platform {
  class Socket extends FakeSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      sockets.push(this);
    }
  }
  return {
    WebSocket: Socket,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    now: () => clock.now,
    random: () => 0.5,
    isOnline: () => browser.online,
    listen: browser.listen,
    fetch: () => Promise.reject(new Error("no fetch in this test")),
  };
}
