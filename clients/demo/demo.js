// The demo page's logic. Everything is also reachable from `window.demo`, so a browser test can
// drive the page: `demo.connect(user, channel)`, `demo.publish(data)`, `demo.messages`,
// `demo.states`, `demo.subscriptions`, `demo.resets`, `demo.members`, `demo.presence`,
// `demo.direct`, `demo.client`.
//
// On a presence channel (name starting with `presence-`) the page lists who is there, followed by
// the client's member-list follower (clients/js/src/members.ts, the same one as `usePresence`):
// the member list read after every subscribe ack and reset, kept up to date from `join` and `leave`.
//
// URL parameters: `user`, `channel`, `autoconnect=1`, `ws` (the WebSocket URL; default: this
// page's host), `token_url` (default `/dev/token`; the user is added as `?user=`),
// `transport=query` (send the token as a query parameter instead of a subprotocol).
import { createClient } from "/client/index.js";
import { followMembers } from "/client/members.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const demo = {
  client: null,
  user: null,
  channel: null,
  /** Every message received, as delivered by the client: {channel, data, seq, from, ts}. */
  messages: [],
  /** Every state the client went through. */
  states: [],
  /** Every confirmed subscribe (the ack): {channel, epoch, seq}. */
  subscriptions: [],
  /** `reset` events (history lost beyond recovery). */
  resets: [],
  errors: [],
  /** On a presence channel: who is there, [{user, data, connections}]. */
  members: [],
  /** On a presence channel: every `join` and `leave` event. */
  presence: [],
  /** `direct` messages from the backend: {data, from, ts}. */
  direct: [],
  connect,
  disconnect,
  publish,
};
window.demo = demo;

function wsUrl() {
  if (params.get("ws")) return params.get("ws");
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
}

function log(text, kind = "message") {
  const item = document.createElement("li");
  item.className = kind;
  item.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  $("log").prepend(item);
}

const PRESENCE_PREFIX = "presence-";

function showMembers() {
  const list = $("members");
  list.replaceChildren(
    ...demo.members.map((member) => {
      const item = document.createElement("li");
      const name = typeof member.data?.name === "string" ? member.data.name : member.user;
      item.textContent = member.connections > 1 ? `${name} (${member.connections} tabs)` : name;
      item.dataset.user = member.user;
      return item;
    }),
  );
  $("members-count").textContent = String(demo.members.length);
}

/** The presence listener of the page: record and log every join and leave. */
function onPresenceEvent(event) {
  demo.presence.push(event);
  log(`${event.user} ${event.type === "join" ? "joined" : "left"} ${event.channel}`, "event");
}

/** Subscribe to a presence channel and keep `demo.members`; resolves with the subscription. */
function followPresence(client, channel, onMessage) {
  $("presence").hidden = false;
  const follower = followMembers(client, channel, {
    onMessage,
    onPresence: onPresenceEvent,
    onChange: (state) => {
      if (demo.client !== client) return;
      demo.members = state.members;
      showMembers();
    },
    onReadError: (error) => {
      demo.errors.push({ code: error.code, message: error.message, channel });
      log(`member list failed: ${error.message}`, "error");
    },
  });
  return follower.subscription;
}

function showState(state) {
  $("state").textContent = state;
  $("state").dataset.state = state;
  const open = state === "open";
  $("message").disabled = !demo.client;
  $("publish").disabled = !demo.client;
  $("disconnect").disabled = !demo.client;
  if (open && demo.client.connectionId) $("connection-id").textContent = demo.client.connectionId;
}

/** Connect as `user` and subscribe to `channel` (replacing any earlier client). */
async function connect(user, channel) {
  disconnect();
  demo.user = user;
  demo.channel = channel;
  const tokenUrl = new URL(params.get("token_url") || "/dev/token", location.href);
  tokenUrl.searchParams.set("user", user);
  const client = createClient({
    url: wsUrl(),
    authUrl: tokenUrl.toString(),
    tokenTransport: params.get("transport") === "query" ? "query" : "protocol",
  });
  demo.client = client;
  client.on("state", ({ state }) => {
    demo.states.push(state);
    showState(state);
    log(`state: ${state}`, "event");
  });
  client.on("connection", ({ connectionId }) => {
    $("connection-id").textContent = connectionId;
    log(`connection id: ${connectionId}`, "event");
  });
  client.on("reset", (event) => {
    demo.resets.push(event);
    log(`reset on ${event.channel}: history lost, now at seq ${event.seq}`, "event");
  });
  client.on("error", ({ error, channel: on }) => {
    demo.errors.push({ code: error.code, message: error.message, channel: on });
    log(`error ${error.code}: ${error.message}`, "error");
  });
  client.on("direct", (message) => {
    demo.direct.push(message);
    log(`direct from ${message.from ?? "?"}: ${JSON.stringify(message.data)}`);
  });
  demo.members = [];
  showMembers();
  client.connect();
  showState(client.state);
  const onMessage = (message) => {
    demo.messages.push(message);
    const text = typeof message.data?.text === "string" ? message.data.text : JSON.stringify(message.data);
    log(`[${message.channel} #${message.seq}] ${message.from ?? "?"}: ${text}`);
  };
  try {
    const subscription = await (channel.startsWith(PRESENCE_PREFIX)
      ? followPresence(client, channel, onMessage)
      : client.subscribe(channel, onMessage));
    demo.subscriptions.push({ channel: subscription.channel, epoch: subscription.epoch, seq: subscription.seq });
    log(`subscribed to ${subscription.channel} (epoch ${subscription.epoch ?? "-"}, seq ${subscription.seq ?? "-"})`, "event");
  } catch (error) {
    if (error.code !== "closed" && error.code !== "unsubscribed") {
      demo.errors.push({ code: error.code, message: error.message, channel });
      log(`subscribe failed: ${error.message}`, "error");
    }
  }
  return client;
}

function disconnect() {
  if (!demo.client) return;
  demo.client.close();
  demo.client = null;
  demo.members = [];
  showMembers();
  $("presence").hidden = true;
  $("connection-id").textContent = "-";
  showState("closed");
}

/** Publish `data` on the current channel; resolves with the ack. */
function publish(data, channel = demo.channel) {
  if (!demo.client) return Promise.reject(new Error("not connected"));
  return demo.client.publish(channel, data);
}

$("join").addEventListener("submit", (event) => {
  event.preventDefault();
  void connect($("user").value.trim(), $("channel").value.trim());
});
$("disconnect").addEventListener("click", () => disconnect());
$("send").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("message").value;
  if (!text) return;
  try {
    const ack = await publish({ text });
    $("message").value = "";
    log(`published #${ack.seq ?? "?"}`, "event");
  } catch (error) {
    log(`publish failed: ${error.message}`, "error");
  }
});

if (params.get("user")) $("user").value = params.get("user");
if (params.get("channel")) $("channel").value = params.get("channel");
if (params.get("autoconnect") === "1") void connect($("user").value.trim(), $("channel").value.trim());
