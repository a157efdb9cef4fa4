"""``make cost``: the monthly bill of three workloads, from B4's counted calls and a price table.

Every billed call of an operation comes from B4 (``bench.dynamodb_calls``, run fresh on the
real handlers); the prices from ``bench/prices.json`` (each with its source and the date it
was read). Three workloads, 30 days a month:

* one-to-one chat: 1,000 users, 50 messages each a day, each on a two-member channel;
* a 100-member room: 100 users, 10 messages each a day, each delivered to all 100;
* a broadcast channel: 10,000 subscribers, 100 messages a day from the backend
  (``POST /publish``), fanned out through SQS by the fan-out worker.

Every user is online 8 hours a day, in 2-hour sessions (API Gateway closes a connection after
2 hours): each session is a connect, one subscribe and a disconnect, and the browser client
pings every 5 minutes (API Gateway drops a connection idle for 10). The same traffic is priced
on AWS AppSync Events, Ably and Pusher by their own counting (a publish and each delivery
are one operation or message). Writes ``docs/cost.md``'s results and ``docs/cost.svg``.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PRICES = ROOT / "bench" / "prices.json"
BEFORE = ROOT / "bench" / "b4_before.json"
DOC = ROOT / "docs" / "cost.md"
CHART = ROOT / "docs" / "cost.svg"
BEGIN = "<!-- results: written by make cost -->"
END = "<!-- end of results -->"

DAYS = 30
ONLINE_HOURS = 8
SESSION_HOURS = 2
PING_MINUTES = 5
PEAK_ONLINE = 0.5  # the share of users online at the busiest moment (Pusher's connection cap)
SUBSCRIPTION_BYTES = 60  # a subscription item as the subscriber Query reads it (B4: ~59)
HISTORY_ITEM_OVERHEAD = 100  # bytes DynamoDB adds to each stored item
# Lambda durations are assumptions (nothing here runs on AWS): ms per invocation at the
# template's memory, and ms per delivery for a fan-out.
FRAME_MS, CONNECT_MS, DELIVERY_MS = 25.0, 20.0, 0.5
FRAME_GB, CONNECT_GB = 0.5, 0.25
QUEUE_BATCH, WORKER_BATCH, POLLER_REQUESTS_PER_MONTH = 100, 10, 5 * 3 * 60 * 24 * DAYS


@dataclass(frozen=True)
class Workload:
    """Who is connected, and who publishes how much to how many."""

    name: str
    users: int
    messages_per_day: int
    recipients: int  # deliveries per message (the sender's own connection included)
    server_publish: bool = False


WORKLOADS = (
    Workload("one-to-one chat", 1_000, 1_000 * 50, 2),
    Workload("100-member room", 100, 100 * 10, 100),
    Workload("10,000-subscriber broadcast", 10_000, 100, 10_000, server_publish=True),
)


def _price(prices: dict[str, Any], key: str) -> float:
    entry = prices["prices"][key]
    if entry["usd"] is None:
        return 0.0
    return float(entry["usd"]) / float(entry["per"])


def _op(b4: dict[str, Any], prefix: str) -> dict[str, Any]:
    for name, row in b4["operations"].items():
        if name.startswith(prefix):
            return dict(row)
    raise KeyError(prefix)


def per_message(
    b4: dict[str, Any], prices: dict[str, Any], recipients: int, *, ack: bool, server: bool
) -> dict[str, float]:
    """The price of one message to ``recipients`` subscribers, by service.

    The counted publish's fixed calls (rate slot and connection, position, the message's
    write) are taken as measured; the subscriber Query's read units and the deliveries
    grow with the recipients; above 500 the recipients go through SQS in batches of 100.
    """
    row = _op(b4, "POST /publish" if server else "publish to")
    fixed = [
        c for c in row["dynamodb"] if not (c["call"] == "Query" and c["table"] == "subscriptions")
    ]
    wru = sum(c["wru"] for c in fixed)
    rru = sum(c["rru"] for c in fixed) + max(1, math.ceil(recipients * SUBSCRIPTION_BYTES / 4096))
    messages = recipients + (0 if server else 1) + (1 if ack and not server else 0)
    queued = recipients > 500
    batches = math.ceil(recipients / QUEUE_BATCH) if queued else 0
    workers = math.ceil(batches / WORKER_BATCH)
    sqs = math.ceil(batches / 10) + 2 * workers
    invocations = 1 + workers
    gb_s = FRAME_GB * (FRAME_MS + DELIVERY_MS * recipients) / 1000
    return {
        "API Gateway messages": messages * _price(prices, "apigw_websocket_message"),
        "HTTP API": (1 if server else 0) * _price(prices, "apigw_http_request"),
        "DynamoDB": wru * _price(prices, "dynamodb_wru") + rru * _price(prices, "dynamodb_rru"),
        "Lambda": invocations * _price(prices, "lambda_request")
        + gb_s * _price(prices, "lambda_gb_second_arm64"),
        "SQS": sqs * _price(prices, "sqs_request"),
    }


def per_session(b4: dict[str, Any], prices: dict[str, Any]) -> dict[str, float]:
    """One 2-hour session: connect, one subscribe, pings, disconnect, connection minutes."""
    connect, subscribe, ping = _op(b4, "connect"), _op(b4, "subscribe"), _op(b4, "ping")
    disconnect = _op(b4, "disconnect")
    pings = SESSION_HOURS * 60 // PING_MINUTES
    rows = [connect, subscribe, disconnect] + [ping] * pings
    messages = sum(r["apigw_messages_in"] + r["apigw_messages_out"] for r in rows)
    wru = sum(r["wru"] for r in rows)
    rru = sum(r["rru"] for r in rows)
    frames = 1 + pings
    gb_s = (2 * CONNECT_GB * CONNECT_MS + frames * FRAME_GB * FRAME_MS) / 1000
    return {
        "API Gateway messages": messages * _price(prices, "apigw_websocket_message"),
        "connection minutes": SESSION_HOURS * 60 * _price(prices, "apigw_connection_minute"),
        "DynamoDB": wru * _price(prices, "dynamodb_wru") + rru * _price(prices, "dynamodb_rru"),
        "Lambda": (2 + frames) * _price(prices, "lambda_request")
        + gb_s * _price(prices, "lambda_gb_second_arm64"),
    }


def _add(total: dict[str, float], part: dict[str, float], times: float) -> None:
    for key, value in part.items():
        total[key] = total.get(key, 0.0) + value * times


def bill(b4: dict[str, Any], prices: dict[str, Any], w: Workload, *, ack: bool) -> dict[str, Any]:
    """The month of ``w`` on Switchboard and on each competitor."""
    messages = w.messages_per_day * DAYS
    sessions = w.users * (ONLINE_HOURS // SESSION_HOURS) * DAYS
    switchboard: dict[str, float] = {}
    _add(
        switchboard,
        per_message(b4, prices, w.recipients, ack=ack, server=w.server_publish),
        messages,
    )
    _add(switchboard, per_session(b4, prices), sessions)
    if w.recipients > 500:
        switchboard["SQS"] = switchboard.get("SQS", 0.0) + POLLER_REQUESTS_PER_MONTH * _price(
            prices, "sqs_request"
        )
    connection_minutes = w.users * ONLINE_HOURS * 60 * DAYS
    operations = messages * (1 + w.recipients)
    appsync = operations * _price(prices, "appsync_events_operation") + connection_minutes * _price(
        prices, "appsync_connection_minute"
    )
    ably = _price(prices, "ably_standard_month") + operations * _price(prices, "ably_message")
    pusher = _pusher(prices, operations / DAYS, math.ceil(w.users * PEAK_ONLINE))
    history_gb = (
        w.messages_per_day
        * (1 + 30)  # kept a day, then the position's 30 days
        * (180 + HISTORY_ITEM_OVERHEAD)
        / 1e9
    )
    per = per_message(b4, prices, w.recipients, ack=ack, server=w.server_publish)
    return {
        "workload": w.name,
        "messages": messages,
        "switchboard": switchboard,
        "switchboard_total": sum(switchboard.values()),
        "switchboard_per_million_messages": sum(per.values()) * 1e6,
        "appsync_per_million_messages": (1 + w.recipients)
        * _price(prices, "appsync_events_operation")
        * 1e6,
        "appsync": appsync,
        "ably": ably,
        "pusher": pusher,
        "history_gb": history_gb,
        "connection_minutes": connection_minutes,
    }


def _pusher(prices: dict[str, Any], per_day: float, peak: int) -> tuple[str, float] | None:
    for plan in prices["pusher_plans"]["plans"]:
        if plan["messages_per_day"] >= per_day and plan["connections"] >= peak:
            return plan["name"], float(plan["usd_month"])
    return None


def report(
    b4: dict[str, Any], before: dict[str, Any] | None, prices: dict[str, Any]
) -> tuple[str, list[dict[str, Any]]]:
    """The markdown of docs/cost.md's results, and the rows the chart draws."""
    lines = [
        "Prices: `bench/prices.json` (us-east-1, read 2026-12-01; each with its source). "
        "Counts: B4 on this code"
        + (", and on the code before issue 17 (`bench/b4_before.json`)" if before else "")
        + ".",
        "",
        "### Per message (connection minutes, sessions and pings aside)",
        "",
        "| workload | deliveries | Switchboard, ack: false | with acks "
        "| before issue 17, with acks | AppSync Events | x AppSync (ack: false / acks) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    rows: list[dict[str, Any]] = []
    for w in WORKLOADS:
        quiet = per_message(b4, prices, w.recipients, ack=False, server=w.server_publish)
        acked = per_message(b4, prices, w.recipients, ack=True, server=w.server_publish)
        old = (
            sum(
                per_message(
                    before, prices, w.recipients, ack=True, server=w.server_publish
                ).values()
            )
            * 1e6
            if before
            else None
        )
        appsync = (1 + w.recipients) * _price(prices, "appsync_events_operation") * 1e6
        q, a = sum(quiet.values()) * 1e6, sum(acked.values()) * 1e6
        lines.append(
            f"| {w.name} | {w.recipients:,} | ${q:,.2f} / M | ${a:,.2f} / M | "
            + (f"${old:,.2f} / M" if old is not None else "-")
            + f" | ${appsync:,.2f} / M | {q / appsync:.2f}x / {a / appsync:.2f}x |"
        )
    lines += [
        "",
        "A message's price on Switchboard: 1 API Gateway message in, one out per delivery "
        "(and the ack unless `ack: false`), the publish's DynamoDB units (2 WRU and 1 RRU for "
        "a message under 1 KB, plus the subscriber Query's reads), one Lambda request (and the "
        "fan-out workers'), SQS above 500 subscribers. The backend's broadcast comes through "
        "the HTTP API (no ack, one HTTP request).",
        "",
        "### A month (30 days), everything included",
        "",
        "| workload | Switchboard (ack: false) | of which connection minutes | of which pings, "
        "connects, subscribes | AppSync Events | Ably (lower bound) | Pusher |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for w in WORKLOADS:
        b = bill(b4, prices, w, ack=False)
        session = per_session(b4, prices)
        sessions = w.users * (ONLINE_HOURS // SESSION_HOURS) * DAYS
        minutes = session["connection minutes"] * sessions
        other = (sum(session.values()) - session["connection minutes"]) * sessions
        pusher = b["pusher"]
        pusher_text = f"${pusher[1]:,.2f} ({pusher[0]})" if pusher else "above the plans read"
        lines.append(
            f"| {w.name} | ${b['switchboard_total']:,.2f} | ${minutes:,.2f} | ${other:,.2f} | "
            f"${b['appsync']:,.2f} | ${b['ably']:,.2f} | {pusher_text} |"
        )
        rows.append(
            {
                "name": w.name,
                "Switchboard": b["switchboard_total"],
                "AppSync Events": b["appsync"],
                "Ably": b["ably"],
                "Pusher": pusher[1] if pusher else None,
            }
        )
    lines += [""]
    for w in WORKLOADS:
        b = bill(b4, prices, w, ack=False)
        parts = ", ".join(f"{k} ${v:,.2f}" for k, v in b["switchboard"].items() if v)
        lines.append(
            f"- {w.name}: {b['messages']:,} messages, {b['connection_minutes']:,} connection "
            f"minutes; Switchboard: {parts}; history kept: {b['history_gb']:.3f} GB "
            "(storage price not in the table)."
        )
    lines.append("")
    return "\n".join(lines), rows


def chart(rows: list[dict[str, Any]]) -> str:
    """A grouped bar chart of the monthly bills (log scale), as SVG."""
    services = ["Switchboard", "AppSync Events", "Ably", "Pusher"]
    colours = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5"]
    width, height, left, top, bottom = 760, 340, 70, 40, 60
    plot_h = height - top - bottom
    values = [r[s] for r in rows for s in services if r[s]]
    low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    group = (width - left - 20) / len(rows)
    bar = group / (len(services) + 1)

    def y(value: float) -> float:
        return top + plot_h * (1 - (math.log10(value) - low) / (high - low))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<text x="{left}" y="20" font-size="14">Monthly bill, USD (log scale), '
        "generated by make cost</text>",
    ]
    for power in range(low, high + 1):
        yy = y(10**power)
        out.append(
            f'<line x1="{left}" x2="{width - 20}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ddd"/>'
        )
        out.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">${10**power:,}</text>')
    for g, row in enumerate(rows):
        x0 = left + g * group + bar / 2
        for s, (service, colour) in enumerate(zip(services, colours, strict=True)):
            value = row[service]
            if not value:
                continue
            x = x0 + s * bar
            out.append(
                f'<rect x="{x:.1f}" y="{y(value):.1f}" width="{bar * 0.9:.1f}" '
                f'height="{top + plot_h - y(value):.1f}" fill="{colour}"><title>{service}: '
                f"${value:,.2f}</title></rect>"
            )
        out.append(
            f'<text x="{x0 + bar * 2:.1f}" y="{height - bottom + 18}" text-anchor="middle">'
            f"{row['name']}</text>"
        )
    for s, (service, colour) in enumerate(zip(services, colours, strict=True)):
        x = left + s * 150
        out.append(f'<rect x="{x}" y="{height - 22}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 16}" y="{height - 12}">{service}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_doc(section: str) -> None:
    """Replace the results section of docs/cost.md."""
    text = DOC.read_text() if DOC.exists() else f"# Cost\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{section}\n{END}{tail}")


def main() -> None:
    """Count (B4), price, print, and write docs/cost.md and docs/cost.svg."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", help="B4 counts as JSON (default: run B4 now)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    from bench.b4_billed_calls import run as run_b4
    from bench.harness import setup_path

    setup_path()
    counts = json.loads(Path(args.counts).read_text()) if args.counts else run_b4(subscribers=10)
    prices = json.loads(PRICES.read_text())
    before = json.loads(BEFORE.read_text()) if BEFORE.exists() else None
    section, rows = report(counts, before, prices)
    print(section)
    if not args.no_write:
        write_doc(section)
        CHART.write_text(chart(rows))
        print(f"wrote {DOC.relative_to(ROOT)} and {CHART.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
