"""The sender against real botocore parsing of API Gateway's answers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import botocore
import pytest
from botocore.exceptions import EndpointConnectionError

from switchboard import sender as sender_module
from switchboard.errors import ConnectionGoneError, DeliveryError
from switchboard.sender import Sender, management_endpoint
from tests.conftest import ManagementApiFake


@pytest.fixture
def fake_and_sender() -> tuple[ManagementApiFake, Sender]:
    sender_module.clear_clients()
    sender = Sender.for_endpoint("https://management.test/dev", "us-east-1", pool_size=4)
    fake = ManagementApiFake()
    fake.attach(sender._client)
    return fake, sender


def test_post_delivers(fake_and_sender: tuple[ManagementApiFake, Sender]) -> None:
    fake, sender = fake_and_sender
    sender.post("abc=", b'{"type":"pong"}')
    assert fake.replies("abc=") == [{"type": "pong"}]


def test_410_is_connection_gone(fake_and_sender: tuple[ManagementApiFake, Sender]) -> None:
    fake, sender = fake_and_sender
    fake.gone.add("old=")
    with pytest.raises(ConnectionGoneError) as info:
        sender.post("old=", b"{}")
    assert info.value.connection_id == "old="


def test_429_is_retryable(fake_and_sender: tuple[ManagementApiFake, Sender]) -> None:
    fake, sender = fake_and_sender
    fake.throttle_once.add("busy=")
    with pytest.raises(DeliveryError) as info:
        sender.post("busy=", b"{}")
    assert (info.value.code, info.value.retryable) == ("LimitExceededException", True)
    assert fake.attempts["busy="] == 1  # botocore did not retry on its own
    sender.post("busy=", b"{}")


def test_500_is_retryable(fake_and_sender: tuple[ManagementApiFake, Sender]) -> None:
    fake, sender = fake_and_sender
    fake.always_fail.add("x=")
    with pytest.raises(DeliveryError) as info:
        sender.post("x=", b"{}")
    assert info.value.retryable


def test_transport_errors_are_retryable() -> None:
    class Broken:
        class exceptions:
            GoneException = type("GoneException", (Exception,), {})

        def post_to_connection(self, **_: Any) -> None:
            raise EndpointConnectionError(endpoint_url="https://x")

    with pytest.raises(DeliveryError) as info:
        Sender(Broken()).post("c=", b"{}")
    assert info.value.retryable


def test_close_is_harmless_when_gone(fake_and_sender: tuple[ManagementApiFake, Sender]) -> None:
    fake, sender = fake_and_sender
    sender.close("a=")
    assert fake.deleted == ["a="]
    fake.gone.add("b=")
    sender.close("b=")


def test_endpoint_is_built_from_api_region_and_stage() -> None:
    assert (
        management_endpoint(None, "abc123", "eu-west-1", "prod")
        == "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
    )
    assert management_endpoint("http://127.0.0.1:3001/", "abc", "x", "y") == "http://127.0.0.1:3001"


def _partitions() -> list[dict[str, Any]]:
    """botocore's endpoints.json (AWS's own partition data, installed with botocore)."""
    data = json.loads((Path(botocore.__file__).parent / "data" / "endpoints.json").read_text())
    partitions: list[dict[str, Any]] = data["partitions"]
    return partitions


@pytest.mark.parametrize("partition", [pytest.param(p, id=p["partition"]) for p in _partitions()])
def test_the_endpoint_has_the_dns_suffix_of_the_regions_partition(
    partition: dict[str, Any],
) -> None:
    # every region botocore lists, and one the partition's regex admits but that is not
    # listed yet (a region launched after this botocore)
    regions = list(partition["regions"])
    pattern = re.compile(partition["regionRegex"])
    future = regions[0].rsplit("-", 1)[0] + "-9"
    assert pattern.match(future)
    for region in [*regions, future]:
        assert pattern.match(region)
        expected = f"https://abc.execute-api.{region}.{partition['dnsSuffix']}/prod"
        assert management_endpoint(None, "abc", region, "prod") == expected, region


def test_the_partitions_covered_are_botocores() -> None:
    # a partition botocore adds with a DNS suffix of its own must be added to the table
    suffixes = {p["dnsSuffix"] for p in _partitions()}
    assert suffixes == {suffix for _, suffix in sender_module._DNS_SUFFIXES} | {"amazonaws.com"}


def test_one_client_per_endpoint_per_container() -> None:
    sender_module.clear_clients()
    a = Sender.for_endpoint("https://a.execute-api.us-east-1.amazonaws.com/dev", "us-east-1")
    b = Sender.for_endpoint("https://a.execute-api.us-east-1.amazonaws.com/dev", "us-east-1")
    c = Sender.for_endpoint("https://b.execute-api.us-east-1.amazonaws.com/dev", "us-east-1")
    assert a._client is b._client
    assert a._client is not c._client
    assert a._client.meta.endpoint_url == "https://a.execute-api.us-east-1.amazonaws.com/dev"
    sender_module.clear_clients()
