"""Soak: plans on two workers and PostgreSQL while kills and freezes land at random; then the invariants.

An operator's bad day, seeded: one API replica and two workers (each with a run
directory of its own, as on two machines) share a fresh PostgreSQL database;
plans are submitted to keep a few in flight; every 5-15 s one fault lands:
kill -9 of a worker (restarted at once), SIGSTOP of a worker past its lease
(then SIGCONT), kill -9 of a pipeline, kill -9 of the API (restarted). The LLM
server answers with latency and some 429/500/malformed answers. When the time
is up the faults stop, every plan is driven to an end (failed ones resumed:
none may be unable to finish), and these must hold:

- every completed plan has every output of its DAG stored, byte for byte as in
  the run directory of its last run;
- every event line is stored once (unique ids), numbered without gaps, and the
  plan's LLM usage counts exactly the calls its events record;
- no plan failed with ``internal_error``;
- no two pipelines of one plan were alive at once for longer than the stop grace;
- nothing is left running when the workers stop.

Prints the figures and one JSON line; exits 1 if an invariant broke.

    python bench/soak.py [--minutes 5] [--seed 7] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from _common import finish, header
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from planexe.pipeline.events import read_events
from planexe.pipeline.rundir import EVENTS_FILE
from planexe.testing.llm_server import llm_server
from planexe.testing.processes import orphaned_spares, pipeline_processes, roots
from planexe.testing.service import Service, service_env
from planexe_api.db.migrate import upgrade
from planexe_api.db.models import LlmUsage, Plan, PlanEvent, PlanFile

LEASE_S = 3.0
GRACE_S = 2.0  # PLANEXE_CANCEL_GRACE_S of every process (service_env's default)
CENSUS_S = 0.1
SAMPLING_SLACK_S = 2 * CENSUS_S  # an overlap is seen up to one sample late at each end
IN_FLIGHT = 6  # plans kept queued or running
TERMINAL = ("completed", "failed", "cancelled")


class Census(threading.Thread):
    """The longest time any plan had two live pipeline main processes at once."""

    def __init__(self, under: Path) -> None:
        super().__init__(name="census", daemon=True)
        self.under = under
        self.stop = threading.Event()
        self.since: dict[str, float] = {}  # plan -> when its current overlap began
        self.longest: dict[str, float] = defaultdict(float)
        self.samples = 0

    def run(self) -> None:
        while not self.stop.is_set():
            now = time.monotonic()
            counts = Counter(
                c.plan_id for c in roots(pipeline_processes(self.under)) if c.status != "stopped"
            )
            for plan_id in list(self.since):
                if counts[plan_id] < 2:
                    self.longest[plan_id] = max(self.longest[plan_id], now - self.since.pop(plan_id))
            for plan_id, n in counts.items():
                if n >= 2:
                    self.since.setdefault(plan_id, now)
            self.samples += 1
            self.stop.wait(CENSUS_S)


class Soak:
    def __init__(self, args: argparse.Namespace, db_url: str, root: Path, llm_url: str) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.db_url = db_url
        self.root = root
        self.env = {
            "PLANEXE_LLM_BASE_URL": llm_url,
            "PLANEXE_LLM_MODEL": "soak-model",
            "PLANEXE_LLM_TIMEOUT_S": "5",
            "PLANEXE_LEASE_S": str(LEASE_S),
            "PLANEXE_MAX_CONCURRENT_PLANS": "2",
            "PLANEXE_LOG_LEVEL": "warning",
            "PLANEXE_WARM_SPARE": "true" if args.warm_spare else "false",
        }
        self.api = self._service("api", "serve", PLANEXE_RUNNER="false")
        self.workers = [self._service(f"worker-{n}", "worker") for n in ("a", "b")]
        self.faults: Counter[str] = Counter()
        self.plan_ids: list[str] = []
        self.engine = create_engine(db_url, pool_pre_ping=True, pool_size=2)

    def _service(self, name: str, command: str, **extra: str) -> Service:
        workdir = self.root / name
        workdir.mkdir(parents=True, exist_ok=True)
        env = service_env(self.db_url, workdir, {**self.env, **extra})
        return Service(env, workdir, command=command, name=name)

    def read(self, fn: Any) -> Any:
        with Session(self.engine) as session:
            return fn(session)

    # ---- load ----
    def submit_more(self) -> None:
        active = self.read(
            lambda s: s.scalar(select(func.count()).where(Plan.status.in_(("queued", "running"))))
        )
        for _ in range(max(0, IN_FLIGHT - int(active or 0))):
            try:
                response = self.api.http.post("/plans", json={"prompt": self.prompt(), "detail": "fast"})
            except Exception:  # the API may be down right now (killed by the soak itself)
                return
            if response.status_code == 202:
                self.plan_ids.append(response.json()["id"])

    def prompt(self) -> str:
        ideas = ["a small bakery in Copenhagen", "a bicycle repair shop", "a community garden", "a podcast"]
        return f"Open {self.rng.choice(ideas)} (soak plan {len(self.plan_ids) + 1})"

    # ---- faults ----
    def fault(self) -> None:
        kind = self.rng.choice(["kill_worker", "freeze_worker", "kill_pipeline", "kill_api"])
        if kind == "kill_worker":
            worker = self.rng.choice(self.workers)
            worker.kill9()
            worker.start(wait=False)
        elif kind == "freeze_worker":
            worker = self.rng.choice(self.workers)
            assert worker.process is not None
            os.kill(worker.process.pid, signal.SIGSTOP)
            time.sleep(self.rng.uniform(LEASE_S + 0.5, LEASE_S + 4))
            os.kill(worker.process.pid, signal.SIGCONT)
        elif kind == "kill_pipeline":
            live = roots(pipeline_processes(self.root))
            if not live:
                return
            victim = self.rng.choice(live)
            try:
                os.killpg(victim.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
        else:
            self.api.kill9()
            self.api.start()
        self.faults[kind] += 1

    def run(self) -> dict[str, Any]:
        self.api.start()
        for worker in self.workers:
            worker.start(wait=False)
        census = Census(self.root)
        census.start()
        started = time.monotonic()
        low, high = self.args.interval
        next_fault = started + self.rng.uniform(low, high)
        while time.monotonic() - started < self.args.minutes * 60:
            self.submit_more()
            if time.monotonic() >= next_fault:
                self.fault()
                next_fault = time.monotonic() + self.rng.uniform(low, high)
            time.sleep(0.2)
        chaos_s = time.monotonic() - started
        failures = self.drain()
        census.stop.set()
        census.join()
        for service in [*self.workers, self.api]:
            service.close()
        leftover = [c.pid for c in pipeline_processes(self.root)] + orphaned_spares()
        return {
            "chaos_s": round(chaos_s, 1),
            "drain_s": round(time.monotonic() - started - chaos_s, 1),
            "plans": len(self.plan_ids),
            "faults": dict(self.faults),
            "failures_by_code": failures,
            "census_samples": census.samples,
            "max_overlap_s": round(max(census.longest.values(), default=0.0), 2),
            "leftover_processes": leftover,
        }

    def drain(self) -> dict[str, int]:
        """Let every plan end; resume the failed ones until all complete. Failure codes seen."""
        failures: Counter[str] = Counter()
        deadline = time.monotonic() + self.args.drain_s
        while time.monotonic() < deadline:
            rows = self.read(
                lambda s: s.execute(
                    select(Plan.id, Plan.status, Plan.error_code).where(Plan.id.in_(self.plan_ids))
                ).all()
            )
            if all(status == "completed" for _, status, _ in rows):
                break
            for plan_id, status, code in rows:
                if status == "failed":
                    failures[str(code)] += 1
                    self.api.http.post(f"/plans/{plan_id}/resume")
            time.sleep(0.5)
        return dict(failures)

    # ---- invariants ----
    def check(self) -> tuple[dict[str, Any], list[str]]:
        problems: list[str] = []
        files_checked = bytes_checked = 0
        runs_dirs = [Path(w.env["PLANEXE_RUNS_DIR"]) for w in self.workers]
        with Session(self.engine) as session:
            plans = list(session.scalars(select(Plan).where(Plan.id.in_(self.plan_ids))))
            for plan in plans:
                if plan.status != "completed":
                    problems.append(f"{plan.id}: {plan.status} {plan.error_code} {plan.error_message}")
                    continue
                run_dir = self._final_run_dir(runs_dirs, plan.id, plan.fencing_token)
                if run_dir is None:
                    problems.append(f"{plan.id}: no run directory holds its final run {plan.fencing_token}")
                    continue
                started = [
                    e
                    for e in read_events(run_dir / EVENTS_FILE)[0]
                    if e["kind"] == "run_started" and e.get("attempt") == plan.fencing_token
                ]
                outputs = started[-1]["outputs"]
                stored = {
                    name: content
                    for name, content in session.execute(
                        select(PlanFile.name, PlanFile.content).where(PlanFile.plan_id == plan.id)
                    )
                }
                for name in outputs:
                    if name not in stored:
                        problems.append(f"{plan.id}: {name} not stored")
                    elif stored[name] != (run_dir / name).read_bytes():
                        problems.append(f"{plan.id}: {name} differs from {run_dir}")
                    else:
                        files_checked += 1
                        bytes_checked += len(stored[name])
                problems += self._check_events(session, plan)
            codes = Counter(p.error_code for p in plans if p.error_code)
            if codes.get("internal_error"):
                problems.append(f"{codes['internal_error']} plans failed with internal_error")
        return {"files_checked": files_checked, "bytes_checked": bytes_checked}, problems

    @staticmethod
    def _final_run_dir(runs_dirs: list[Path], plan_id: str, token: int) -> Path | None:
        for runs in runs_dirs:
            events = read_events(runs / plan_id / EVENTS_FILE)[0]
            if any(e["kind"] == "run_started" and e.get("attempt") == token for e in events):
                return runs / plan_id
        return None

    @staticmethod
    def _check_events(session: Session, plan: Plan) -> list[str]:
        problems = []
        rows = session.execute(
            select(PlanEvent.seq, PlanEvent.eid, PlanEvent.kind, PlanEvent.data)
            .where(PlanEvent.plan_id == plan.id)
            .order_by(PlanEvent.seq)
        ).all()
        seqs = [r.seq for r in rows]
        if seqs != list(range(1, len(seqs) + 1)) or (seqs and seqs[-1] != plan.last_event_seq):
            problems.append(f"{plan.id}: event numbers have gaps")
        eids = [r.eid for r in rows if r.eid]
        if len(eids) != len(set(eids)):
            problems.append(f"{plan.id}: an event line was stored twice")
        calls = sum(
            1
            for r in rows
            if r.kind == "llm_call" and r.data.get("outcome") == "ok" and not r.data.get("cached")
        )
        by_model = session.scalar(select(func.sum(LlmUsage.calls)).where(LlmUsage.plan_id == plan.id)) or 0
        if not calls == plan.llm_calls == by_model:
            problems.append(f"{plan.id}: usage {plan.llm_calls}/{by_model} calls, events record {calls}")
        return problems


def fresh_database(admin_url: str) -> tuple[str, Any]:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"planexe_soak_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url, (admin, name)


def drop_database(handle: Any) -> None:
    admin, name = handle
    with admin.connect() as connection:
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
        )
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=5.0, help="how long faults land")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--interval", type=lambda v: tuple(float(x) for x in v.split(":")), default=(5.0, 15.0)
    )
    parser.add_argument(
        "--warm-spare", action="store_true", help="runners keep a warm spare pipeline (PLANEXE_WARM_SPARE)"
    )
    parser.add_argument(
        "--drain-s", type=float, default=240.0, help="time allowed to finish after the faults"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "PLANEXE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    header("soak", minutes=args.minutes, seed=args.seed, interval=args.interval, warm_spare=args.warm_spare)
    db_url, handle = fresh_database(args.postgres)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="planexe-soak-") as tmp,
            llm_server(
                seed=args.seed, latency="lognormal:0.1:0.5", rate_429=0.03, rate_500=0.03, rate_malformed=0.02
            ) as llm,
        ):
            soak = Soak(args, db_url, Path(tmp), llm.base_url)
            figures = soak.run()
            checked, problems = soak.check()
            soak.engine.dispose()
    finally:
        drop_database(handle)
    figures.update(checked)
    if figures["max_overlap_s"] > GRACE_S + SAMPLING_SLACK_S:
        problems.append(f"two pipelines of one plan ran together for {figures['max_overlap_s']} s")
    if figures["leftover_processes"]:
        problems.append(f"pipelines left running: {figures['leftover_processes']}")
    figures["problems"] = problems
    figures["ok"] = not problems
    for problem in problems[:30]:
        print(f"   PROBLEM {problem}")
    summary = (
        f"{figures['plans']} plans, {sum(figures['faults'].values())} faults {figures['faults']}, "
        f"{figures['files_checked']} files checked, failures before resume {figures['failures_by_code']}, "
        f"longest overlap {figures['max_overlap_s']} s: {'all invariants hold' if not problems else 'BROKEN'}"
    )
    finish("soak", figures, summary, {k: v for k, v in figures.items() if k != "problems"})
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
