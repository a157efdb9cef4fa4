"""The ``auth`` action on DynamoDB (moto) through the ``$default`` handler: the fresh
token's channels and presence stored, a narrowed presence subscription ended with its
leave announced, a wrong user refused with nothing changed."""

from __future__ import annotations

from switchboard.store import ConnectionModel, SubscriptionModel
from tests.conftest import ManagementApiFake, connect, make_token, send_frame

ME = "Fz1xWfAGIAMCKsA="
BOB = "BOBxxxxxxxxxxxx="


def subscriptions(connection_id: str) -> list[str]:
    return sorted(s.channel for s in SubscriptionModel.by_connection.query(connection_id))


def test_narrowing_stores_the_fresh_claims_and_ends_the_presence_subscription(
    management: ManagementApiFake,
) -> None:
    connect(ME, "alice", channels=["room:*", "presence-lobby"], presence={"name": "Al"})
    connect(BOB, "bob")
    for channel in ("room:a", "presence-lobby"):
        send_frame(ME, {"action": "subscribe", "channel": channel, "id": "s"})
    send_frame(BOB, {"action": "subscribe", "channel": "presence-lobby", "id": "s"})
    management.frames.clear()
    token = make_token("alice", channels=["room:a"], presence={"name": "Alice"}, ttl=900)
    send_frame(ME, {"action": "auth", "token": token, "id": "t"})
    ended, ack = management.replies(ME)
    assert ended == {"type": "unsubscribed", "channel": "presence-lobby", "reason": "forbidden"}
    assert (ack["type"], ack["id"], set(ack)) == ("ack", "t", {"type", "id", "expiresAt"})
    assert management.replies(BOB) == [
        {"type": "leave", "channel": "presence-lobby", "user": "alice"}
    ]
    item = ConnectionModel.get(ME, consistent_read=True)
    assert (item.channels, item.presence) == (["room:a"], '{"name":"Alice"}')
    assert subscriptions(ME) == ["room:a"]
    # all channels again: the attribute is removed, as $connect stores a token without any
    send_frame(ME, {"action": "auth", "token": make_token("alice"), "id": "u"})
    item = ConnectionModel.get(ME, consistent_read=True)
    assert (item.channels, item.presence) == (None, None)


def test_a_token_of_another_user_is_unauthorized_and_changes_nothing(
    management: ManagementApiFake,
) -> None:
    connect(ME, "alice", channels=["room:*"])
    send_frame(ME, {"action": "subscribe", "channel": "room:a", "id": "s"})
    management.frames.clear()
    send_frame(ME, {"action": "auth", "token": make_token("mallory", channels=[]), "id": "t"})
    (reply,) = management.replies(ME)
    assert (reply["type"], reply["code"]) == ("error", "unauthorized")
    assert ConnectionModel.get(ME, consistent_read=True).channels == ["room:*"]
    assert subscriptions(ME) == ["room:a"]
