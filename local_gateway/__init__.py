"""The local gateway: ``template.yaml``'s WebSocket API on this machine (``make dev``).

A development server only: never deployed, and nothing deployed imports it. Modules, one
concern each:

- :mod:`~local_gateway.template`: reads the SAM template once (YAML tags, intrinsics, SAM's
  semantics, the specs served: routes, functions, layers, tables, queues, SQS and DynamoDB
  events);
- :mod:`~local_gateway.local_aws`: the local region, account and API ids, and clients of
  the local endpoints;
- :mod:`~local_gateway.events`: API Gateway's Lambda events, from plain values;
- :mod:`~local_gateway.routing`: route selection (WebSocket expression, HTTP API routes);
- :mod:`~local_gateway.workers` and :mod:`~local_gateway.runtime`: functions in worker
  processes, like Lambda containers;
- :mod:`~local_gateway.server`: the port, background tasks, timeouts, HTTP dispatch;
- :mod:`~local_gateway.sniffing`: one port for WebSocket and plain HTTP requests;
- :mod:`~local_gateway.websocket_api`: ``$connect``, messages and ``$disconnect``;
- :mod:`~local_gateway.connections`: the live connections, as the gateway tracks them;
- :mod:`~local_gateway.management`: the ``@connections`` Management API;
- :mod:`~local_gateway.proxy`: what a function's proxy answer means to API Gateway;
- :mod:`~local_gateway.http11`: the small HTTP/1.1 side for non-WebSocket requests;
- :mod:`~local_gateway.static`: development pages (demo, client build, ``/dev/token``);
- :mod:`~local_gateway.dynamodb`: embedded moto server or a configured endpoint;
- :mod:`~local_gateway.sqs`: the template's queues on that moto server, and a poller per
  SQS event source (Lambda's event source mapping);
- :mod:`~local_gateway.streams`: a poller per DynamoDB event source (the tables' streams ->
  function invocations), and the wiring of the backend events' stand-ins;
- :mod:`~local_gateway.ttl`: DynamoDB's TTL sweep (moto does not run it);
- :mod:`~local_gateway.eventbridge`: a local EventBridge (``PutEvents``), POSTing each event
  to ``EVENTS_URL``;
- :mod:`~local_gateway.faults`: fault injection, off by default;
- :mod:`~local_gateway.reload`: hot reload of functions and layers;
- :mod:`~local_gateway.settings`, :mod:`~local_gateway.eventlog`, :mod:`~local_gateway.token`.

The module map: ``docs/architecture.md``, "Local gateway and benchmarks".

Errors: :class:`~local_gateway.template.TemplateError` (the template cannot be served),
:class:`~local_gateway.workers.InvocationError` (a function raised, timed out or failed to
start; answered to clients as API Gateway answers), :class:`~local_gateway.http11.HttpError`
(a malformed HTTP request).
"""
