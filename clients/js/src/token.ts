/**
 * Token acquisition: where a fresh token for each connect comes from (the app's `getToken`, or
 * a GET of `authUrl` with the page's cookies) and how the token endpoint's refusals are told
 * apart: 401/403 (or `getToken` returning nothing) is an `UnauthorizedError`, which stops the
 * client; anything else is a `token_failed` error, which is retried. Never logs a token.
 */
import { SwitchboardError, UnauthorizedError } from "./errors.js";
import type { Platform, TokenResponse } from "./platform.js";

/** Where tokens come from: `ClientOptions`' `getToken` or `authUrl`. */
export interface TokenSource {
  getToken?: () => string | null | undefined | Promise<string | null | undefined>;
  authUrl?: string;
}

/** A fresh token from `source`; rejects with `UnauthorizedError` or a `token_failed` error. */
export async function acquireToken(source: TokenSource, platform: Platform): Promise<string> {
  if (source.getToken) {
    const token = await source.getToken();
    if (typeof token !== "string" || token === "") {
      throw new UnauthorizedError("getToken returned no token");
    }
    return token;
  }
  const response = await platform.fetch(source.authUrl!, {
    credentials: "include",
    cache: "no-store",
    headers: { accept: "application/json" },
  });
  if (!response.ok) {
    const answer = `the token endpoint answered ${response.status}${await errorText(response)}`;
    if (response.status === 401 || response.status === 403) {
      throw new UnauthorizedError(answer, response.status);
    }
    throw new SwitchboardError("token_failed", answer);
  }
  const body = (await response.json()) as { token?: unknown } | null;
  if (!body || typeof body.token !== "string" || body.token === "") {
    throw new SwitchboardError("token_failed", "the token endpoint answered without a token");
  }
  return body.token;
}

/** Whether `error` means the user was refused (stop) rather than a failure (retry). */
export function isUnauthorized(error: unknown): boolean {
  if (error instanceof UnauthorizedError) return true;
  const status = (error as { status?: unknown } | null)?.status;
  return status === 401 || status === 403;
}

/** `: <message>` from a JSON error body `{"error": "..."}` (or `{"message": "..."}`), else "". */
async function errorText(response: TokenResponse): Promise<string> {
  try {
    const body = (await response.json()) as { error?: unknown; message?: unknown } | null;
    const text = typeof body?.error === "string" ? body.error : body?.message;
    return typeof text === "string" && text !== "" ? `: ${text.slice(0, 300)}` : "";
  } catch {
    return "";
  }
}
