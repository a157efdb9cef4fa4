"""Development-only pages, served by the local gateway and never deployed.

- ``GET /``: ``clients/demo/index.html``, the demo page, and ``GET /<file>`` the other files
  of ``clients/demo/`` (its script);
- ``GET /client/<file>``: the browser client's build, ``clients/js/dist/<file>``;
- ``GET /dev/token?user=NAME[&channels=a,b][&ttl=30]``: ``{"token": ...}`` signed with the
  local ``WS_SECRET`` (30 seconds by default), so the demo page needs no backend of its own.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import parse_qs

from local_gateway.http11 import Request, Response, json_response
from local_gateway.token import sign_token, split_channels

__all__ = ["DevPages"]

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".cjs": "text/javascript; charset=utf-8",
    ".map": "application/json",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".d.ts": "text/plain; charset=utf-8",
}
NO_STORE = ("Cache-Control", "no-store")


def content_type(path: Path) -> str:
    """The Content-Type of a static file (``.js`` is ``text/javascript``)."""
    for suffix, kind in CONTENT_TYPES.items():
        if path.name.endswith(suffix):
            return kind
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


class DevPages:
    """The demo page, the client build and development tokens."""

    def __init__(self, root: Path, ws_secret: str) -> None:
        self.demo_dir = (root / "clients" / "demo").resolve()
        self.index = self.demo_dir / "index.html"
        self.client_dir = (root / "clients" / "js" / "dist").resolve()
        self.ws_secret = ws_secret

    def handle(self, request: Request) -> Response | None:
        """The answer, or None when the request is not for a development page."""
        if request.method not in ("GET", "HEAD"):
            return None
        path = request.path
        if path == "/":
            return self._file(self.index)
        if path.startswith("/client/"):
            target = (self.client_dir / path.removeprefix("/client/")).resolve()
            if not target.is_relative_to(self.client_dir):
                return json_response(404, {"message": "Not Found"})
            return self._file(target)
        if path == "/dev/token":
            return self._token(request)
        demo_file = (self.demo_dir / path.lstrip("/")).resolve()
        if demo_file.is_relative_to(self.demo_dir) and demo_file.is_file():
            return self._file(demo_file)
        return None

    @staticmethod
    def _file(path: Path) -> Response:
        if not path.is_file():
            return json_response(404, {"message": f"Not Found: {path.name} is not built"})
        return Response(200, path.read_bytes(), [("Content-Type", content_type(path)), NO_STORE])

    def _token(self, request: Request) -> Response:
        query = parse_qs(request.query)
        user = (query.get("user") or [""])[0]
        if not user:
            return json_response(400, {"message": "user is required"})
        try:
            ttl = float((query.get("ttl") or ["30"])[0])
        except ValueError:
            return json_response(400, {"message": "ttl must be a number of seconds"})
        token = sign_token(
            self.ws_secret,
            user,
            channels=split_channels((query.get("channels") or [""])[0]),
            ttl=ttl,
            scope=(query.get("scope") or [""])[0] or None,
        )
        return json_response(
            200, {"token": token}, [NO_STORE, ("Access-Control-Allow-Origin", "*")]
        )
