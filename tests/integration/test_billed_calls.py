"""B4's meter and make cost's arithmetic: item sizes and units by AWS's documented rules, the
publish's counted calls against the issue's targets, and the bills' ratios to AppSync Events.

Sizes follow AWS's "DynamoDB item sizes and formats" (developer guide, CapacityUnitCalculations):
a string is its UTF-8 bytes, a number 1 byte per two significant digits plus 1, a boolean or
null 1 byte, a list or map 3 bytes plus 1 per element, each attribute adding its name's bytes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench import cost
from bench.dynamodb_calls import count, item_size, read_units, value_size, write_units


@pytest.mark.parametrize(
    ("value", "size"),
    [
        pytest.param({"S": "héllo"}, 6, id="string-utf8"),
        pytest.param({"N": "123"}, 3, id="3-digits"),
        pytest.param({"N": "1764012345"}, 6, id="10-digits"),
        pytest.param({"N": "1764000000"}, 3, id="trailing-zeros-trimmed"),
        pytest.param({"N": "-0.00120"}, 2, id="leading-zeros-trimmed"),
        pytest.param({"N": "0"}, 2, id="zero"),
        pytest.param({"BOOL": True}, 1, id="bool"),
        pytest.param({"NULL": True}, 1, id="null"),
        pytest.param({"L": []}, 3, id="empty-list"),
        pytest.param({"L": [{"S": "ab"}, {"N": "7"}]}, 3 + (2 + 1) + (2 + 1), id="list"),
        pytest.param({"M": {"k": {"S": "v"}}}, 3 + 1 + 1 + 1, id="map"),
        pytest.param({"SS": ["a", "bc"]}, 3, id="string-set"),
    ],
)
def test_value_sizes_follow_aws_rules(value: dict[str, Any], size: int) -> None:
    assert value_size(value) == size


def test_items_and_units() -> None:
    item = {"channel": {"S": "room:a"}, "seq": {"N": "12"}}
    assert item_size(item) == (7 + 6) + (3 + 2)
    assert item_size(None) == 0
    assert write_units(0, 0) == 1  # a write costs at least one unit
    assert write_units(1024) == 1
    assert write_units(1025, 10) == 2  # the larger of before and after
    assert read_units(4096, consistent=True) == 1.0
    assert read_units(4097, consistent=True) == 2.0
    assert read_units(10, consistent=False) == 0.5


@pytest.fixture(scope="module")
def counted() -> dict[str, Any]:
    result: dict[str, Any] = count(10, 120)
    return result


def test_a_publish_makes_three_calls_and_two_write_units_whatever_the_subscribers(
    counted: dict[str, Any],
) -> None:
    ops = counted["operations"]
    for name in (
        "publish to 11 subscribers",
        "publish to 11 subscribers, ack: false",
        "publish to 120 subscribers via SQS",
    ):
        calls = [(c["call"], c["table"]) for c in ops[name]["dynamodb"]]
        assert calls == [
            ("UpdateItem", "connections"),
            ("Query", "history"),
            ("PutItem", "history"),
            ("Query", "subscriptions"),
        ], name
        assert ops[name]["wru"] == 2.0, name
    assert ops["publish to 11 subscribers"]["apigw_messages_out"] == 12  # 11 deliveries, an ack
    assert ops["publish to 11 subscribers, ack: false"]["apigw_messages_out"] == 11
    queued = ops["publish to 120 subscribers via SQS"]
    # 120 ids: two batches in one SendMessageBatch, one worker invocation (receive + delete)
    assert (queued["worker_invocations"], queued["sqs_requests"]) == (1, 1 + 2)
    assert queued["apigw_messages_out"] == 121
    # subscribe and connect: no more than before issue 17
    before = json.loads(cost.BEFORE.read_text())["operations"]
    for name in ("connect", "connect, single-use token", "subscribe", "disconnect"):
        assert ops[name]["calls"] <= before[name]["calls"], name
        assert ops[name]["wru"] <= before[name]["wru"], name


def test_a_rewind_costs_what_a_resume_of_as_many_messages_costs(counted: dict[str, Any]) -> None:
    ops = counted["operations"]
    rewind, resume = ops["subscribe with rewind (3)"], ops["subscribe with since (3 missed)"]
    # connection, position, the last 3 messages, pending subscription, go live; no Scan
    assert [(c["call"], c["table"]) for c in rewind["dynamodb"]] == [
        ("GetItem", "connections"),
        ("Query", "history"),
        ("Query", "history"),
        ("PutItem", "subscriptions"),
        ("TransactWriteItems", "history"),
        ("TransactWriteItems", "subscriptions"),
    ]
    billed = ("calls", "wru", "rru", "apigw_messages_out")
    assert [rewind[k] for k in billed] == [6, 3.0, 5.0, 4]  # out: 3 messages and the ack
    assert [rewind[k] for k in billed] == [resume[k] for k in billed]


def test_per_message_against_appsync_events(counted: dict[str, Any]) -> None:
    prices = json.loads(cost.PRICES.read_text())
    appsync = prices["prices"]["appsync_events_operation"]["usd"] / 1e6

    def ratio(recipients: int, *, ack: bool) -> float:
        price = sum(cost.per_message(counted, prices, recipients, ack=ack, server=False).values())
        return price / ((1 + recipients) * appsync)

    assert ratio(2, ack=False) <= 2.0
    assert ratio(2, ack=True) <= 2.0
    assert ratio(100, ack=False) <= 1.05
    assert ratio(100, ack=True) <= 1.05
    # the arithmetic itself: a one-to-one message without ack is 3 API Gateway messages,
    # 2 WRU and 2 RRU (the position, and the subscriber Query), one Lambda request
    parts = cost.per_message(counted, prices, 2, ack=False, server=False)
    assert parts["API Gateway messages"] == pytest.approx(3e-6)
    assert parts["DynamoDB"] == pytest.approx(2 * 0.625e-6 + 2 * 0.125e-6)
    assert parts["SQS"] == 0


def test_every_price_names_its_source_and_date_or_why_it_is_missing() -> None:
    prices = json.loads(cost.PRICES.read_text())
    for name, entry in prices["prices"].items():
        assert entry["source"].startswith("http") or "AWS Price List" in entry["source"], name
        assert entry["read_on"] == "2026-12-01", name
        assert (entry["usd"] is None) == ("missing" in entry), name
    assert prices["pusher_plans"]["plans"]


def test_a_keyed_publish_is_one_transaction_and_its_duplicate_delivers_nothing(
    counted: dict[str, Any],
) -> None:
    ops = counted["operations"]
    keyed, duplicate = ops["publish with idempotencyKey"], ops["publish, duplicate key"]
    # the key item and the message in one TransactWriteItems (two items, 2 WRU each)
    assert [(c["call"], c["table"]) for c in keyed["dynamodb"]] == [
        ("UpdateItem", "connections"),
        ("Query", "history"),
        ("TransactWriteItems", "history"),
        ("TransactWriteItems", "history"),
        ("Query", "subscriptions"),
    ]
    assert keyed["wru"] == 5.0
    # the cancelled transaction returns the first position: no subscriber Query, no fan-out
    assert [(c["call"], c["table"]) for c in duplicate["dynamodb"]] == [
        ("UpdateItem", "connections"),
        ("Query", "history"),
        ("TransactWriteItems", "history"),
        ("TransactWriteItems", "history"),
    ]
    assert (duplicate["apigw_messages_out"], duplicate["rru"]) == (1, 1.0)  # the ack alone


def test_a_subscribe_claim_writes_its_subscriptions_in_the_connect(
    counted: dict[str, Any],
) -> None:
    row = counted["operations"]["connect with subscribe claim (2)"]
    assert [(c["call"], c["table"]) for c in row["dynamodb"]] == [
        ("PutItem", "connections"),
        ("PutItem", "subscriptions"),
        ("PutItem", "subscriptions"),
    ]
    assert (row["wru"], row["apigw_messages_out"]) == (3.0, 0)


def test_an_auth_reads_and_updates_the_connection_and_lists_its_subscriptions(
    counted: dict[str, Any],
) -> None:
    row = counted["operations"]["auth, ending 1 subscription"]
    assert [(c["call"], c["table"]) for c in row["dynamodb"]] == [
        ("GetItem", "connections"),
        ("UpdateItem", "connections"),  # the fresh channels and presence, on condition
        ("Query", "subscriptions"),  # the connection's subscriptions (byConnection, no Scan)
        ("DeleteItem", "subscriptions"),  # the one the fresh channels no longer allow
    ]
    assert row["apigw_messages_out"] == 2  # the unsubscribed frame and the ack
