"""API Gateway's ids and time formats in the events (:mod:`local_gateway.events`)."""

from __future__ import annotations

from local_gateway import events


def test_ids_and_times_have_api_gateways_format() -> None:
    assert len(events.new_id()) == 16
    assert events.new_id().endswith("=")
    assert events.request_time(1_707_502_303_419) == "09/Feb/2024:18:11:43 +0000"
    assert events.iso8601(1_707_502_303_419) == "2024-02-09T18:11:43.419Z"
