/**
 * A stub session: the signed-in user's id in a cookie. Replace it with your auth (NextAuth,
 * Clerk, Cognito, ...): the token route only needs "who is this request from?".
 */
import { cookies } from "next/headers";

export const SESSION_COOKIE = "sb_user";

const USER_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** Whether `value` is acceptable as a user id. */
export function isUserId(value: unknown): value is string {
  return typeof value === "string" && USER_ID.test(value);
}

/** The signed-in user's id, or `null`. */
export async function currentUser(): Promise<string | null> {
  const value = (await cookies()).get(SESSION_COOKIE)?.value;
  return isUserId(value) ? value : null;
}
