// Starts the local gateway (`python -m local_gateway`, the repository's template.yaml) on a free
// port of 127.0.0.1, as tests/e2e/conftest.py does, and stops it. Its console output is kept so
// that a failing test can save it.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const READY = /^Ready in [\d.]+s .*: (ws:\/\/\S+)$/;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

/** The Python that runs the gateway: $SWITCHBOARD_PYTHON, else the repository's .venv (make setup). */
function python() {
  const chosen = process.env.SWITCHBOARD_PYTHON || `${ROOT}.venv/bin/python`;
  if (!existsSync(chosen)) {
    throw new Error(`${chosen} not found: run \`make setup\` first (or set SWITCHBOARD_PYTHON)`);
  }
  return chosen;
}

export class Gateway {
  /** @param {import("node:child_process").ChildProcess} child */
  constructor(child) {
    this.child = child;
    /** Every console line, in order. */
    this.lines = [];
    this.wsUrl = "";
    this.httpUrl = "";
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  }

  /** Start the gateway; resolves once it printed its "Ready in ...: ws://..." line. */
  static async start({ extraArgs = [], env = {} } = {}) {
    const environment = { ...process.env, PYTHONPATH: ROOT, PYTHONUNBUFFERED: "1", ...env };
    delete environment.DYNAMODB_ENDPOINT; // always the embedded moto server: a clean store per run
    delete environment.PORT;
    const child = spawn(
      python(),
      ["-m", "local_gateway", "--host", "127.0.0.1", "--port", "0", "--no-watch", ...extraArgs],
      { cwd: ROOT, env: environment, stdio: ["ignore", "pipe", "pipe"] },
    );
    const gateway = new Gateway(child);
    await gateway.#waitUntilReady();
    return gateway;
  }

  #waitUntilReady() {
    return new Promise((resolve, reject) => {
      let pending = "";
      const onData = (chunk) => {
        pending += chunk;
        const parts = pending.split("\n");
        pending = parts.pop() ?? "";
        for (const line of parts) {
          this.lines.push(line);
          const ready = READY.exec(line);
          if (ready && !this.wsUrl) {
            this.wsUrl = ready[1];
            this.httpUrl = this.wsUrl.replace(/^ws:/, "http:");
            clearTimeout(timer);
            resolve();
          }
        }
      };
      this.child.stdout.setEncoding("utf8").on("data", onData);
      this.child.stderr.setEncoding("utf8").on("data", onData);
      const timer = setTimeout(() => {
        this.child.kill("SIGKILL");
        reject(new Error(`the gateway was not ready within ${START_TIMEOUT_MS} ms:\n${this.tail()}`));
      }, START_TIMEOUT_MS);
      this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        if (!this.wsUrl) reject(new Error(`the gateway exited (${code ?? signal}) before it was ready:\n${this.tail()}`));
      });
    });
  }

  /** The last `count` console lines. */
  tail(count = 60) {
    return this.lines.slice(-count).join("\n");
  }

  /** A Management API call on this gateway: `management("DELETE", id)`; resolves with the Response. */
  management(method, connectionId, body) {
    return fetch(`${this.httpUrl}/@connections/${encodeURIComponent(connectionId)}`, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  /** SIGTERM (the gateway closes its sockets and workers), SIGKILL if it takes too long. */
  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const killer = setTimeout(() => this.child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(killer);
  }
}
