"""Many HTTP/1.1 requests in flight on one thread: keep-alive sockets and one selector.

A fan-out through a thread pool pays for its threads: every blocking socket call hands the
GIL to another thread, and with 32 of them that doubles the CPU each post costs
(``bench/fanout_threads.py``). Here one thread keeps up to ``concurrency`` requests in
flight over non-blocking keep-alive connections (TLS included), waiting on them with one
:mod:`selectors` selector. HTTP/1.1 framing is done by h11 (sans-I/O): this module only
moves bytes, keeps time and reuses connections.

Requests are pulled from the caller's iterator only when a connection is free, so a
request is built (and signed) just before it is sent. Each one yields its response's
status and headers, or the transport error that ended it: a connection that fails is
closed and replaced, never reused.

Modules, one concern each: :mod:`~switchboard.multiplex.messages` (requests, responses,
:exc:`TransportError`), :mod:`~switchboard.multiplex.connection` (one connection's state
machine: :class:`~switchboard.multiplex.connection.ConnectionState` and its transition
table), :mod:`~switchboard.multiplex.addresses` (the DNS cache),
:mod:`~switchboard.multiplex.pool` (opening connections, keeping idle ones),
:mod:`~switchboard.multiplex.pacer` (holding paced requests back without sleeping),
:mod:`~switchboard.multiplex.selector_loop` (one exchange's selector loop) and
:mod:`~switchboard.multiplex.multiplexer` (:class:`Multiplexer`: one step of a connection,
and what outlives an exchange).
"""

from switchboard.multiplex.messages import Request, Response, TransportError
from switchboard.multiplex.multiplexer import Multiplexer

__all__ = ["Multiplexer", "Request", "Response", "TransportError"]
