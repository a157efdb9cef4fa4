/** POST /api/session {"name": "alice"} signs in (stub); DELETE signs out. */
import { cookies } from "next/headers";
import { isUserId, SESSION_COOKIE } from "@/lib/session";

export async function POST(request: Request): Promise<Response> {
  const body = (await request.json().catch(() => null)) as { name?: unknown } | null;
  if (!isUserId(body?.name)) {
    return Response.json({ error: "name: 1 to 32 letters, digits, _ or -" }, { status: 400 });
  }
  (await cookies()).set(SESSION_COOKIE, body.name, {
    httpOnly: true,
    sameSite: "lax",
    secure: process.env.NODE_ENV === "production",
    path: "/",
    maxAge: 60 * 60 * 24 * 7,
  });
  return Response.json({ user: body.name });
}

export async function DELETE(): Promise<Response> {
  (await cookies()).delete(SESSION_COOKIE);
  return new Response(null, { status: 204 });
}
