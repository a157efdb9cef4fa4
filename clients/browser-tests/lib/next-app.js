// Serves the Next.js example's production build (clients/.example-build/nextjs, made from the
// packed tarballs by clients/build-example.sh) with `next start` on a free port of 127.0.0.1,
// with the environment a test gives it (WS_SECRET, SWITCHBOARD_WS_URL), and stops it.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { ROOT } from "./gateway.js";

export const EXAMPLE = `${ROOT}clients/.example-build/nextjs`;
const START_TIMEOUT_MS = 30_000;

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export class NextApp {
  constructor(child, url) {
    this.child = child;
    this.url = url;
    this.lines = [];
    this.exited = new Promise((resolve) => child.once("exit", resolve));
  }

  /** `next start` with `env` (merged over this process's, WS_SECRET removed unless given), on
   * `port` (default: a free one; a test that must tell another server the app's URL picks it). */
  static async start(env = {}, { port: chosenPort } = {}) {
    if (!existsSync(`${EXAMPLE}/.next/BUILD_ID`)) {
      throw new Error(`${EXAMPLE} is not built: run clients/build-example.sh (run.sh does)`);
    }
    const port = chosenPort ?? (await freePort());
    const environment = { ...process.env, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" };
    delete environment.WS_SECRET;
    delete environment.SWITCHBOARD_URL;
    Object.assign(environment, env);
    const child = spawn(process.execPath, ["node_modules/next/dist/bin/next", "start", "-H", "127.0.0.1", "-p", String(port)], {
      cwd: EXAMPLE,
      env: environment,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const app = new NextApp(child, `http://127.0.0.1:${port}`);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`next start was not ready in ${START_TIMEOUT_MS} ms:\n${app.tail()}`)), START_TIMEOUT_MS);
      const onData = (chunk) => {
        for (const line of String(chunk).split("\n")) {
          if (line) app.lines.push(line);
          if (/Ready in/.test(line)) {
            clearTimeout(timer);
            resolve();
          }
        }
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      app.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`next start exited (${code}):\n${app.tail()}`));
      });
    });
    return app;
  }

  tail(count = 40) {
    return this.lines.slice(-count).join("\n");
  }

  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const killer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await this.exited;
    clearTimeout(killer);
  }
}
