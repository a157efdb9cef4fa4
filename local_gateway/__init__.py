"""The local gateway: ``template.yaml``'s WebSocket API on this machine (``make dev``).

A development server only: never deployed, and nothing deployed imports it. Modules, one
concern each:

- :mod:`~local_gateway.template`: reads the SAM template (routes, functions, layers, tables,
  queues, SQS events);
- :mod:`~local_gateway.events`: API Gateway's Lambda events, from plain values;
- :mod:`~local_gateway.routing`: route selection (WebSocket expression, HTTP API routes);
- :mod:`~local_gateway.workers` and :mod:`~local_gateway.runtime`: functions in worker
  processes, like Lambda containers;
- :mod:`~local_gateway.server`: the port: WebSocket lifecycle and HTTP dispatch;
- :mod:`~local_gateway.management`: the ``@connections`` Management API;
- :mod:`~local_gateway.http11`: the small HTTP/1.1 side for non-WebSocket requests;
- :mod:`~local_gateway.static`: development pages (demo, client build, ``/dev/token``);
- :mod:`~local_gateway.dynamodb`: embedded moto server or a configured endpoint;
- :mod:`~local_gateway.sqs`: the template's queues on that moto server, and a poller per
  SQS event source (Lambda's event source mapping);
- :mod:`~local_gateway.reload`: hot reload of functions and layers;
- :mod:`~local_gateway.settings`, :mod:`~local_gateway.eventlog`, :mod:`~local_gateway.token`.

Errors: :class:`~local_gateway.template.TemplateError` (the template cannot be served),
:class:`~local_gateway.workers.InvocationError` (a function raised, timed out or failed to
start; answered to clients as API Gateway answers), :class:`~local_gateway.http11.HttpError`
(a malformed HTTP request).
"""
