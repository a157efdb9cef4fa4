// A stand-in for an app's token endpoint that refuses: `GET /<status>` answers that status (401,
// 403, 500, ...) with CORS headers for credentialed requests, as a real cross-origin token route
// would, and counts the requests per status.
import { createServer } from "node:http";

export async function startTokenServer() {
  const counts = new Map();
  const server = createServer((request, response) => {
    const origin = request.headers.origin;
    if (origin) {
      response.setHeader("Access-Control-Allow-Origin", origin);
      response.setHeader("Access-Control-Allow-Credentials", "true");
      response.setHeader("Vary", "Origin");
    }
    if (request.method === "OPTIONS") {
      response.setHeader("Access-Control-Allow-Headers", "accept");
      response.writeHead(204).end();
      return;
    }
    const status = Number(new URL(request.url, "http://x").pathname.slice(1)) || 404;
    counts.set(status, (counts.get(status) ?? 0) + 1);
    response.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store" });
    response.end(JSON.stringify({ message: `answered ${status}` }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** How many token requests got `status`. */
    count: (status) => counts.get(status) ?? 0,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
