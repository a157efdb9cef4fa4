/**
 * The connection state machine: the client's one state value and the table of the transitions
 * between states. It owns nothing else (no socket, no timer): the connection manager fires an
 * event when something happens, and the table says which state that leads to. An event the
 * table does not list for the current state is refused: the state stays and `fire` returns
 * `false` (e.g. a second `connect()` while open, or a late socket event after `close()`).
 */

/** The connection states; `client.state` holds one and the `state` event reports changes. */
export type ConnectionState =
  | "idle" // created, `connect()` not called yet
  | "connecting" // the first attempt: fetching a token, opening the socket
  | "open" // connected; requests are sent at once
  | "reconnecting" // the socket dropped: waiting out the backoff or trying again
  | "offline" // the browser is offline: waiting for its `online` event
  | "unauthorized" // the token endpoint answered 401/403: stopped until `connect()`
  | "closed"; // `close()` was called

/** What happens to a connection, as the connection manager reports it to the machine. */
export type ConnectionEvent =
  | "start" // connect() while the browser is online
  | "startOffline" // connect() while the browser is offline
  | "opened" // the current socket opened (or a planned swap's socket took over)
  | "lost" // an attempt failed or the socket closed: a retry is scheduled or under way
  | "wentOffline" // the browser is offline and no socket is left: wait for `online`
  | "retry" // try again now (online again, the tab visible again, the retry timer fired)
  | "refused" // the token endpoint refused the user (401/403)
  | "close"; // close()

/** Every legal transition: `TRANSITIONS[state][event]` is the next state. */
export const TRANSITIONS: Readonly<
  Record<ConnectionState, Readonly<Partial<Record<ConnectionEvent, ConnectionState>>>>
> = {
  idle: { start: "connecting", startOffline: "offline", close: "closed" },
  connecting: {
    opened: "open",
    lost: "reconnecting",
    wentOffline: "offline",
    refused: "unauthorized",
    close: "closed",
  },
  open: {
    opened: "open", // a planned swap's new socket takes over: no visible change
    lost: "reconnecting",
    wentOffline: "offline",
    refused: "unauthorized",
    close: "closed",
  },
  reconnecting: {
    opened: "open",
    lost: "reconnecting",
    wentOffline: "offline",
    retry: "reconnecting",
    refused: "unauthorized",
    close: "closed",
  },
  offline: {
    lost: "offline", // a retry scheduled while offline keeps waiting for `online`
    wentOffline: "offline",
    retry: "reconnecting",
    refused: "unauthorized",
    close: "closed",
  },
  unauthorized: { start: "connecting", startOffline: "offline", close: "closed" },
  closed: { start: "connecting", startOffline: "offline", close: "closed" },
};

export type StateListener = (state: ConnectionState, previous: ConnectionState) => void;

/** One connection's state, changed only through `fire` and the table above. */
export class ConnectionStateMachine {
  private current: ConnectionState;

  /** `onChange` hears every change of state (not the transitions that keep the state). */
  constructor(
    private readonly onChange: StateListener = () => {},
    initial: ConnectionState = "idle",
  ) {
    this.current = initial;
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** Whether `event` is legal in the current state. */
  can(event: ConnectionEvent): boolean {
    return TRANSITIONS[this.current][event] !== undefined;
  }

  /** Apply `event`: `true` if the table allows it (the state may stay the same), else `false`. */
  fire(event: ConnectionEvent): boolean {
    const next = TRANSITIONS[this.current][event];
    if (next === undefined) return false;
    const previous = this.current;
    if (next !== previous) {
      this.current = next;
      this.onChange(next, previous);
    }
    return true;
  }
}
