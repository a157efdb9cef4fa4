"""Publish from code in the same AWS account: another Lambda, a job, a script.

Needs the stack's table names (``CONNECTIONS_TABLE`` ...) and ``MANAGEMENT_ENDPOINT``
(the ``WebSocketUrl`` output with ``https://``) in the environment, and IAM access to
those tables and to ``execute-api:ManageConnections``::

    from switchboard.publishing import publish
    publish("room:lobby", {"text": "the build is green"})
"""

from __future__ import annotations

from typing import Any

from switchboard import container
from switchboard.channels import validate_channel
from switchboard.realtime import PublishResult


def publish(channel: str, data: Any, *, sender: str = "server") -> PublishResult:
    """Publish ``data`` on ``channel`` as ``sender``; returns its seq and delivery report."""
    validate_channel(channel)
    box = container.current()
    return box.realtime(box.configured_endpoint()).publish(channel, data, sender)
