"""The container: every long-lived object of one Lambda container, built once, passed in.

Owns the wiring. :class:`Container` holds the settings, the store and the factories of
the expensive clients (the Management API sender, SQS, the token verifier, Powertools
idempotency), and builds each object the first time a handler needs it, so that
``$connect`` never loads the fan-out and a frame never loads PyJWT. Handlers receive it
from :mod:`switchboard.handlers`; tests build one with fakes (a
:class:`~switchboard.memory_store.MemoryStore`, a fake sender) and :func:`install` it.

:func:`current` is the container of this process: built from the environment on first
use (a bad setting fails the cold start), replaced by :func:`install`, dropped by
:func:`reset`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from switchboard.config import Settings
from switchboard.errors import ConfigurationError
from switchboard.storage import Storage

if TYPE_CHECKING:
    from switchboard.actions import MessageHandler
    from switchboard.auth import TokenVerifier
    from switchboard.events import Bus, Occupancy, Tables
    from switchboard.fanout import FanoutReport
    from switchboard.hook_points import HookPoints
    from switchboard.lifecycle import Connector, Handshake
    from switchboard.queueing import BatchWorker, SqsOverflow
    from switchboard.realtime import Realtime
    from switchboard.sender import ManagementApi
    from switchboard.server_publish import IdempotentRunner


def default_sender(settings: Settings, endpoint: str) -> ManagementApi:
    """The Management API sender ``DELIVERY_ENGINE`` names: the delivery engine (``fast``,
    the default) or boto3's client (``boto3``, the reference path)."""
    if settings.delivery_engine == "fast":
        from switchboard.delivery import DeliveryEngine

        return DeliveryEngine.for_endpoint(
            endpoint, settings.region, pool_size=settings.fanout_concurrency
        )
    from switchboard.sender import Boto3Sender

    return Boto3Sender.for_endpoint(
        endpoint, settings.region, pool_size=settings.fanout_concurrency
    )


def default_verifier(settings: Settings) -> Callable[[], TokenVerifier]:
    """Token verification from the settings: the JWKS client once, the secret re-read."""
    from switchboard.auth import VerifierSource  # PyJWT only where tokens are verified
    from switchboard.secrets import load_token_secret

    return VerifierSource(settings, load_token_secret).get


def default_sqs(settings: Settings) -> Any:
    """The SQS client of the fan-out queue (botocore, no boto3 import)."""
    from switchboard.queueing import sqs_client

    return sqs_client(settings.region)


def default_idempotent_runner(settings: Settings) -> IdempotentRunner:
    """Powertools idempotency on the stack's idempotency table."""
    from switchboard.server_publish import IdempotentRunner

    return IdempotentRunner(settings.idempotency_table, settings.dynamodb_endpoint, settings.region)


def default_occupancy(settings: Settings, states_table: str) -> Occupancy:
    """The channel states on DynamoDB, through the container's one DynamoDB client (the
    store's: ``dynamodb_tables.shared_client``, so the tables, region and endpoint the
    :class:`~switchboard.store.Store` bound, not ``settings``'). That client is pynamodb's:
    standard retries with 4 attempts in all (pynamodb's ``max_retry_attempts`` 3, plus the
    first), timeouts of 15 s to connect and 30 s to read, botocore's parameter validation
    off."""
    from switchboard.dynamodb_tables import shared_client
    from switchboard.occupancy import DynamoDBOccupancy

    return DynamoDBOccupancy(
        shared_client(), states_table=states_table, subscriptions_table=settings.subscriptions_table
    )


def default_event_bus(settings: Settings, bus_name: str) -> Bus:
    """The EventBridge bus (one botocore client per container, standard retries, 3 attempts
    in all; a local one at ``EVENTS_ENDPOINT``). No boto3 import on the cold path."""
    from botocore.config import Config
    from botocore.session import get_session

    from switchboard.eventbus import EventBridgeBus

    config = Config(retries={"mode": "standard", "total_max_attempts": 3})
    client = get_session().create_client(
        "events", region_name=settings.region, endpoint_url=settings.events_endpoint, config=config
    )
    return EventBridgeBus(client, bus_name)


@dataclass(eq=False)
class Container:
    """The objects of one Lambda container; each made on first use, then kept."""

    settings: Settings
    store: Storage
    new_sender: Callable[[Settings, str], ManagementApi] = default_sender
    new_verifier: Callable[[Settings], Callable[[], TokenVerifier]] = default_verifier
    new_sqs: Callable[[Settings], Any] = default_sqs
    new_idempotent_runner: Callable[[Settings], IdempotentRunner] = default_idempotent_runner
    new_occupancy: Callable[[Settings, str], Occupancy] = default_occupancy
    new_event_bus: Callable[[Settings, str], Bus] = default_event_bus
    on_publish: Callable[[str, FanoutReport], None] | None = None  # None: telemetry's
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    _made: dict[Any, Any] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Container:
        """The production container: the DynamoDB store bound to these tables."""
        from switchboard.store import Store

        return cls(settings=settings, store=Store(settings))

    def _once(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._made:
                self._made[key] = make()
            return self._made[key]

    def verifier(self) -> TokenVerifier:
        """A token verifier with the current secret (or the JWKS client)."""
        get: Callable[[], TokenVerifier] = self._once(
            "verifier", lambda: self.new_verifier(self.settings)
        )
        return get()

    def hooks(self) -> HookPoints | None:
        """The app's hooks (``HOOKS_MODULE``), imported once; ``None`` without a module,
        and then neither the app's module nor the hook machinery is imported."""
        module = self.settings.hooks_module
        if not module:
            return None
        from switchboard.hook_points import HookPoints

        return self._once("hooks", lambda: HookPoints.load(module))  # type: ignore[no-any-return]

    def connector(self) -> Connector:
        """The ``$connect`` logic."""
        from switchboard.lifecycle import Connector

        return self._once(  # type: ignore[no-any-return]
            "connector",
            lambda: Connector(
                store=self.store,
                settings=self.settings,
                verifier=self.verifier,
                clock=self.clock,
                hooks=self.hooks(),
                realtime=self._hooks_realtime,
            ),
        )

    def _hooks_realtime(self, handshake: Handshake) -> Realtime:
        """The Realtime a hook publishes through at ``$connect``: the handshake's API."""
        if handshake.api_id and handshake.stage:
            return self.realtime(self.endpoint_for(handshake.api_id, handshake.stage))
        return self.realtime(self.configured_endpoint())

    def endpoint_for(self, api_id: str, stage: str) -> str:
        """The Management API endpoint of this API's stage (or the configured override)."""
        from switchboard.sender import management_endpoint

        config = self.settings
        return management_endpoint(config.management_endpoint, api_id, config.region, stage)

    def configured_endpoint(self) -> str:
        """The Management API endpoint for code that gets no WebSocket event (HTTP publish)."""
        endpoint = self.settings.management_endpoint
        if not endpoint:
            raise ConfigurationError("MANAGEMENT_ENDPOINT must name the WebSocket API's stage URL")
        return endpoint

    def sender(self, endpoint: str) -> ManagementApi:
        """The Management API sender for ``endpoint`` (one per endpoint)."""
        return self._once(  # type: ignore[no-any-return]
            ("sender", endpoint), lambda: self.new_sender(self.settings, endpoint)
        )

    def sqs(self) -> Any:
        """The SQS client of the fan-out queue."""
        return self._once("sqs", lambda: self.new_sqs(self.settings))

    def overflow(self, endpoint: str) -> SqsOverflow | None:
        """Where a fan-out above the threshold goes: SQS batches, when a queue is set."""
        config = self.settings
        if not config.fanout_queue_url:
            return None
        from switchboard.queueing import SqsOverflow

        return SqsOverflow(
            self.sqs,
            config.fanout_queue_url,
            endpoint,
            threshold=config.fanout_queue_threshold,
            batch_size=config.fanout_batch_size,
        )

    def realtime(self, endpoint: str) -> Realtime:
        """Channels, history and presence, delivering through ``endpoint``."""
        return self._once(("realtime", endpoint), lambda: self._realtime(endpoint))  # type: ignore[no-any-return]

    def _realtime(self, endpoint: str) -> Realtime:
        from switchboard.fanout import Fanout
        from switchboard.realtime import Realtime

        config = self.settings
        out = self.sender(endpoint)
        on_publish = self.on_publish
        if on_publish is None:
            from switchboard import telemetry

            on_publish = telemetry.record_publish

        def fanout_factory(prune: Callable[[str], object]) -> Fanout:
            return Fanout(
                out.post,
                prune,
                concurrency=config.fanout_concurrency,
                max_attempts=config.fanout_max_attempts,
                sleep=self.sleep,
                overflow=self.overflow(endpoint),
                max_rate=config.fanout_rate_limit or None,
                post_many=out.posts_in_flight(),
            )

        return Realtime(
            store=self.store,
            send=out.post,
            settings=config,
            fanout_factory=fanout_factory,
            on_publish=on_publish,
            clock=self.clock,
            sleep=self.sleep,
        )

    def message_handler(self, endpoint: str) -> MessageHandler:
        """The ``$default`` frame handler delivering through ``endpoint``."""
        from switchboard.actions import MessageHandler

        return self._once(  # type: ignore[no-any-return]
            ("handler", endpoint),
            lambda: MessageHandler(
                realtime=self.realtime(endpoint),
                sender=self.sender(endpoint),
                settings=self.settings,
                clock=self.clock,
                verifier=self.verifier,
                hooks=self.hooks(),
            ),
        )

    def batch_worker(self) -> BatchWorker:
        """The fan-out worker's logic: deliver queued batches, requeue the throttled."""
        return self._once("batch_worker", self._batch_worker)  # type: ignore[no-any-return]

    def _batch_worker(self) -> BatchWorker:
        from switchboard.queueing import BatchWorker, FanoutBatch, SqsOverflow, endpoint_check

        config = self.settings

        def deliver(endpoint: str, connection_ids: list[str], data: bytes) -> FanoutReport:
            return self.realtime(endpoint).deliver(connection_ids, data)

        def requeue(batch: FanoutBatch, delay_seconds: int) -> FanoutReport:
            queue = SqsOverflow(
                self.sqs,
                config.fanout_queue_url or "",
                batch.endpoint,
                threshold=len(batch.connection_ids),
                batch_size=config.fanout_batch_size,
                generation=batch.generation,
                delay_seconds=delay_seconds,
            )
            return queue.enqueue(batch.connection_ids, batch.data)

        allowed = endpoint_check(config.management_endpoint, config.region)
        return BatchWorker(deliver, requeue, allowed)

    def idempotent_runner(self) -> IdempotentRunner:
        """Runs server-side publishes at most once per ``Idempotency-Key``."""
        return self._once(  # type: ignore[no-any-return]
            "idempotent_runner", lambda: self.new_idempotent_runner(self.settings)
        )

    def event_tables(self) -> Tables:
        """The three tables whose streams the events function reads."""
        from switchboard.events import Tables

        config = self.settings
        return Tables(
            connections=config.connections_table,
            subscriptions=config.subscriptions_table,
            presence=config.presence_table,
        )

    def occupancy(self) -> Occupancy:
        """Whether each channel is held: the channel-states table's conditional writes."""
        states = self.settings.channel_states_table
        if not states:
            raise ConfigurationError("CHANNEL_STATES_TABLE must name the channel states table")
        return self._once("occupancy", lambda: self.new_occupancy(self.settings, states))  # type: ignore[no-any-return]

    def event_bus(self) -> Bus:
        """The EventBridge bus backend events are put on."""
        name = self.settings.event_bus_name
        if not name:
            raise ConfigurationError("EVENT_BUS_NAME must name the EventBridge bus")
        return self._once("event_bus", lambda: self.new_event_bus(self.settings, name))  # type: ignore[no-any-return]


_current: Container | None = None
_current_lock = threading.Lock()


def current() -> Container:
    """This process's container, built from the environment on first use."""
    global _current  # noqa: PLW0603 - the one per-process holder, set once per container
    with _current_lock:
        if _current is None:
            _current = Container.from_settings(Settings.from_env())
        return _current


def install(container: Container) -> Container:
    """Make ``container`` this process's (tests, the local gateway)."""
    global _current  # noqa: PLW0603
    with _current_lock:
        _current = container
    return container


def reset() -> None:
    """Forget this process's container and the senders' cached clients (tests)."""
    global _current  # noqa: PLW0603
    with _current_lock:
        _current = None
    from switchboard.sender import clear_clients

    clear_clients()
    from switchboard.delivery import clear_engines

    clear_engines()
