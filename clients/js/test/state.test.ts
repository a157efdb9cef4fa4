import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ConnectionStateMachine,
  TRANSITIONS,
  type ConnectionEvent,
  type ConnectionState,
} from "../src/state.js";

const STATES: ConnectionState[] = ["idle", "connecting", "open", "reconnecting", "offline", "unauthorized", "closed"];
const EVENTS: ConnectionEvent[] = ["start", "startOffline", "opened", "lost", "wentOffline", "retry", "refused", "close"];

/**
 * The legal transitions, written out independently of src/state.ts's table (the oracle is the
 * behaviour docs/client.md describes, not the table itself). Every pair not listed is refused.
 */
const LEGAL: ReadonlyArray<[ConnectionState, ConnectionEvent, ConnectionState]> = [
  ["idle", "start", "connecting"],
  ["idle", "startOffline", "offline"],
  ["idle", "close", "closed"],
  ["connecting", "opened", "open"],
  ["connecting", "lost", "reconnecting"],
  ["connecting", "wentOffline", "offline"],
  ["connecting", "refused", "unauthorized"],
  ["connecting", "close", "closed"],
  ["open", "opened", "open"],
  ["open", "lost", "reconnecting"],
  ["open", "wentOffline", "offline"],
  ["open", "refused", "unauthorized"],
  ["open", "close", "closed"],
  ["reconnecting", "opened", "open"],
  ["reconnecting", "lost", "reconnecting"],
  ["reconnecting", "wentOffline", "offline"],
  ["reconnecting", "retry", "reconnecting"],
  ["reconnecting", "refused", "unauthorized"],
  ["reconnecting", "close", "closed"],
  ["offline", "lost", "offline"],
  ["offline", "wentOffline", "offline"],
  ["offline", "retry", "reconnecting"],
  ["offline", "refused", "unauthorized"],
  ["offline", "close", "closed"],
  ["unauthorized", "start", "connecting"],
  ["unauthorized", "startOffline", "offline"],
  ["unauthorized", "close", "closed"],
  ["closed", "start", "connecting"],
  ["closed", "startOffline", "offline"],
  ["closed", "close", "closed"],
];

function legal(state: ConnectionState, event: ConnectionEvent): ConnectionState | undefined {
  return LEGAL.find(([from, on]) => from === state && on === event)?.[2];
}

describe("connection state machine: the transition table", () => {
  it("lists exactly the legal transitions", () => {
    const table: string[] = [];
    for (const state of STATES) {
      for (const [event, next] of Object.entries(TRANSITIONS[state])) table.push(`${state} -${event}-> ${next}`);
    }
    assert.deepEqual(table.sort(), LEGAL.map(([from, on, to]) => `${from} -${on}-> ${to}`).sort());
  });

  for (const state of STATES) {
    for (const event of EVENTS) {
      const next = legal(state, event);
      const name = next ? `${state} + ${event} -> ${next}` : `${state} + ${event} is refused`;
      it(name, () => {
        const changes: Array<[ConnectionState, ConnectionState]> = [];
        const machine = new ConnectionStateMachine((to, from) => changes.push([to, from]), state);
        assert.equal(machine.can(event), next !== undefined);
        assert.equal(machine.fire(event), next !== undefined);
        assert.equal(machine.state, next ?? state);
        // A change is reported once, with its previous state; staying (or refusing) reports nothing.
        assert.deepEqual(changes, next !== undefined && next !== state ? [[next, state]] : []);
      });
    }
  }

  it("starts idle and follows a whole life: connect, drop, offline, online, refusal, reconnect, close", () => {
    const seen: string[] = [];
    const machine = new ConnectionStateMachine((to, from) => seen.push(`${from}>${to}`));
    assert.equal(machine.state, "idle");
    const events: ConnectionEvent[] = ["start", "opened", "lost", "wentOffline", "retry", "opened", "refused", "start", "opened", "close"];
    for (const event of events) assert.equal(machine.fire(event), true, event);
    assert.deepEqual(seen, [
      "idle>connecting",
      "connecting>open",
      "open>reconnecting",
      "reconnecting>offline",
      "offline>reconnecting",
      "reconnecting>open",
      "open>unauthorized",
      "unauthorized>connecting",
      "connecting>open",
      "open>closed",
    ]);
  });

  it("ignores late socket events after close and a second connect while open", () => {
    const machine = new ConnectionStateMachine(() => {}, "closed");
    for (const event of ["opened", "lost", "wentOffline", "retry", "refused"] as const) {
      assert.equal(machine.fire(event), false, event);
      assert.equal(machine.state, "closed");
    }
    const open = new ConnectionStateMachine(() => {}, "open");
    assert.equal(open.fire("start"), false);
    assert.equal(open.fire("startOffline"), false);
    assert.equal(open.state, "open");
  });
});
