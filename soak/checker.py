"""The soak's oracle: what each subscriber's application layer received against what was
acknowledged as published.

For every subscriber and channel, every message acknowledged with a ``seq`` above the one
its subscribe was acknowledged at must be delivered exactly once, in ``seq`` order, with the
key it was published with, or be covered by a ``reset`` raised in its place: a reset raised
between the deliveries either side of the missing messages (or after the last delivery, for
missing messages at the end). Anything else is *lost*; a message (a publish key) delivered
twice is *duplicated*; a ``seq`` delivered after a higher one is *disordered*.

Why a reset was needed is read from the channel: a ``seq`` in the skipped range that no
publisher was acknowledged for and no subscriber ever received is a *hole* (a publish that
took its ``seq`` and failed before keeping the message: the server cannot replay it).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["Verdict", "check"]

Event = Sequence[Any]  # [seq, key], ["reset", seq], or a note the checker skips
NOTES = ("subscribed", "error")


@dataclasses.dataclass
class Verdict:
    """The checker's counts, and a few examples of each problem."""

    deliveries: int = 0
    lost: int = 0
    duplicated: int = 0
    disordered: int = 0
    mismatched: int = 0
    resets: int = 0
    covered_by_reset: int = 0
    reset_reasons: Counter[str] = dataclasses.field(default_factory=Counter)
    examples: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing lost, duplicated, disordered or mismatched."""
        return not (self.lost or self.duplicated or self.disordered or self.mismatched)

    def note(self, text: str) -> None:
        if len(self.examples) < 20:
            self.examples.append(text)


def _acknowledged(published: Iterable[Sequence[Any]]) -> dict[str, dict[int, str]]:
    acked: dict[str, dict[int, str]] = defaultdict(dict)
    for channel, seq, key in published:
        if isinstance(seq, int):
            acked[channel][seq] = key
    return acked


def check(record: Mapping[str, Any]) -> Verdict:
    """Check a soak record (``published``, ``subscribers``), as soak/clients.mjs writes it."""
    verdict = Verdict()
    acked = _acknowledged(record["published"])
    sorted_seqs = {channel: sorted(seqs) for channel, seqs in acked.items()}
    received: dict[str, set[int]] = defaultdict(set)
    for subscriber in record["subscribers"]:
        for channel, channel_record in subscriber["channels"].items():
            for event in channel_record["events"]:
                if isinstance(event[0], int):
                    received[channel].add(event[0])
    for subscriber in record["subscribers"]:
        for channel, channel_record in subscriber["channels"].items():
            _check_one(
                verdict,
                f"{subscriber['user']} {channel}",
                int(channel_record["start"] or 0),
                channel_record["events"],
                acked.get(channel, {}),
                sorted_seqs.get(channel, []),
                received[channel],
            )
    return verdict


def _check_one(
    verdict: Verdict,
    name: str,
    start: int,
    events: Sequence[Event],
    acked: Mapping[int, str],
    seqs: Sequence[int],
    received: set[int],
) -> None:
    last = start
    reset_pending = False
    keys: set[str] = set()

    def skipped(after: int, before: int | None) -> None:
        """The acknowledged messages in (after, before) were not delivered."""
        low = bisect.bisect_right(seqs, after)
        high = len(seqs) if before is None else bisect.bisect_left(seqs, before)
        missing = seqs[low:high]
        if not missing:
            return
        if reset_pending:
            verdict.covered_by_reset += len(missing)
            return
        verdict.lost += len(missing)
        verdict.note(f"{name}: lost seq {missing[:5]}{'...' if len(missing) > 5 else ''}")

    for event in events:
        if event[0] in NOTES:
            continue
        if event[0] == "reset":
            verdict.resets += 1
            reset_pending = True
            top = event[1] if isinstance(event[1], int) else last
            hole = any(seq not in acked and seq not in received for seq in range(last + 1, top + 1))
            verdict.reset_reasons["hole" if hole else "unexplained"] += 1
            continue
        seq, key = int(event[0]), event[1]
        verdict.deliveries += 1
        if key is not None and key in keys:
            verdict.duplicated += 1
            verdict.note(f"{name}: {key} (seq {seq}) delivered twice")
            continue
        if key is not None:
            keys.add(key)
        if seq in acked and acked[seq] != key:
            verdict.mismatched += 1
            verdict.note(f"{name}: seq {seq} carried {key}, acknowledged as {acked[seq]}")
        if seq <= start:
            continue  # published before the subscribe's position: not expected, not wrong
        if seq <= last:
            verdict.disordered += 1
            verdict.note(f"{name}: seq {seq} delivered after seq {last}")
            continue
        skipped(last, seq)
        last = seq
        reset_pending = False
    skipped(last, None)
