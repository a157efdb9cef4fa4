"""Hot reload: notice a change under the functions' and layers' directories.

A polling scan of modification times (every ``interval`` seconds): no native watcher to
install, and the directories are small. Caches and editors' swap files are ignored.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["watch"]

IGNORED_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", "node_modules"}
IGNORED_SUFFIXES = (".pyc", ".swp", ".swx", "~", ".tmp")


def snapshot(roots: Iterable[Path]) -> dict[str, tuple[int, int]]:
    """``path -> (mtime_ns, size)`` of every source file under ``roots``."""
    found: dict[str, tuple[int, int]] = {}
    for root in roots:
        for directory, dirnames, filenames in os.walk(root):
            dirnames[:] = [name for name in dirnames if name not in IGNORED_DIRS]
            for name in filenames:
                if name.endswith(IGNORED_SUFFIXES):
                    continue
                path = os.path.join(directory, name)
                try:
                    stat = os.stat(path)
                except FileNotFoundError:
                    continue
                found[path] = (stat.st_mtime_ns, stat.st_size)
    return found


def changed_paths(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> list[str]:
    """Files added, removed or modified between two snapshots."""
    return sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )


async def watch(
    roots: Iterable[Path], on_change: Callable[[list[str]], None], interval: float = 0.25
) -> None:
    """Call ``on_change(paths)`` after each change, until cancelled."""
    roots = list(roots)
    before = await asyncio.to_thread(snapshot, roots)
    while True:
        await asyncio.sleep(interval)
        after = await asyncio.to_thread(snapshot, roots)
        paths = changed_paths(before, after)
        if paths:
            on_change(paths)
        before = after
