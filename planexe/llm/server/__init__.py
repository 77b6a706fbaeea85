"""An OpenAI-compatible chat-completions server for tests and benchmarks (``planexe llm-server``).

It answers every structured-output request with ``planexe.llm.synth.synthesize`` and can
be told, at start or at run time through ``POST /admin/config``, to be slow (fixed or
log-normal latency) and to fail on purpose (429, 500, hangs, malformed or invalid JSON,
a concurrency cap, refusing ``json_schema``, requiring an API key).

Modules: ``options`` (``ServerOptions``, validated), ``faults`` (the seeded fault draw and
the broken answers), ``chat`` (request parsing and answer bodies, with the JSON-mode
contract ``SCHEMA_PROMPT_MARKER``), ``state`` (counters behind ``GET /stats``), ``app``
(the Starlette routes), ``cli`` (flags, socket binding, the port file).

Contracts:
- Binds to 127.0.0.1 unless ``--host`` says otherwise. With ``--port 0`` the socket is
  bound before serving and the port is written to ``--port-file`` (atomically) once
  uvicorn accepts connections.
- Fault and latency draws come from one ``random.Random(seed)``, one draw each per
  admitted request, so a sequential run is reproducible; answers depend only on the
  request (model and messages), never on the draw.
- The admin endpoints (``/stats``, ``/admin/config``) need no key: the server is a test
  fixture on loopback. ``GET /admin/config`` masks the key.
- On SIGTERM uvicorn stops accepting; requests still running are cancelled after
  ``GRACEFUL_SHUTDOWN_S``.
"""
