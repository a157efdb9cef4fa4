// The soak's clients: subscribers that are the real browser client (clients/js, built) running
// in Node with the `ws` package, publishers over WebSocket (the same client) and over
// POST /publish. Driven by soak/__main__.py over stdin/stdout, one JSON object per line:
//   -> {"phase": "ready"}          every subscriber is subscribed
//   <- "start"                     publish for `duration` seconds, dropping subscribers at random
//   -> {"phase": "settle", ...}    publishing stopped (the runner now turns the faults off)
//   <- "fence"                     publish one fence per channel, wait for every subscriber
//   -> {"phase": "done"}           the record is written to `config.result`
// What each subscriber's application layer received is recorded per channel, in order:
// [seq, key] per message, ["reset", seq] per `reset` event; `start` is the seq its subscribe
// was acknowledged at. Publishers record [channel, seq, key] per acknowledged publish.
import { createHmac, randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";

const config = JSON.parse(process.argv[2]);
const require = createRequire(new URL(`${config.clientDir}/package.json`, "file://"));
const WebSocket = require("ws");
const { createClient } = await import(new URL(`${config.clientDir}/dist/index.js`, "file://").href);

// A seeded random source (mulberry32), so a run can be repeated.
let state = config.seed >>> 0;
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (items) => items[Math.floor(random() * items.length)];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

function token(claims) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const body = `${encode({ alg: "HS256", typ: "JWT" })}.${encode({ iat: now, exp: now + 3600, ...claims })}`;
  return `${body}.${createHmac("sha256", config.secret).update(body).digest("base64url")}`;
}

const clientOptions = {
  requestTimeoutMs: config.requestTimeoutMs,
  backoff: { baseMs: 100, capMs: 1000 },
};

/** A client whose current socket can be dropped as a network would drop it (no close frame). */
function trackedClient(user) {
  const holder = { socket: null, client: null };
  class TrackedSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      holder.socket = this;
    }
  }
  holder.client = createClient({
    url: config.url,
    getToken: () => token({ sub: user }),
    platform: { WebSocket: TrackedSocket },
    ...clientOptions,
  });
  return holder;
}

const counts = { errors: {}, drops: 0, restarts: 0, subscribeRetries: 0, wsFailed: 0, httpFailed: 0, httpRetries: 0 };

// ------------------------------------------------------------------ subscribers

class Subscriber {
  constructor(index, channels) {
    this.user = `sub-${index}`;
    this.records = Object.fromEntries(channels.map((name) => [name, { start: null, events: [], last: null, reached: -1 }]));
    this.holder = null;
    this.open();
  }

  open(resume = false) {
    this.holder = trackedClient(this.user);
    const client = this.holder.client;
    client.on("reset", ({ channel, seq }) => {
      const record = this.records[channel];
      if (!record) return;
      record.events.push(["reset", seq ?? null]);
      record.reached = Math.max(record.reached, seq ?? -1);
    });
    // Context for the checker's notes (it skips these).
    client.on("subscribed", ({ channel, seq, recovered }) => {
      this.records[channel]?.events.push(["subscribed", seq ?? null, recovered ?? null]);
    });
    client.on("error", ({ error, channel }) => {
      counts.errors[error.code] = (counts.errors[error.code] ?? 0) + 1;
      if (channel) this.records[channel]?.events.push(["error", error.code]);
    });
    client.connect();
    return Promise.all(Object.keys(this.records).map((name) => this.subscribe(client, name, resume)));
  }

  async subscribe(client, name, resume) {
    const record = this.records[name];
    const handler = (message) => {
      record.events.push([message.seq, message.data?.k ?? null]);
      if (typeof message.data?.t === "number") steps[message.data.s]?.latencies.push(performance.now() - message.data.t);
      record.last = { seq: message.seq, epoch: message.epoch };
      record.reached = Math.max(record.reached, message.seq);
    };
    for (;;) {
      // An app resuming passes the position it last saw (its subscribe's, before any message).
      const position = record.last ?? (record.start === null ? null : { seq: record.start });
      const options = resume && position ? { since: position.seq, epoch: position.epoch ?? null } : {};
      try {
        const subscription = await client.subscribe(name, handler, options);
        if (record.start === null) record.start = subscription.seq ?? 0;
        return;
      } catch (error) {
        if (client.state === "closed") return;
        counts.subscribeRetries += 1;
        await sleep(100);
      }
    }
  }

  /** Drop the socket (the client reconnects and resumes), or restart the app from its position. */
  drop() {
    if (random() < config.restartShare) {
      counts.restarts += 1;
      this.holder.client.close();
      void this.open(true);
      return;
    }
    const socket = this.holder.socket;
    if (socket && socket.readyState === WebSocket.OPEN) {
      counts.drops += 1;
      socket.terminate();
    }
  }

  caughtUp(fences) {
    return Object.entries(this.records).every(([name, record]) => {
      const fence = fences[name];
      return record.reached >= fence;
    });
  }
}

// ------------------------------------------------------------------ publishers

const published = []; // [channel, seq, key]
let publishing = true;

async function wsPublisher(index, channels, intervalMs) {
  const holder = trackedClient(`pub-ws-${index}`);
  holder.client.connect();
  let n = 0;
  while (publishing) {
    const channel = pick(channels);
    const key = `w${index}-${n++}`;
    try {
      const ack = await holder.client.publish(channel, { k: key });
      published.push([channel, ack.seq, key]);
    } catch {
      counts.wsFailed += 1; // not acknowledged: it may or may not have gone out
    }
    await sleep(intervalMs);
  }
  return holder.client;
}

async function httpPublish(channel, key) {
  const auth = `Bearer ${token({ sub: "soak-backend", scope: "publish" })}`;
  for (let attempt = 1; attempt <= 4; attempt += 1) {
    try {
      const response = await fetch(`${config.http}/publish`, {
        method: "POST",
        headers: { authorization: auth, "content-type": "application/json", "idempotency-key": key },
        body: JSON.stringify({ channel, data: { k: key } }),
        signal: AbortSignal.timeout(config.requestTimeoutMs),
      });
      const body = await response.json().catch(() => null);
      if (response.status === 200 && typeof body?.seq === "number") return body.seq;
    } catch {
      // a timeout or a dropped connection: try again with the same key
    }
    counts.httpRetries += 1;
    await sleep(200 * attempt);
  }
  return null;
}

async function httpPublisher(index, channels, intervalMs) {
  let n = 0;
  while (publishing) {
    const channel = pick(channels);
    const key = `h${index}-${n++}-${randomUUID().slice(0, 8)}`;
    const seq = await httpPublish(channel, key);
    if (seq === null) counts.httpFailed += 1;
    else published.push([channel, seq, key]);
    await sleep(intervalMs);
  }
}

// ------------------------------------------------------------------ load steps (faults off)

// Each step offers `rate` publishes a second for `stepSeconds`, open loop (a publish does not
// wait for the one before), spread over the publishers and channels; every message carries
// its step and its send time, so each subscriber's handler measures publish-to-receive.
const steps = [];

async function loadSteps(clients) {
  let n = 0;
  // Warm-up (not measured): the first publishes pay the functions' cold starts.
  for (let w = 0; w < 4 * clients.length; w += 1) {
    await clients[w % clients.length].publish(config.channels[0], { k: `warm-${w}` }).then(
      (ack) => published.push([config.channels[0], ack.seq, `warm-${w}`]),
      () => undefined,
    );
  }
  for (const [index, rate] of config.load.rates.entries()) {
    const step = { rate, acked: 0, failed: 0, latencies: [], ackLatencies: [], seconds: 0 };
    steps.push(step);
    const started = performance.now();
    const end = started + config.load.stepSeconds * 1000;
    const pending = [];
    for (let due = started; due < end; due += 1000 / rate) {
      await sleep(Math.max(0, due - performance.now()));
      const channel = config.channels[n % config.channels.length];
      const client = clients[n % clients.length];
      const key = `l${index}-${n++}`;
      const sent = performance.now();
      pending.push(
        client.publish(channel, { k: key, s: index, t: sent }).then(
          (ack) => {
            published.push([channel, ack.seq, key]);
            step.acked += 1;
            step.ackLatencies.push(performance.now() - sent);
          },
          () => {
            step.failed += 1;
          },
        ),
      );
    }
    await Promise.all(pending);
    step.seconds = (performance.now() - started) / 1000;
    await sleep(config.load.gapMs); // the step's last deliveries land before the next starts
    // Past what is held (publishes unacknowledged, or latency twice the first step's and
    // above stopMs): a higher rate only queues.
    const p50 = percentile(step.latencies, 0.5) ?? Infinity;
    const base = percentile(steps[0].latencies, 0.5) ?? 0;
    if (step.failed || (index > 0 && p50 > 2 * base && p50 > config.load.stopMs)) break;
  }
}

function percentile(values, share) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))];
}

function loadReport() {
  return steps.map((step) => ({
    rate: step.rate,
    seconds: step.seconds,
    acked: step.acked,
    failed: step.failed,
    received: step.latencies.length,
    p50: percentile(step.latencies, 0.5),
    p99: percentile(step.latencies, 0.99),
    ackP50: percentile(step.ackLatencies, 0.5),
    ackP99: percentile(step.ackLatencies, 0.99),
  }));
}

// ------------------------------------------------------------------ the run

const lines = createInterface({ input: process.stdin });
const commands = lines[Symbol.asyncIterator]();
const next = async () => (await commands.next()).value;

const subscribers = [];
const fences = {};

function writeRecord() {
  const settled = subscribers.filter((subscriber) => subscriber.caughtUp(fences)).length;
  writeFileSync(
    config.result,
    JSON.stringify({
      published,
      fences,
      load: loadReport(),
      counts: { ...counts, settled, subscribers: subscribers.length },
      subscribers: subscribers.map((subscriber) => ({ user: subscriber.user, channels: subscriber.records })),
    }),
  );
}

// Stopped by the runner (out of time): what was received so far is the record; whatever was
// acknowledged and not delivered counts as lost.
process.on("SIGTERM", () => {
  writeRecord();
  process.exit(3);
});

// Subscribers come in waves (as users arrive), each wave subscribed before the next connects.
for (let index = 0; index < config.subscribers.length; index += 1) {
  subscribers.push(new Subscriber(index, config.subscribers[index]));
  if (subscribers.length % config.wave === 0 || index === config.subscribers.length - 1) {
    const wave = subscribers.slice(-config.wave);
    while (!wave.every((s) => Object.values(s.records).every((r) => r.start !== null))) await sleep(20);
  }
}
say({ phase: "ready", subscribers: subscribers.length });

await next(); // "start"
const started = Date.now();
let wsClients;
if (config.load) {
  const holders = config.wsPublishers.map((_p, index) => trackedClient(`pub-load-${index}`));
  for (const holder of holders) holder.client.connect();
  wsClients = holders.map((holder) => holder.client);
  await loadSteps(wsClients);
  publishing = false;
} else {
  const running = [
    ...config.wsPublishers.map((p, index) => wsPublisher(index, p.channels, p.intervalMs)),
    ...config.httpPublishers.map((p, index) => httpPublisher(index, p.channels, p.intervalMs)),
  ];
  const dropper = (async () => {
    while (publishing) {
      await sleep(config.dropEveryMs);
      if (publishing) pick(subscribers).drop();
    }
  })();
  await sleep(config.duration * 1000);
  publishing = false;
  wsClients = (await Promise.all(running)).filter(Boolean);
  await dropper;
}
say({ phase: "settle", seconds: (Date.now() - started) / 1000 });

await next(); // "fence": the faults are off now
const fencer = wsClients[0];
for (const name of config.channels) {
  // A WebSocket publish that timed out may still have gone out: each attempt is its own message.
  for (let attempt = 0; ; attempt += 1) {
    const key = `fence-${name}-${attempt}`;
    try {
      const ack = await fencer.publish(name, { k: key });
      fences[name] = ack.seq;
      published.push([name, ack.seq, key]);
      break;
    } catch {
      await sleep(100);
    }
  }
}
const deadline = Date.now() + config.settleSeconds * 1000;
while (Date.now() < deadline && !subscribers.every((subscriber) => subscriber.caughtUp(fences))) await sleep(100);
writeRecord();
for (const subscriber of subscribers) subscriber.holder.client.close();
for (const client of wsClients) client.close();
say({ phase: "done" });
process.exit(0);
