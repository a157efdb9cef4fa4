"""An example hooks module (docs/hooks.md): refuse a word, stamp a server time, keep every
message in the app's own table, and answer an ``rpc`` from it.

Deploy: copy this file into ``layers/switchboard/`` (it then ships in the layer, next to the
``switchboard`` package) and deploy with ``HooksModule=app_hooks``. The table is the app's,
not Switchboard's: create it in the app's own stack (partition key ``channel`` S, sort key
``ts`` N), pass its name as ``APP_MESSAGES_TABLE`` to the DefaultFunction and grant that
function ``dynamodb:PutItem`` and ``dynamodb:Query`` on it. Without ``APP_MESSAGES_TABLE``
(``make dev``: ``HOOKS_PATH=examples/hooks HOOKS_MODULE=app_hooks make dev``) the messages are
kept in the worker's memory instead.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from typing import Any

from switchboard import hooks
from switchboard.hooks import Context

REFUSED_WORDS = frozenset({"darn"})
RECENT_MAX = 20

_kept: dict[str, list[dict[str, Any]]] = defaultdict(list)  # without APP_MESSAGES_TABLE


def _table() -> Any:
    """The app's DynamoDB table (boto3 is imported only when one is configured)."""
    name = os.environ.get("APP_MESSAGES_TABLE")
    if not name:
        return None
    import boto3

    return boto3.resource("dynamodb").Table(name)


def keep(channel: str, message: dict[str, Any]) -> None:
    """Persist one published message in the app's table."""
    table = _table()
    if table is None:
        _kept[channel] = [*_kept[channel], message][-RECENT_MAX:]
    else:
        table.put_item(Item={"channel": channel, **message})


def recent(channel: str) -> list[dict[str, Any]]:
    """The newest messages kept for ``channel``, oldest first."""
    table = _table()
    if table is None:
        return list(_kept[channel])
    from boto3.dynamodb.conditions import Key

    items = table.query(
        KeyConditionExpression=Key("channel").eq(channel), ScanIndexForward=False, Limit=RECENT_MAX
    )["Items"]
    return [{k: v for k, v in item.items() if k != "channel"} for item in reversed(items)]


@hooks.on_publish
def stamp_and_keep(ctx: Context, channel: str, data: Any) -> Any:
    """Refuse a word; stamp the server's time; keep the message in the app's table."""
    text = data.get("text") if isinstance(data, dict) else data
    if isinstance(text, str) and REFUSED_WORDS & set(text.lower().split()):
        raise hooks.Reject(code="forbidden", message="that word is not allowed here")
    stamped = {"text": text, "serverTime": int(time.time() * 1000), "user": ctx.user_id}
    keep(channel, stamped)
    return stamped


@hooks.rpc("recent")
def recent_messages(ctx: Context, params: Any) -> list[dict[str, Any]]:
    """``{"channel": ...}``: the app's own record of the channel's recent messages."""
    if not isinstance(params, dict) or not isinstance(params.get("channel"), str):
        raise hooks.Reject(code="bad_request", message='params: {"channel": string}')
    return recent(params["channel"])
