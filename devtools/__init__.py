"""Development tools shared by the tests, the benchmarks and the fuzzer; never deployed.

- :mod:`~devtools.management_server`: a stand-in ``@connections`` server on 127.0.0.1
  (in a thread, or its own process: ``python -m devtools.management_server``);
- :mod:`~devtools.gateway_process`: ``python -m local_gateway`` started as a child process,
  its console drained, ready when it prints its ``Ready`` line.
"""
