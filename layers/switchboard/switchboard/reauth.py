"""The ``auth`` action's rules: a fresh token replaces a connection's capabilities.

A token presented on an open connection is verified exactly as ``$connect`` verifies one
(the same verifier, a single-use ``jti`` spent once) and must speak for the same user;
otherwise it is ``unauthorized`` and nothing changes. Its ``channels`` and ``presence``
then replace the connection's (one conditional ``UpdateItem``), and every subscription the
fresh ``channels`` no longer allow ends: its item is deleted, a presence channel announces
the leave, and the connection gets ``{"type": "unsubscribed", "channel": C, "reason":
"forbidden"}`` before the ``ack``. Presence data shown on channels the connection stays on
is the one it joined with (a rejoin shows the new one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from switchboard import protocol
from switchboard.channels import is_allowed
from switchboard.config import Settings
from switchboard.errors import ForbiddenError, TokenReplayedError, UnauthorizedError
from switchboard.storage import ConnectionRecord, Storage

if TYPE_CHECKING:
    from switchboard.auth import TokenVerifier
    from switchboard.realtime import Realtime

FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class Refreshed:
    """What an ``auth`` did: the fresh token's expiry and the subscriptions it ended."""

    expires_at: int
    ended: list[str]


class Reauthorizer:
    """Refreshes a connection's capabilities from a fresh token of the same user."""

    def __init__(
        self,
        *,
        store: Storage,
        settings: Settings,
        verifier: Callable[[], TokenVerifier],
        realtime: Realtime,
        post: Callable[[str, bytes], None],
    ) -> None:
        self.store = store
        self.settings = settings
        self.verifier = verifier
        self.realtime = realtime
        self.post = post

    def refresh(self, connection: ConnectionRecord, token: str) -> Refreshed:
        """Verify ``token`` for ``connection``'s user, take its capabilities, and end the
        subscriptions they no longer allow (``unsubscribed`` frames first)."""
        identity = self.verifier().verify(token)
        if identity.user_id != connection.user_id:
            raise UnauthorizedError("the token is for another user than this connection's")
        leeway = self.settings.token_leeway_seconds
        if identity.jti is not None and not self.store.spend_token(
            identity.jti, identity.expires_at + leeway
        ):
            raise TokenReplayedError("token already used")
        cid = connection.connection_id
        if not self.store.replace_capabilities(cid, identity.capabilities, identity.presence):
            raise ForbiddenError("this connection is not registered; reconnect")
        fresh = replace(connection, capabilities=identity.capabilities, presence=identity.presence)
        ended = [
            channel
            for channel in self.store.channels_of(cid)
            if not is_allowed(channel, identity.capabilities)
        ]
        for channel in ended:
            self.realtime.unsubscribe(fresh, channel)
            self.post(cid, protocol.encode(protocol.unsubscribed(channel, FORBIDDEN)))
        return Refreshed(identity.expires_at, ended)
