// Headless Chromium from Debian's `chromium` package, driven by playwright-core (which downloads
// no browser), and a per-test session that saves a screenshot, the console log and the demo's
// state of every page into test-results/ when the test fails.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const RESULTS = fileURLToPath(new URL("../test-results/", import.meta.url));
const ARGS = [
  "--headless",
  "--no-sandbox", // we run as root (CI too)
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Launch Chromium with a fresh profile (`--user-data-dir`, which playwright-core takes as the
 * first argument of launchPersistentContext). Resolves with `{context, close()}`.
 */
export async function launchBrowser() {
  const profile = mkdtempSync(join(tmpdir(), "switchboard-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 900, height: 700 },
  });
  context.setDefaultTimeout(10_000);
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

const time = () => new Date().toISOString().slice(11, 23);

/** The pages of one test, with everything their console said. */
export class Session {
  constructor(context, name) {
    this.context = context;
    this.name = name;
    /** @type {Map<string, {page: import("playwright-core").Page, log: string[], pageErrors: Error[]}>} */
    this.pages = new Map();
  }

  /** A new page called `label`, recording its console, uncaught errors, failed requests and sockets. */
  async newPage(label) {
    const page = await this.context.newPage();
    const entry = { page, log: [], pageErrors: [] };
    const note = (text) => entry.log.push(`${time()} ${text}`);
    page.on("console", (message) => note(`console.${message.type()}: ${message.text()}`));
    page.on("pageerror", (error) => {
      entry.pageErrors.push(error);
      note(`pageerror: ${error.stack || error.message}`);
    });
    page.on("requestfailed", (request) => note(`requestfailed: ${request.method()} ${request.url()} ${request.failure()?.errorText}`));
    page.on("response", (response) => {
      if (response.status() >= 400) note(`response ${response.status()}: ${response.request().method()} ${response.url()}`);
    });
    page.on("websocket", (socket) => {
      note(`websocket open: ${socket.url().replace(/token=[^&]+/, "token=...")}`);
      socket.on("framesent", ({ payload }) => note(`ws > ${payload}`));
      socket.on("framereceived", ({ payload }) => note(`ws < ${payload}`));
      socket.on("close", () => note("websocket closed"));
    });
    this.pages.set(label, entry);
    return page;
  }

  /** Uncaught exceptions of every page, as `label: message` lines. */
  pageErrors() {
    return [...this.pages].flatMap(([label, { pageErrors }]) => pageErrors.map((error) => `${label}: ${error.message}`));
  }

  /** The directory under test-results/ for this test. */
  get resultsDirectory() {
    return join(RESULTS, this.name.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 80));
  }

  /**
   * Save a screenshot, the console log and `window.demo`'s state of every page, the error and
   * `extra` files (name -> text) into `directory`; resolves with the directory.
   */
  async saveArtifacts(error, extra = {}, directory = this.resultsDirectory) {
    rmSync(directory, { recursive: true, force: true });
    mkdirSync(directory, { recursive: true });
    writeFileSync(join(directory, "error.txt"), `${error?.stack || error}\n`);
    for (const [label, { page, log }] of this.pages) {
      try {
        await page.screenshot({ path: join(directory, `${label}.png`), fullPage: true, timeout: 5_000 });
      } catch (failure) {
        log.push(`(no screenshot: ${failure.message})`);
      }
      try {
        const state = await page.evaluate(() => {
          const demo = window.demo;
          if (!demo) return null;
          const { messages, states, resets, errors, user, channel, members, presence, direct } = demo;
          return {
            user,
            channel,
            state: demo.client?.state,
            connectionId: demo.client?.connectionId,
            states,
            messages,
            resets,
            errors,
            members,
            presence,
            direct,
          };
        });
        writeFileSync(join(directory, `${label}.demo.json`), `${JSON.stringify(state, null, 2)}\n`);
      } catch (failure) {
        log.push(`(no demo state: ${failure.message})`);
      }
      writeFileSync(join(directory, `${label}.console.log`), `${log.join("\n")}\n`);
    }
    for (const [file, text] of Object.entries(extra)) writeFileSync(join(directory, file), text);
    return directory;
  }

  async close() {
    for (const { page } of this.pages.values()) await page.close().catch(() => {});
  }
}

/**
 * `browserTest(name, body, {timeoutMs, browser, artifacts})`: a node:test test whose body gets a
 * fresh Session. On failure (or when the body outlives `timeoutMs`) the artifacts are saved
 * before the test fails; `artifacts()` adds files (e.g. the gateway's log).
 */
export function browserTest(name, body, { timeoutMs = 30_000, browser, artifacts = () => ({}) }) {
  test(name, async () => {
    const session = new Session(browser().context, name);
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the test took longer than ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([body(session), timeout]);
    } catch (error) {
      const directory = await session.saveArtifacts(error, artifacts());
      error.message += `\n(screenshots and console logs: ${directory})`;
      throw error;
    } finally {
      clearTimeout(timer);
      await session.close();
    }
  });
}

/** Record every frame of every WebSocket the page opens. */
export function recordSockets(page) {
  const sockets = [];
  const decode = (payload) => {
    try {
      return JSON.parse(payload);
    } catch {
      return { unparsed: String(payload) };
    }
  };
  page.on("websocket", (socket) => {
    const record = { url: socket.url(), sent: [], received: [], closed: false };
    sockets.push(record);
    socket.on("framesent", ({ payload }) => record.sent.push(decode(payload)));
    socket.on("framereceived", ({ payload }) => record.received.push(decode(payload)));
    socket.on("close", () => {
      record.closed = true;
    });
  });
  return sockets;
}
