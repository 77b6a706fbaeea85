"""Several service processes on one PostgreSQL, a process census, and readers of the plan store.

Each runner gets its own work directory (its own PLANEXE_RUNS_DIR), as if it
ran on a machine of its own: nothing but the database is shared.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from planexe.testing.llm_server import LLMServer
from planexe.testing.processes import Child, pipeline_processes, roots
from planexe.testing.service import Service, service_env
from planexe_api.db.models import Plan, PlanEvent, PlanFile, Worker, WorkerRole

HEARTBEAT_S = 0.5  # PLANEXE_HEARTBEAT_S of every process in these tests
LEASE_S = 3.0  # PLANEXE_LEASE_S
CENSUS_INTERVAL_S = 0.05


def llm_env(server: LLMServer) -> dict[str, str]:
    """Settings that point a process at the test LLM server."""
    return {
        "PLANEXE_LLM_BASE_URL": server.base_url,
        "PLANEXE_LLM_MODEL": "test-model",
        "PLANEXE_LLM_TIMEOUT_S": "5",
    }


def wait_gone(under: Path, timeout: float, plan_id: str | None = None) -> tuple[float, list[Child]]:
    """Wait until no pipeline process runs below ``under`` (for ``plan_id``); (seconds waited, those left)."""
    started = time.monotonic()
    while True:
        left = [c for c in pipeline_processes(under) if plan_id is None or c.plan_id == plan_id]
        if not left or time.monotonic() - started > timeout:
            return time.monotonic() - started, left
        time.sleep(0.02)


def pid(service: Service) -> int:
    assert service.process is not None, f"{service.name} was never started"
    return service.process.pid


def alive(service: Service) -> bool:
    return service.process is not None and service.process.poll() is None


def kill9(service: Service) -> None:
    """SIGKILL the service's process group (the service alone: its pipelines have sessions of their own)."""
    signal_group(pid(service), signal.SIGKILL)
    assert service.process is not None
    service.process.wait()


def signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


class Census:
    """Samples the pipeline processes every ~50 ms in a thread: how many main processes each plan had at once."""

    def __init__(self, under: Path, interval_s: float = CENSUS_INTERVAL_S) -> None:
        self.under = under
        self.interval_s = interval_s
        self.samples = 0
        self.overlaps: list[tuple[float, str, list[int]]] = []  # (time, plan id, pids) with two or more
        self.max_total = 0  # most main processes at once, all plans
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="census", daemon=True)

    def __enter__(self) -> Census:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            by_plan: dict[str, list[int]] = defaultdict(list)
            for child in roots(pipeline_processes(self.under)):
                by_plan[child.plan_id].append(child.pid)
            self.samples += 1
            self.max_total = max(self.max_total, sum(len(p) for p in by_plan.values()))
            for plan_id, pids in by_plan.items():
                if len(pids) > 1:
                    self.overlaps.append((time.time(), plan_id, pids))
            self._stop.wait(self.interval_s)


@dataclass
class Cluster:
    """An API replica and worker replicas on one database; everything started is stopped by ``close``."""

    database_url: str
    root: Path
    env: dict[str, str] = field(default_factory=dict)  # for every process, e.g. the LLM server's URL
    services: list[Service] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Pre-pinged: the connections survive a database restart. Opening one per poll instead
        # would cost a server process fork each time, CPU taken from the plans being measured.
        self.engine: Engine = create_engine(self.database_url, pool_pre_ping=True, pool_size=2)

    def _start(self, name: str, command: str, extra: dict[str, str]) -> Service:
        workdir = self.root / name
        workdir.mkdir(parents=True, exist_ok=True)
        env = service_env(self.database_url, workdir, {**self.env, **extra})
        service = Service(env, workdir, command=command, name=name)
        self.services.append(service)
        return service.start()

    def api(self, name: str = "api", **extra: str) -> Service:
        """``planexe serve`` with PLANEXE_RUNNER=false: it serves HTTP and runs no plans."""
        return self._start(name, "serve", {"PLANEXE_RUNNER": "false", **extra})

    def worker(self, name: str, **extra: str) -> Service:
        return self._start(name, "worker", extra)

    def runs_dir(self, service: Service) -> Path:
        return Path(service.env["PLANEXE_RUNS_DIR"])

    def close(self) -> None:
        for service in self.services:
            if alive(service):
                signal_group(pid(service), signal.SIGCONT)  # a paused one could not take SIGTERM
        for service in reversed(self.services):
            service.close()
        self.engine.dispose()

    # ---- the plan store, read directly ----
    def read(self, fn: Any) -> Any:
        with Session(self.engine) as session:
            return fn(session)

    def wait_workers(self, *workers: Service, timeout: float = 30) -> dict[int, str]:
        """Wait until each worker process registered; pid -> worker id."""
        pids = {pid(w) for w in workers}
        deadline = time.monotonic() + timeout
        while True:
            rows = self.read(
                lambda s: s.execute(
                    select(Worker.pid, Worker.id).where(
                        Worker.role == WorkerRole.WORKER.value, Worker.stopped_at.is_(None)
                    )
                ).all()
            )
            ids = {p: wid for p, wid in rows if p in pids}
            if len(ids) == len(pids):
                return ids
            if time.monotonic() > deadline:
                logs = "\n".join(w.log_tail() for w in workers)
                raise AssertionError(f"workers not registered after {timeout}s:\n{logs}")
            time.sleep(0.05)

    def plan(self, plan_id: str) -> Plan:
        plan: Plan = self.read(lambda s: s.get(Plan, plan_id))
        return plan

    def events(self, plan_id: str) -> list[dict[str, Any]]:
        """The plan's events in order, each as the pipeline wrote it plus its ``seq``."""
        rows = self.read(
            lambda s: list(
                s.scalars(select(PlanEvent).where(PlanEvent.plan_id == plan_id).order_by(PlanEvent.seq))
            )
        )
        return [{**row.as_dict(), "seq": row.seq, "at": row.created_at} for row in rows]

    def file_names(self, plan_id: str) -> set[str]:
        return set(
            self.read(lambda s: s.scalars(select(PlanFile.name).where(PlanFile.plan_id == plan_id)).all())
        )

    def wait_all(self, plan_ids: list[str], statuses: tuple[str, ...], timeout: float) -> None:
        """Wait until every plan has one of ``statuses``, polling all of them at once."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.read(
                lambda s: s.scalar(
                    select(func.count()).where(Plan.id.in_(plan_ids), Plan.status.not_in(statuses))
                )
            )
            if left == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{left} of {len(plan_ids)} plans never got to {statuses}")
            time.sleep(0.05)

    def wait_plan(self, plan_id: str, predicate: Any, timeout: float, poll_s: float = 0.02) -> Plan:
        deadline = time.monotonic() + timeout
        while True:
            plan = self.plan(plan_id)
            if predicate(plan):
                return plan
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {s.name}\n{s.log_tail(15)}" for s in self.services)
                raise AssertionError(f"plan {plan_id} never got there; last {plan!r}\n{logs}")
            time.sleep(poll_s)


# ---- what the events say about runs ----
def runs(events: list[dict[str, Any]]) -> list[int]:
    """Run numbers (fencing tokens) of the plan's pipeline runs, in the order they started."""
    return [e["attempt"] for e in events if e["kind"] == "run_started"]


def check_runs_do_not_interleave(plan_id: str, events: list[dict[str, Any]]) -> None:
    """Each run's child events form one block, and the blocks' tokens grow: no two runs wrote at once."""
    started = runs(events)
    assert started == sorted(set(started)), f"{plan_id}: run tokens not strictly increasing: {started}"
    tokens = [e["attempt"] for e in events if "attempt" in e]
    blocks = [t for i, t in enumerate(tokens) if i == 0 or t != tokens[i - 1]]
    assert blocks == sorted(set(blocks)), f"{plan_id}: events of two runs interleave: {blocks}"


def task_names(events: list[dict[str, Any]], kind: str, token: int) -> set[str]:
    return {e["task"] for e in events if e["kind"] == kind and e.get("attempt") == token}


def owners(events: list[dict[str, Any]]) -> list[str]:
    """The runner (worker id) of each run, in order, from the ``plan_running`` events."""
    return [e["worker_id"] for e in events if e["kind"] == "plan_running"]
