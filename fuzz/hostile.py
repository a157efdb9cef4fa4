"""Hostile input for ``make fuzz``: frames, ``POST /publish`` bodies and tokens, from a
seeded ``random.Random`` (the same seed gives the same run).

Each generator returns what to send and a kind that names the class of attack, so the
report can say what was sent. Plain functions: nothing here opens a socket.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
from dataclasses import dataclass
from typing import Any

CHANNEL = "fuzz:room"
SURROGATES = ["\\ud800", "\\udbff", "\\udc00", "\\udfff", "\\ud83d"]
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "1" + "0" * 400, "2e308"]
DEPTHS = [31, 32, 33, 100, 1000, 5000, 10_000]
ACTIONS = ["subscribe", "unsubscribe", "publish", "history", "presence", "ping"]
ALPHABET = (
    'abcxyz019{}[]:,"\\ \t\n/-+.eE' + "éß€😀\u2028\u2029\u0000\u001f\ufeff\ufffd" + "nulltruefalse"
)


@dataclass(frozen=True)
class Frame:
    """One WebSocket message to send: text (a str, or raw bytes sent as a text frame) or
    binary; ``closes`` when the gateway is expected to close the connection for it."""

    kind: str
    payload: str | bytes
    text: bool = True
    closes: bool = False


def _random_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(size))


def random_value(rng: random.Random, depth: int = 0) -> Any:
    """A random (strict) JSON value, at most a few levels deep."""
    roll = rng.random()
    if depth >= 3 or roll < 0.5:
        return rng.choice(
            [
                None,
                True,
                False,
                rng.randint(-(2**63), 2**63),
                rng.uniform(-1e300, 1e300),
                _random_text(rng, rng.randint(0, 12)),
                2**53 + 1,
                -0.0,
            ]
        )
    if roll < 0.75:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {
        _random_text(rng, rng.randint(0, 6)): random_value(rng, depth + 1)
        for _ in range(rng.randint(0, 4))
    }


def _field(rng: random.Random, good: Any) -> Any:
    """``good`` most of the time, otherwise something of the wrong shape."""
    if rng.random() < 0.6:
        return good
    return rng.choice(
        [
            random_value(rng),
            "",
            "x" * rng.choice([129, 1000, 5000]),
            -1,
            10**20,
            1.5,
            [good],
            {"$gt": ""},
            "bad channel!",
            "room\u0000",
        ]
    )


def structured_frame(rng: random.Random) -> dict[str, Any]:
    """A frame object as a client (or an attacker imitating one) would write it."""
    action = rng.choice(ACTIONS) if rng.random() < 0.9 else _field(rng, "nope")
    frame: dict[str, Any] = {"action": action}
    if rng.random() < 0.8:
        frame["id"] = _field(rng, f"f{rng.randint(0, 10**6)}")
    if action != "ping" or rng.random() < 0.2:
        frame["channel"] = _field(rng, rng.choice([CHANNEL, "presence-fuzz", "fuzz:other"]))
    if action == "publish" or rng.random() < 0.1:
        frame["data"] = random_value(rng)
    for name in ("since", "epoch", "limit", "before"):
        if rng.random() < 0.15:
            frame[name] = _field(rng, rng.randint(0, 100))
    return frame


def _dump(rng: random.Random, value: Any) -> str:
    return json.dumps(value, ensure_ascii=rng.random() < 0.5)


def _with_surrogate(rng: random.Random) -> str:
    """A frame with a lone surrogate escape in its id, action, a key or its data."""
    surrogate = rng.choice(SURROGATES)
    where = rng.choice(["id", "action", "key", "data"])
    if where == "id":
        return f'{{"action":"ping","id":"a{surrogate}"}}'
    if where == "action":
        return f'{{"action":"{surrogate}","id":"s"}}'
    if where == "key":
        return f'{{"action":"ping","{surrogate}":1,"id":"k"}}'
    return f'{{"action":"publish","channel":"{CHANNEL}","data":"x{surrogate}","id":"d"}}'


def _deep(rng: random.Random) -> str:
    depth = rng.choice(DEPTHS)
    inner = rng.choice(["[", "{", "mixed"])
    if inner == "[":
        nested = "[" * depth + "]" * depth
    else:  # 5 or 6 characters a level: kept under a single frame's 32 KB
        depth = min(depth, 5000)
        if inner == "{":
            nested = '{"a":' * depth + "1" + "}" * depth
        else:
            nested = '[{"a":' * (depth // 2) + "1" + "}]" * (depth // 2)
    return f'{{"action":"publish","channel":"{CHANNEL}","id":"deep","data":{nested}}}'


def _non_finite(rng: random.Random) -> str:
    number = rng.choice(NON_FINITE)
    return rng.choice(
        [
            f'{{"action":"publish","channel":"{CHANNEL}","data":{number},"id":"n"}}',
            f'{{"action":"publish","channel":"{CHANNEL}","data":{{"a":[{number}]}}}}',
            f'{{"action":"history","channel":"{CHANNEL}","limit":{number}}}',
            f'{{"action":"subscribe","channel":"{CHANNEL}","since":{number}}}',
        ]
    )


def _closing(rng: random.Random) -> Frame:
    roll = rng.choice(["binary", "utf8", "oversize"])
    if roll == "binary":
        return Frame("binary", b'{"action":"ping"}', text=False, closes=True)
    if roll == "utf8":
        return Frame("invalid-utf8", b'{"action":"ping","id":"\xff\xfe"}', text=True, closes=True)
    return Frame("oversize", '{"action":"ping","x":"' + "x" * (129 * 1024) + '"}', closes=True)


# (kind, weight): what share of the frames each class takes.
FRAME_KINDS = [
    ("random-text", 12),
    ("random-json", 8),
    ("structured", 50),
    ("surrogate", 8),
    ("deep", 8),
    ("non-finite", 8),
    ("truncated", 5),
    ("closing", 1),
]


def hostile_frame(rng: random.Random) -> Frame:
    """One frame of a kind drawn by :data:`FRAME_KINDS`' weights."""
    kinds, weights = zip(*FRAME_KINDS, strict=True)
    kind = rng.choices(kinds, weights)[0]
    if kind == "random-text":
        return Frame(kind, _random_text(rng, rng.randint(0, 200)))
    if kind == "random-json":
        return Frame(kind, _dump(rng, random_value(rng)))
    if kind == "structured":
        return Frame(kind, _dump(rng, structured_frame(rng)))
    if kind == "surrogate":
        return Frame(kind, _with_surrogate(rng))
    if kind == "deep":
        return Frame(kind, _deep(rng))
    if kind == "non-finite":
        return Frame(kind, _non_finite(rng))
    if kind == "truncated":
        text = _dump(rng, structured_frame(rng))
        return Frame(kind, text[: rng.randint(1, max(1, len(text) - 1))])
    return _closing(rng)


# ---------------------------------------------------------------- POST /publish bodies

MB = 1024 * 1024


def hostile_body(rng: random.Random) -> tuple[str, bytes]:
    """A ``POST /publish`` body and its kind."""
    kind = rng.choice(
        [
            "valid",
            "batch",
            "random-bytes",
            "not-utf8",
            "non-finite",
            "surrogate",
            "deep",
            "over-1mb",
            "truncated",
            "not-an-object",
            "wrong-shape",
            "empty",
        ]
    )
    if kind == "valid":
        body: Any = {"channel": CHANNEL, "data": random_value(rng)}
    elif kind == "batch":
        body = {"messages": [{"channel": CHANNEL, "data": random_value(rng)}] * rng.randint(1, 3)}
    elif kind == "random-bytes":
        return kind, rng.randbytes(rng.randint(1, 200))
    elif kind == "not-utf8":
        return kind, b'{"channel":"' + CHANNEL.encode() + b'","data":"\xc3\x28\xff"}'
    elif kind == "non-finite":
        return kind, f'{{"channel":"{CHANNEL}","data":{rng.choice(NON_FINITE)}}}'.encode()
    elif kind == "surrogate":
        return kind, f'{{"channel":"{CHANNEL}","data":"{rng.choice(SURROGATES)}"}}'.encode()
    elif kind == "deep":
        depth = rng.choice([*DEPTHS, 100000])
        return kind, f'{{"channel":"{CHANNEL}","data":{"[" * depth}{"]" * depth}}}'.encode()
    elif kind == "over-1mb":
        size = rng.choice([MB + 1, MB + 1000, 2 * MB, 5 * MB])
        return kind, b'{"channel":"fuzz:room","data":"' + b"x" * size + b'"}'
    elif kind == "truncated":
        text = json.dumps({"channel": CHANNEL, "data": random_value(rng)})
        return kind, text[: rng.randint(0, len(text) - 1)].encode()
    elif kind == "not-an-object":
        body = random_value(rng) if rng.random() < 0.5 else [1, 2]
        if isinstance(body, dict):
            body = [body]
    elif kind == "wrong-shape":
        body = structured_frame(rng)
    else:
        return kind, b""
    return kind, _dump(rng, body).encode()


# ---------------------------------------------------------------- tokens


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_raw(secret: str, header: str, payload: str) -> str:
    """An HS256 token over exactly this header and payload text, strict JSON or not."""
    header_b64, payload_b64 = (
        _b64(part.encode("utf-8", "surrogatepass")) for part in (header, payload)
    )
    signing_input = f"{header_b64}.{payload_b64}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


HS256 = '{"alg":"HS256","typ":"JWT"}'


def hostile_token(rng: random.Random, secret: str) -> tuple[str, str]:
    """A token that must be refused (401), correctly signed or not, and its kind."""
    exp = int(time.time()) + 600
    kind = rng.choice(
        [
            "garbage",
            "exp-string",
            "exp-infinity",
            "sub-surrogate",
            "presence-nan",
            "deep-claims",
            "alg-none",
            "wrong-secret",
            "no-exp",
        ]
    )
    payloads = {
        "exp-string": f'{{"sub":"mallory","exp":"{exp}"}}',
        "exp-infinity": '{"sub":"mallory","exp":Infinity}',
        "sub-surrogate": f'{{"sub":"\\ud800","exp":{exp}}}',
        "presence-nan": f'{{"sub":"mallory","exp":{exp},"presence":NaN}}',
        "deep-claims": f'{{"sub":"mallory","exp":{exp},"x":{"[" * 1200}{"]" * 1200}}}',
        "no-exp": '{"sub":"mallory"}',
    }
    if kind == "garbage":
        return kind, _random_text(rng, rng.randint(1, 100))
    if kind == "alg-none":
        claims = f'{{"sub":"mallory","exp":{exp}}}'
        return kind, f"{_b64(b'{"alg":"none"}')}.{_b64(claims.encode())}."
    if kind == "wrong-secret":
        return kind, sign_raw("x" * 40, HS256, f'{{"sub":"mallory","exp":{exp}}}')
    return kind, sign_raw(secret, HS256, payloads[kind])
