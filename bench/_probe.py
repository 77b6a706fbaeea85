"""``python bench/_probe.py --run-dir DIR``: the pipeline process with candidate fixes patched in.

Used by ``bench/profile_pipeline.py`` to measure a proposed product change
before anyone makes it. ``PLANEXE_BENCH_PROBE`` lists the patches, comma
separated; with none this is exactly ``python -m planexe.plan``.
``preimport``, ``sslctx``, ``noattempt`` and ``fastexit`` are in the product
since c890169 (after this probe measured them); on that code they change nothing.

* ``preimport``: import what every forked task would otherwise import on its
  own (anyio's asyncio backend, httpcore, h11) before Luigi forks;
* ``sslctx``: build the TLS context once, before the fork, and give every
  ``httpx.AsyncClient`` that one (httpx builds a new one, loading the CA
  bundle, for every client, and a client is made per task);
* ``noattempt``: do not re-read events.jsonl at every task start;
* ``nofork``: no per-task worker timeout, so with LUIGI_WORKERS=1 Luigi runs
  tasks in this process (only to show what the fork per task costs);
* ``gcfreeze``: ``gc.freeze()`` before the fork (fewer pages copied on write);
* ``nicechild``: each forked task process lowers its own priority (nice 10),
  so on a busy machine the scheduling process that forks the next task and
  collects results is not starved by the tasks it runs;
* ``fastexit``: once the run is over and its last event written, flush and
  ``os._exit`` instead of letting the interpreter tear itself down;
* ``timeline``: append per-task timestamps (fork called/returned in the parent,
  child began/ended, parent got the result) and each scheduler ``get_work``
  to the file named by ``PLANEXE_BENCH_TIMELINE``.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time

PATCHES = frozenset(filter(None, os.environ.get("PLANEXE_BENCH_PROBE", "").split(",")))
KNOWN = {"preimport", "sslctx", "noattempt", "nofork", "gcfreeze", "fastexit", "nicechild", "timeline"}


def apply(patches: frozenset[str]) -> None:
    unknown = patches - KNOWN
    if unknown:
        raise SystemExit(f"unknown probe patches: {sorted(unknown)}")
    if "preimport" in patches:
        import anyio._backends._asyncio
        import anyio.to_thread  # noqa: F401
        import h11  # noqa: F401
        import httpcore  # noqa: F401
    if "sslctx" in patches:
        # What the fix would do: one verifying context per process (built here,
        # before the fork), handed to every client as ``verify=``.
        from httpx._transports import default as transports

        build_context = transports.create_ssl_context
        shared = build_context()

        def create_ssl_context(*args, **kwargs):  # type: ignore[no-untyped-def]
            defaults = not args and kwargs in ({}, {"verify": True, "cert": None, "trust_env": True})
            return shared if defaults else build_context(*args, **kwargs)

        transports.create_ssl_context = create_ssl_context  # type: ignore[assignment]
    if "noattempt" in patches:
        from planexe.pipeline import luigi_events

        luigi_events._task_attempt = lambda task: 1
    if "nofork" in patches:
        from planexe.pipeline.base import PlanTask

        PlanTask.worker_timeout = property(lambda self: 0)  # type: ignore[assignment,method-assign]
    if "gcfreeze" in patches:
        from planexe.pipeline import runner

        luigi_build = runner.luigi.build

        def frozen_build(*args, **kwargs):  # type: ignore[no-untyped-def]
            gc.freeze()
            return luigi_build(*args, **kwargs)

        runner.luigi.build = frozen_build
    if "nicechild" in patches:
        from planexe.pipeline import luigi_events

        on_start = luigi_events._on_start

        def _on_start(task):  # type: ignore[no-untyped-def]
            if os.getpid() != luigi_events._main_pid:
                os.nice(10)
            on_start(task)

        luigi_events._on_start = _on_start
    if "timeline" in patches:
        _install_timeline(os.environ["PLANEXE_BENCH_TIMELINE"])


def _install_timeline(path: str) -> None:
    import luigi.worker as lw

    fork_called: dict[str, float] = {}

    def record(**fields: object) -> None:
        # One O_APPEND write per line: parent and forked children share the file.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(fields) + "\n").encode())
        finally:
            os.close(fd)

    run_task, task_run, add_task, get_work = (
        lw.Worker._run_task,
        lw.TaskProcess.run,
        lw.Worker._add_task,
        lw.Worker._get_work,
    )

    def _run_task(self, task_id):  # type: ignore[no-untyped-def]
        fork_called[task_id] = time.time()  # the child inherits this dict
        run_task(self, task_id)
        record(k="fork", id=task_id, called=fork_called[task_id], returned=time.time())

    def _task_run(self):  # type: ignore[no-untyped-def]
        record(
            k="child_begin",
            id=self.task.task_id,
            t=time.time(),
            fork_called=fork_called.get(self.task.task_id),
        )
        task_run(self)
        record(k="child_end", id=self.task.task_id, t=time.time())

    def _add_task(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("status") in ("DONE", "FAILED"):
            record(k="parent_got", id=kwargs["task_id"], t=time.time())
        return add_task(self, *args, **kwargs)

    def _get_work(self):  # type: ignore[no-untyped-def]
        began = time.time()
        response = get_work(self)
        record(k="get_work", began=began, ended=time.time())
        return response

    lw.Worker._run_task = _run_task
    lw.TaskProcess.run = _task_run
    lw.Worker._add_task = _add_task
    lw.Worker._get_work = _get_work


if __name__ == "__main__":
    apply(PATCHES)
    from pathlib import Path

    from planexe.pipeline import __main__ as entry

    code = entry.main()
    # Leave the way ``python -m planexe.plan`` does (os._exit since c890169).
    if "fastexit" in PATCHES or "os._exit(" in Path(entry.__file__).read_text(encoding="utf-8"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
