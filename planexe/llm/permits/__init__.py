"""Provider limits: who may call a model now, shared by every call that reaches the same key.

- ``limits``: what a provider allows a key (configured), and ``limit_key``.
- ``gate``: the rules, as a pure state machine per key (priority, cool-down, windows).
- ``adaptive``: the calls-in-flight limit learnt from refusals (AIMD with probes).
- ``window``: sliding windows of requests and tokens per minute.
- ``local``: the gates of one process, shared by its threads and their event loops.
- ``types``: what the executor asks and reports (``PermitRequest``, ``Report``).
- ``context``: what a running step tells its calls (slack, where waits are counted).
"""
