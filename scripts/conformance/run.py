"""``make conformance``: Autobahn|Testsuite's fuzzingclient against the local gateway.

Cases 1-7 and 10 run against two servers on 127.0.0.1: the local gateway serving the e2e
fixture application (its ``$default`` route echoes each message through the Management
API, as a Lambda function would) and a bare websockets echo server, the baseline. The
results are written into docs/conformance.md between generated markers; the explanations
around them are kept.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "conformance.md"
CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"]
BEHAVIOURS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
BEGIN, END = "<!-- conformance:begin -->", "<!-- conformance:end -->"
GATEWAY, BASELINE = "local-gateway", "websockets-echo"


@contextlib.contextmanager
def server(command: list[str], log: Path, ready: str) -> Iterator[str]:
    """Start ``command``, wait for its ``ready`` line, yield the ws:// URL it printed."""
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603 - our own commands
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        url = ""
        for line in process.stdout:
            output.write(line)
            found = re.search(ready, line)
            if found:
                url = found.group(1)
                break
        if not url:
            process.kill()
            raise SystemExit(f"{command[0]} did not start; see {log}")
        drain = threading.Thread(target=output.writelines, args=(process.stdout,), daemon=True)
        drain.start()
        try:
            yield url
        finally:
            process.terminate()
            process.wait(30)
            drain.join(5)


def summary(results: dict[str, dict[str, str]]) -> Counter[str]:
    """How many cases ended with each behaviour."""
    return Counter(result["behavior"] for result in results.values())


def case_key(case: str) -> tuple[int, ...]:
    """``"6.10.2"`` -> ``(6, 10, 2)``, for sorting."""
    return tuple(int(part) for part in case.split("."))


def render(report: dict[str, dict[str, dict[str, str]]], seconds: float) -> str:
    """The generated part of docs/conformance.md."""
    gateway, baseline = report[GATEWAY], report[BASELINE]
    lines = [
        BEGIN,
        f"Cases {', '.join(CASES)} ({len(gateway)} cases), run by `make conformance` on "
        f"{time.strftime('%Y-%m-%d')} in {seconds:.0f} s (Autobahn|Testsuite 0.8.2, "
        "Python 2.7.18, 127.0.0.1).",
        "",
        "| server | " + " | ".join(BEHAVIOURS) + " | total |",
        "| --- | " + " | ".join("---:" for _ in BEHAVIOURS) + " | ---: |",
    ]
    for name, results in ((GATEWAY, gateway), (BASELINE, baseline)):
        counts = summary(results)
        cells = " | ".join(str(counts.get(behaviour, 0)) for behaviour in BEHAVIOURS)
        lines.append(f"| {name} | {cells} | {len(results)} |")
    lines += [
        "",
        "Cases where the two differ (behaviour, then the close code the server sent):",
        "",
        f"| case | {BASELINE} | {GATEWAY} | gateway close |",
        "| --- | --- | --- | ---: |",
    ]
    for case in sorted(gateway, key=case_key):
        ours, theirs = gateway[case], baseline.get(case, {})
        if ours["behavior"] != theirs.get("behavior"):
            lines.append(
                f"| {case} | {theirs.get('behavior', '-')} | {ours['behavior']} | "
                f"{ours.get('remoteCloseCode') or '-'} |"
            )
    lines.append(END)
    return "\n".join(lines)


def write_doc(generated: str) -> None:
    """Replace the generated block of docs/conformance.md (or start the file)."""
    text = DOC.read_text() if DOC.exists() else f"# WebSocket conformance\n\n{BEGIN}\n{END}\n"
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DOC.write_text(text[:start] + generated + text[end:])


def main() -> None:
    """Run the fuzzing client against both servers and write the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wstest", required=True, help="wstest of the Python 2.7 virtualenv")
    parser.add_argument("--outdir", type=Path, default=ROOT / ".tools" / "conformance-report")
    args = parser.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    gateway_command = [
        sys.executable,
        "-m",
        "local_gateway",
        "--template",
        "tests/e2e/fixtures/template.yaml",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-watch",
    ]
    baseline_command = [sys.executable, "scripts/conformance/echo_server.py"]
    started = time.monotonic()
    with (
        server(gateway_command, args.outdir / "gateway.log", r"^Ready in .*: (ws://\S+)") as ours,
        server(baseline_command, args.outdir / "baseline.log", r"^Ready: (ws://\S+)") as theirs,
        tempfile.TemporaryDirectory() as scratch,
    ):
        spec = {
            "outdir": str(args.outdir),
            "servers": [
                {"agent": GATEWAY, "url": f"{ours}/test"},
                {"agent": BASELINE, "url": theirs},
            ],
            "cases": CASES,
            "exclude-cases": [],
            "exclude-agent-cases": {},
        }
        spec_path = Path(scratch) / "fuzzingclient.json"
        spec_path.write_text(json.dumps(spec))
        subprocess.run(  # noqa: S603 - the virtualenv's wstest
            [str(Path(args.wstest).resolve()), "--mode", "fuzzingclient", "--spec", str(spec_path)],
            cwd=scratch,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    report = json.loads((args.outdir / "index.json").read_text())
    generated = render(report, time.monotonic() - started)
    write_doc(generated)
    print(generated)
    print(f"\nFull report: {args.outdir / 'index.html'}")


if __name__ == "__main__":
    main()
