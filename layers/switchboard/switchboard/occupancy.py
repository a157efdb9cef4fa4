"""Whether a channel is held by a subscriber: the state behind occupied/vacated events.

A stream record of one subscription says nothing about the others, and asking afterwards
("how many are there now?") cannot tell two first subscribers racing apart. So each
channel has one item in the channel-states table, moved by conditional writes:

- a subscription inserted: ``occupied`` unless it already is (one ``UpdateItem``);
- a subscription removed: a ``Query`` of the channel's subscriptions (``Limit`` 1,
  strongly consistent); if none is left, ``vacated`` unless it already is.

Each write records the ``eventId`` that made it, and a write with that same id succeeds
again, so a record Lambda redelivers (its events were refused) emits its event again.
A vacated item expires a day later (a channel that is never used again leaves nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

OCCUPIED = "occupied"
VACATED = "vacated"
VACATED_KEPT_SECONDS = 24 * 60 * 60


class DynamoDBOccupancy:
    """:class:`switchboard.events.Occupancy` on DynamoDB (a boto3 ``dynamodb`` client)."""

    def __init__(self, client: Any, *, states_table: str, subscriptions_table: str) -> None:
        self.client = client
        self.states_table = states_table
        self.subscriptions_table = subscriptions_table

    def _move(self, channel: str, to: str, event_id: str, expires: int | None) -> bool:
        other = VACATED if to == OCCUPIED else OCCUPIED
        values: dict[str, Any] = {
            ":to": {"S": to},
            ":other": {"S": other},
            ":id": {"S": event_id},
        }
        update = "SET #state = :to, lastEventId = :id"
        if expires is None:
            update += " REMOVE #ttl"
        else:
            update += ", #ttl = :ttl"
            values[":ttl"] = {"N": str(expires)}
        try:
            self.client.update_item(
                TableName=self.states_table,
                Key={"channel": {"S": channel}},
                UpdateExpression=update,
                ConditionExpression=(
                    "attribute_not_exists(#state) OR #state = :other OR lastEventId = :id"
                ),
                ExpressionAttributeNames={"#state": "state", "#ttl": "ttl"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def occupy(self, channel: str, event_id: str, now: int) -> bool:
        """Mark the channel occupied (see the module docstring)."""
        return self._move(channel, OCCUPIED, event_id, None)

    def vacate_if_empty(self, channel: str, event_id: str, now: int) -> bool:
        """Mark the channel vacated if no subscription is left."""
        left = self.client.query(
            TableName=self.subscriptions_table,
            KeyConditionExpression="channel = :c",
            ExpressionAttributeValues={":c": {"S": channel}},
            ProjectionExpression="connectionId",
            ConsistentRead=True,
            Limit=1,
        )
        if left.get("Items"):
            return False
        return self._move(channel, VACATED, event_id, now + VACATED_KEPT_SECONDS)


class MemoryOccupancy:
    """The same state machine in memory; ``subscribers`` says who is on a channel."""

    def __init__(self, subscribers: Callable[[str], int]) -> None:
        self.subscribers = subscribers
        self.states: dict[str, tuple[str, str]] = {}  # channel -> (state, last event id)

    def _move(self, channel: str, to: str, event_id: str) -> bool:
        state = self.states.get(channel)
        if state is not None and state[0] == to and state[1] != event_id:
            return False
        self.states[channel] = (to, event_id)
        return True

    def occupy(self, channel: str, event_id: str, now: int) -> bool:
        """Mark the channel occupied."""
        return self._move(channel, OCCUPIED, event_id)

    def vacate_if_empty(self, channel: str, event_id: str, now: int) -> bool:
        """Mark the channel vacated if ``subscribers`` counts none."""
        if self.subscribers(channel):
            return False
        return self._move(channel, VACATED, event_id)
