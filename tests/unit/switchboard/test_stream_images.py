"""Stream images read as boto3's ``TypeDeserializer`` reads them (the oracle), without
importing boto3 on the events function's cold path (docs/benchmarks.md, B3)."""

from __future__ import annotations

import base64
import decimal
import json
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from hypothesis import given
from hypothesis import strategies as st

from switchboard.stream_images import MalformedImageError, deserialize, image
from tests.conftest import ROOT

BOTO3 = TypeDeserializer()
numbers = st.one_of(
    st.integers(-(10**38) + 1, 10**38 - 1).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=6).map(str),
    st.sampled_from(["0", "-0", "1E+126", "1E-128", "1e5", "0.5", "1" * 38]),
)
texts = st.text(max_size=8)
leaves = st.one_of(
    texts.map(lambda s: {"S": s}),
    numbers.map(lambda n: {"N": n}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.lists(texts, min_size=1, max_size=4).map(lambda v: {"SS": v}),
    st.lists(numbers, min_size=1, max_size=4).map(lambda v: {"NS": v}),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda v: {"L": v}),
        st.dictionaries(texts, inner, max_size=3).map(lambda v: {"M": v}),
    ),
    max_leaves=10,
)


@given(st.dictionaries(texts, values, max_size=5))
def test_an_image_reads_as_boto3s_deserializer_reads_it(raw: dict[str, Any]) -> None:
    """The same values, or refused where boto3 refuses (a number past DynamoDB's 38 digits)."""
    try:
        expected = {key: BOTO3.deserialize(value) for key, value in raw.items()}
    except decimal.DecimalException:
        with pytest.raises(MalformedImageError):
            image(raw)
        return
    assert image(raw) == expected
    assert repr(image(raw)) == repr(expected)  # Decimal('1.0') is not Decimal('1')


@pytest.mark.parametrize(
    "number",
    ["1" * 39, "1E+127", "1E-170", "1.00000000000000000000000000000000000001"],
)
def test_a_number_dynamodb_would_refuse_is_refused_as_boto3_refuses_it(number: str) -> None:
    with pytest.raises((decimal.DecimalException, TypeError, ValueError)):
        BOTO3.deserialize({"N": number})
    with pytest.raises(MalformedImageError):
        deserialize({"N": number})


@pytest.mark.parametrize(
    "attribute", [{}, {"X": 1}, {"N": 5}, {"SS": "a"}, {"M": []}, {"L": {}}, "S", None]
)
def test_what_is_not_dynamodb_json_is_malformed(attribute: Any) -> None:
    with pytest.raises(MalformedImageError):
        deserialize(attribute)
    with pytest.raises(MalformedImageError):
        image({"a": attribute})


@pytest.mark.parametrize(
    "attribute",
    [
        {"N": "abc"},
        {"N": "NaN"},
        {"N": "-Infinity"},
        {"NS": ["1", "sNaN"]},
        {"S": 1},
        {"BOOL": "true"},
        {"SS": ["a", 1]},
        {"SS": [["a"]]},
        {"M": {"a": {"SS": [{"b": 1}]}}},
    ],
)
def test_what_boto3_lets_through_but_dynamodb_never_writes_is_malformed(attribute: Any) -> None:
    """boto3 reads "abc" as NaN and passes any S, BOOL or SS member on (or fails with a
    TypeError of ``set``); here each is a MalformedImageError, as any other bad value."""
    with pytest.raises(MalformedImageError):
        deserialize(attribute)


def test_binary_values_are_the_base64_text_lambda_passes_decoded() -> None:
    encoded = base64.b64encode(b"\x00\xff").decode()
    assert image({"b": {"B": encoded}, "bs": {"BS": [encoded]}}) == {
        "b": b"\x00\xff",
        "bs": {b"\x00\xff"},
    }
    with pytest.raises(MalformedImageError):
        deserialize({"B": "not base64!"})


def test_none_and_a_non_map_image() -> None:
    assert image(None) is None
    with pytest.raises(MalformedImageError):
        image([{"S": "a"}])


def test_sam_clis_stream_event_images_read_as_boto3_reads_them() -> None:
    text = (ROOT / "tests" / "aws_artefacts" / "events" / "DynamoDBUpdate.json").read_text()
    records = json.loads(text.replace("{{{", "").replace("}}}", ""))["Records"]
    for record in records:
        for name in ("Keys", "NewImage", "OldImage"):
            raw = record["dynamodb"].get(name)
            expected = None if raw is None else {k: BOTO3.deserialize(v) for k, v in raw.items()}
            assert image(raw) == expected
