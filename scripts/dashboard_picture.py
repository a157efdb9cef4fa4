"""Draw docs/dashboard.svg: the template's CloudWatch dashboard filled with sample data.

No AWS account is needed: the widgets, their titles, lines and labels are read from
template.yaml's ``Dashboard`` resource, and each line is drawn from a made-up but
plausible series (a chat app over three hours, one incident: a burst of handler errors
at about 01:40 that leaves two batches in the dead-letter queue). Deterministic, so the
picture only changes when the dashboard does (tests/deploy/test_dashboard.py checks).

    .venv/bin/python -m scripts.dashboard_picture        # or: make dashboard-picture
"""

from __future__ import annotations

import json
import math
import random
import re
import sys
from html import escape
from pathlib import Path
from typing import Any

from local_gateway.template import read_yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "dashboard.svg"
POINTS = 36  # three hours of 5-minute periods
INCIDENT = range(20, 24)
UNIT_W, UNIT_H, TOP = 44, 40, 36
CAPTION = "switchboard-prod-us-east-1: sample data, 3 hours, 5-minute periods"
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

# per metric (and dimension value): the level of a typical 5-minute period
LEVELS: dict[str, float] = {
    "ConnectCount": 1240, "Connected": 1190, "Disconnected": 1150, "MessageCount": 52000,
    "Published": 8800, "Delivered": 41000, "Pruned": 130, "DeliveryFailed": 6,
    "Queued": 5200, "Requeued": 25, "DeliveryRetries": 70, "ClientError": 55,
    "ExecutionError": 0, "IntegrationError": 2, "Throttles": 0, "Errors": 0.3,
    "missing_token": 12, "expired": 38, "invalid_token": 5, "origin": 3, "replayed": 1,
    "misconfigured": 0, "hook": 4, "hook_failed": 0,
    "HookErrors": 0, "HooksImportFailed": 0,
}  # fmt: skip
P99_MS = {"connect": 48, "disconnect": 31, "default": 64, "publish": 135, "fanout worker": 870}


def sample_body() -> dict[str, Any]:
    """The dashboard body with made-up names in place of the stack's variables."""
    resources = read_yaml(ROOT / "template.yaml")["Resources"]
    text, own = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for name, chosen in own.items():  # drawn with HooksModule: its alarm and widget too
        _condition, with_hooks, _without = chosen["Fn::If"]
        text = text.replace(f"${{{name}}}", with_hooks["Fn::Sub"])
    names = {
        "AWS::Region": "us-east-1",
        "AWS::Partition": "aws",
        "AWS::AccountId": "123456789012",
        "StageName": "prod",
        "WebSocketApi": "a1b2c3d4e5",
    }
    body: dict[str, Any] = json.loads(
        re.sub(r"\$\{([^}]+)\}", lambda m: names.get(m[1], f"switchboard-{m[1]}"), text)
    )
    return body


def _options(line: list[Any]) -> dict[str, Any]:
    """A metric line's options (its last item, when that is an object)."""
    return line[-1] if isinstance(line[-1], dict) else {}


def series(line: list[Any], stat: str) -> list[float]:
    """A plausible three hours of one metric line."""
    options = _options(line)
    name, dimensions = line[1], line[2:-1] if options else line[2:]
    label = options.get("label", name)
    rng = random.Random(f"{name}/{label}")  # noqa: S311 (sample data, not a secret)
    traffic = [1 + 0.35 * math.sin((i - 6) / POINTS * 2 * math.pi) for i in range(POINTS)]
    if stat == "p99":
        base = P99_MS.get(label, 100)
        bump = [1.6 if i in INCIDENT else 1.0 for i in range(POINTS)]
        return [base * (0.9 + 0.2 * rng.random()) * bump[i] for i in range(POINTS)]
    if name == "ApproximateNumberOfMessagesVisible":
        if "dead letters" in label:
            return [0.0 if i < INCIDENT.start + 2 else 2.0 for i in range(POINTS)]
        return [max(0.0, 30 * traffic[i] * rng.random() - 12) for i in range(POINTS)]
    level = LEVELS.get(str(dimensions[-1]) if name == "Refused" else name, 1.0)
    values = [level * traffic[i] * (0.85 + 0.3 * rng.random()) for i in range(POINTS)]
    if name == "Errors" and label == "default":
        values = [v + (40 if i in INCIDENT else 0) for i, v in enumerate(values)]
    if name == "Throttles" and label == "fanout worker":
        values = [v + (12 if i in INCIDENT else 0) for i, v in enumerate(values)]
    return [round(v) if level >= 1 or name == "Errors" else v for v in values]


def _el(tag: str, text: str | None = None, **attrs: object) -> str:
    """One SVG element; ``font_size="9"`` is written ``font-size="9"``."""
    written = " ".join(f'{k.rstrip("_").replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f"<{tag} {written}/>" if text is None else f"<{tag} {written}>{escape(text)}</{tag}>"


def _panel(widget: dict[str, Any]) -> tuple[int, int, int, int, list[str]]:
    """A widget's box (x, y, width, height) on the page, its frame and its title."""
    x0, y0 = widget["x"] * UNIT_W, TOP + widget["y"] * UNIT_H
    width, height = widget["width"] * UNIT_W, widget["height"] * UNIT_H
    frame = [
        _el("rect", x=x0 + 4, y=y0 + 4, width=width - 8, height=height - 8, fill="#fff",
            stroke="#d5dbdb"),
        _el("text", widget["properties"]["title"], x=x0 + 14, y=y0 + 22, font_size=13,
            font_weight="bold"),
    ]  # fmt: skip
    return x0, y0, width, height, frame


def _ticks(top: float) -> list[float]:
    if top <= 0:
        return [0.0, 1.0]
    step = 10 ** math.floor(math.log10(top))
    for factor in (1, 2, 5, 10):
        if top / (step * factor) <= 4:
            step *= factor
            break
    return [step * k for k in range(int(top // step) + 2)]


def _number(value: float) -> str:
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def metric_widget(widget: dict[str, Any]) -> list[str]:
    """One graph: axes, a line per metric, and the legend under it."""
    props = widget["properties"]
    x0, y0, width, height, out = _panel(widget)
    lines = props["metrics"]
    labels = [str(_options(line).get("label", line[1])) for line in lines]
    columns = 1 if max(len(label) for label in labels) > 28 else 2
    legend_rows = math.ceil(len(lines) / columns)
    left, right, top = x0 + 44, x0 + width - 16, y0 + 30
    bottom = y0 + height - 22 - 13 * legend_rows
    drawn = [series(line, _options(line).get("stat", props["stat"])) for line in lines]
    ticks = _ticks(max(max(s) for s in drawn))
    scale = (bottom - top) / ticks[-1]
    grey = {"font_size": 9, "fill": "#687078"}
    for tick in ticks:
        y = round(bottom - tick * scale, 1)
        out.append(_el("line", x1=left, x2=right, y1=y, y2=y, stroke="#eee"))
        out.append(_el("text", _number(tick), x=left - 4, y=y + 3, text_anchor="end", **grey))
    step = (right - left) / (POINTS - 1)
    for hour in range(3):
        x = round(left + hour * 12 * step, 1)
        out.append(_el("text", f"{hour:02d}:00", x=x, y=bottom + 11, text_anchor="middle", **grey))
    for index, (label, values) in enumerate(zip(labels, drawn, strict=True)):
        colour = PALETTE[index % len(PALETTE)]
        points = " ".join(
            f"{left + i * step:.1f},{bottom - v * scale:.1f}" for i, v in enumerate(values)
        )
        out.append(_el("polyline", points=points, fill="none", stroke=colour, stroke_width=1.5))
        lx = round(x0 + 14 + (index % columns) * (width - 20) / 2, 1)
        ly = bottom + 30 + 13 * (index // columns)
        out.append(_el("rect", x=lx, y=ly - 7, width=10, height=3, fill=colour))
        out.append(_el("text", label, x=lx + 14, y=ly - 2, font_size=10))
    return out


def alarm_widget(widget: dict[str, Any]) -> list[str]:
    """The alarm status list (the sample's incident has put the dead-letter alarm on)."""
    x0, y0, _, _, out = _panel(widget)
    for index, arn in enumerate(widget["properties"]["alarms"]):
        name = arn.rpartition(":alarm:")[2].removeprefix("switchboard-")
        firing = "DeadLetter" in name
        y = y0 + 56 + 44 * index
        colour, state = ("#d13212", "In alarm") if firing else ("#1d8102", "OK")
        out.append(_el("circle", cx=x0 + 24, cy=y - 4, r=6, fill=colour))
        out.append(_el("text", name, x=x0 + 38, y=y, font_size=12))
        out.append(_el("text", state, x=x0 + 38, y=y + 15, font_size=10, fill=colour))
    return out


def render(body: dict[str, Any]) -> str:
    """The whole dashboard as one SVG document."""
    width = 24 * UNIT_W
    height = TOP + max(w["y"] + w["height"] for w in body["widgets"]) * UNIT_H
    svg = _el("svg", "", xmlns="http://www.w3.org/2000/svg", width=width, height=height,
              font_family="sans-serif")[: -len("</svg>")]  # fmt: skip
    parts = [
        svg,
        _el("rect", width=width, height=height, fill="#f2f3f3"),
        _el("text", f"{CAPTION} (generated by scripts/dashboard_picture.py)", x=12, y=24,
            font_size=15),
    ]  # fmt: skip
    for widget in body["widgets"]:
        parts.extend(metric_widget(widget) if widget["type"] == "metric" else alarm_widget(widget))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> None:
    """Write docs/dashboard.svg (``--check``: exit 1 if it is not up to date)."""
    picture = render(sample_body())
    if "--check" in sys.argv[1:]:
        sys.exit(0 if OUT.read_text() == picture else 1)
    OUT.write_text(picture)
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
