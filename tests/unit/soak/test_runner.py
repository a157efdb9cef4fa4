"""soak's runner: the clients driven through their phases, and the summary line always last.

Found by a 300-subscriber soak that backed up: the runner died with asyncio's TimeoutError
instead of its summary. Here a stand-in for soak/clients.mjs (a Python script speaking the
same line protocol) stalls, so the runner's time limit, its SIGTERM and its report run.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from local_gateway.faults import Faults, FaultSettings
from soak.__main__ import Outcome, _report, parse_args, run_clients

# Two subscribers of channel c; 3 messages acknowledged; sub-1 received only the first.
RECORD = {
    "published": [["c", 1, "k1"], ["c", 2, "k2"], ["c", 3, "k3"]],
    "fences": {},
    "counts": {
        "drops": 0,
        "restarts": 0,
        "wsFailed": 0,
        "httpFailed": 0,
        "httpRetries": 0,
        "subscribeRetries": 0,
        "settled": 1,
        "subscribers": 2,
        "errors": {},
    },
    "subscribers": [
        {
            "user": "sub-0",
            "channels": {"c": {"start": 0, "events": [[1, "k1"], [2, "k2"], [3, "k3"]]}},
        },
        {"user": "sub-1", "channels": {"c": {"start": 0, "events": [[1, "k1"]]}}},
    ],
}

CLIENTS = textwrap.dedent(
    """
    import json, signal, sys, time
    config = json.loads(sys.argv[1])

    def write_record(*_args):
        if config["record_on_term"]:
            with open(config["result"], "w") as out:
                json.dump(config["record"], out)
        sys.exit(3)

    signal.signal(signal.SIGTERM, write_record if config["record_on_term"] else signal.SIG_IGN)
    print(json.dumps({"phase": "ready"}), flush=True)
    assert sys.stdin.readline() == "start\\n"
    if config["stall"]:
        while True:
            time.sleep(0.05)  # backed up: never says "settle"
    print(json.dumps({"phase": "settle"}), flush=True)
    assert sys.stdin.readline() == "fence\\n"
    with open(config["result"], "w") as out:
        json.dump(config["record"], out)
    print(json.dumps({"phase": "done"}), flush=True)
    """
)


def _run(tmp_path: Path, limit: float, **config: Any) -> tuple[Outcome, Faults]:
    script = tmp_path / "clients.py"
    script.write_text(CLIENTS, encoding="utf-8")
    faults = Faults(FaultSettings(post_429=0.5))
    faults.active = False
    options = {"record": RECORD, "record_on_term": True, "stall": False, **config}
    options["result"] = str(tmp_path / "record.json")
    outcome = asyncio.run(
        run_clients([sys.executable, str(script)], options, faults, limit, grace=1)
    )
    return outcome, faults


def _summary(outcome: Outcome, faults: Faults, *argv: str) -> tuple[int, list[str]]:
    out = io.StringIO()
    status = _report(out, outcome, faults, parse_args(list(argv)))
    return status, out.getvalue().splitlines()


def test_clients_that_finish_are_checked_and_the_summary_is_last(tmp_path: Path) -> None:
    outcome, faults = _run(
        tmp_path, limit=60, record={**RECORD, "subscribers": RECORD["subscribers"][:1]}
    )
    assert (outcome.reason, outcome.record is not None) == (None, True)
    assert faults.active is False  # on while publishing, off for the fences
    status, lines = _summary(outcome, faults)
    assert status == 0
    assert (
        lines[-1] == "soak: 3 deliveries checked, 0 faults injected, 0 lost, 0 duplicated, 0 resets"
    )


def test_clients_that_do_not_drain_in_time_are_stopped_and_what_they_missed_is_lost(
    tmp_path: Path,
) -> None:
    outcome, faults = _run(tmp_path, limit=1.5, stall=True)
    assert outcome.reason is not None
    assert outcome.reason.startswith("the clients did not finish within 2s (still publishing)")
    assert faults.active is False
    status, lines = _summary(outcome, faults)
    assert status == 1
    assert lines[-2] == f"soak: {outcome.reason}"
    assert (
        lines[-1] == "soak: 4 deliveries checked, 0 faults injected, 2 lost, 0 duplicated, 0 resets"
    )


def test_clients_that_leave_no_record_still_end_with_the_summary(tmp_path: Path) -> None:
    outcome, faults = _run(tmp_path, limit=1.5, stall=True, record_on_term=False)
    assert outcome.record is None
    status, lines = _summary(outcome, faults)
    assert status == 1
    assert lines == [
        "soak: the clients left no record: nothing could be checked",
        f"soak: {outcome.reason}",
        "soak: 0 deliveries checked, 0 faults injected, 0 lost, 0 duplicated, 0 resets",
    ]


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        pytest.param(
            ["--min-deliveries", "4"], "soak: fewer than 4 deliveries checked", id="deliveries"
        ),
        pytest.param(
            ["--min-post-faults", "0.05"], "soak: fewer than 5% of posts faulted", id="faults"
        ),
    ],
)
def test_a_bound_not_met_fails_before_the_summary(argv: list[str], line: str) -> None:
    record = {**RECORD, "subscribers": RECORD["subscribers"][:1]}
    status, lines = _summary(Outcome(json.loads(json.dumps(record)), None, 1.0), Faults(), *argv)
    assert status == 1
    assert lines[-2:] == [
        line,
        "soak: 3 deliveries checked, 0 faults injected, 0 lost, 0 duplicated, 0 resets",
    ]


def test_load_mode_turns_faults_and_drops_off_and_reports_each_step_before_the_summary() -> None:
    args = parse_args(["--load", "5,20", "--step-seconds", "10"])
    assert (args.load, args.faults, args.drop_every_ms, args.http_publishers) == (
        [5.0, 20.0],
        "",
        0,
        0,
    )
    assert args.duration == 24  # each step and its 2 s gap
    step = {
        "rate": 5,
        "seconds": 10.0,
        "acked": 49,
        "failed": 1,
        "received": 98,
        "p50": 12.4,
        "p99": 40.6,
        "ackP50": 9.0,
        "ackP99": None,
    }
    record = {**RECORD, "subscribers": RECORD["subscribers"][:1], "load": [step]}
    status, lines = _summary(Outcome(record, None, 1.0), Faults(), "--load", "5")
    assert status == 0
    assert lines[-2:] == [
        "soak: load: 5 publishes/s offered to 1 subscribers: 4.9 acknowledged/s (1 not), "
        "10 deliveries/s; publish-to-receive p50 12 ms, p99 41 ms; ack p50 9 ms, p99 -",
        "soak: 3 deliveries checked, 0 faults injected, 0 lost, 0 duplicated, 0 resets",
    ]


@pytest.mark.parametrize("rates", ["", "0", "5,x", "2000"])
def test_load_rates_are_positive_publishes_per_second(
    rates: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--load", rates])
    assert "--load" in capsys.readouterr().err
