"""A bare websockets echo server: the baseline that ``make conformance`` compares with."""

from __future__ import annotations

import argparse
import asyncio

from websockets.asyncio.server import ServerConnection, serve


async def echo(websocket: ServerConnection) -> None:
    """Send every message back."""
    async for message in websocket:
        await websocket.send(message)


async def main(port: int) -> None:
    """Serve on 127.0.0.1 until cancelled."""
    async with serve(echo, "127.0.0.1", port) as server:  # websockets defaults
        print(f"Ready: ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(main(parser.parse_args().port))
