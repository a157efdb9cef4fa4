"""soak.checker: what a subscriber's application received against what was acknowledged."""

from __future__ import annotations

from typing import Any

import pytest

from soak.checker import check

PUBLISHED = [["c", seq, f"k{seq}"] for seq in range(1, 7)]


def record(events: list[list[Any]], start: int = 0, published: Any = None) -> dict[str, Any]:
    return {
        "published": PUBLISHED if published is None else published,
        "subscribers": [{"user": "s", "channels": {"c": {"start": start, "events": events}}}],
    }


def delivered(*seqs: int) -> list[list[Any]]:
    return [[seq, f"k{seq}"] for seq in seqs]


def test_every_message_once_in_order_passes() -> None:
    verdict = check(record(delivered(1, 2, 3, 4, 5, 6)))
    assert (verdict.ok, verdict.deliveries, verdict.lost, verdict.duplicated) == (True, 6, 0, 0)


def test_a_missing_message_is_lost_and_named() -> None:
    verdict = check(record(delivered(1, 2, 4, 5, 6)))
    assert (verdict.ok, verdict.lost) == (False, 1)
    assert verdict.examples == ["s c: lost seq [3]"]


def test_missing_messages_at_the_end_are_lost() -> None:
    verdict = check(record(delivered(1, 2, 3, 4)))
    assert verdict.lost == 2


def test_a_reset_between_the_deliveries_either_side_covers_the_gap() -> None:
    events = [*delivered(1, 2), ["reset", 4], ["subscribed", 4, False], *delivered(5, 6)]
    verdict = check(record(events))
    assert (verdict.ok, verdict.lost, verdict.resets, verdict.covered_by_reset) == (True, 0, 1, 2)
    assert verdict.reset_reasons == {"unexplained": 1}


def test_a_reset_covers_the_end_and_a_reset_long_before_covers_nothing() -> None:
    assert check(record([*delivered(1, 2, 3), ["reset", 6]])).ok
    verdict = check(record([*delivered(1), ["reset", 1], *delivered(2, 4, 5, 6)]))
    assert verdict.lost == 1  # the reset came before 2, not between 2 and 4


def test_a_seq_that_nobody_got_or_was_acknowledged_for_is_a_hole() -> None:
    published = [p for p in PUBLISHED if p[1] != 3]  # seq 3: a publish that died after its seq
    verdict = check(record([*delivered(1, 2), ["reset", 4], *delivered(5, 6)], published=published))
    assert verdict.ok
    assert verdict.reset_reasons == {"hole": 1}
    assert verdict.covered_by_reset == 1  # seq 4; seq 3 was never acknowledged


@pytest.mark.parametrize(
    ("events", "field"),
    [
        pytest.param([*delivered(1, 2, 3), [3, "k3"], *delivered(4, 5, 6)], "duplicated", id="dup"),
        pytest.param(
            [*delivered(1, 2, 3, 4, 5, 6), [7, "k2"]], "duplicated", id="same-key-new-seq"
        ),
        pytest.param([*delivered(1, 3, 2, 4, 5, 6)], "disordered", id="order"),
        pytest.param([*delivered(1, 2), [3, "other"], *delivered(4, 5, 6)], "mismatched", id="key"),
    ],
)
def test_twice_out_of_order_or_another_message_fails(events: list[list[Any]], field: str) -> None:
    verdict = check(record(events))
    assert not verdict.ok
    assert getattr(verdict, field) == 1


def test_messages_up_to_the_subscribe_position_are_not_expected() -> None:
    verdict = check(record(delivered(3, 4, 5, 6), start=2))
    assert (verdict.ok, verdict.deliveries) == (True, 4)
    early = check(record(delivered(2, 3, 4, 5, 6), start=2))  # seq 2 raced the subscribe ack
    assert early.ok


def test_notes_are_skipped_and_unacknowledged_deliveries_are_fine() -> None:
    events = [["subscribed", 0, None], ["error", "internal"], *delivered(1, 2, 3, 4, 5, 6)]
    events.append([7, "not-acknowledged"])  # a publish whose ack was lost: delivered anyway
    assert check(record(events)).ok
