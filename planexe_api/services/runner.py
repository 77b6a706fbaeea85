"""The runner: claims queued plans, runs each as a supervised child, keeps the lease.

One runner per process (``planexe serve`` unless PLANEXE_RUNNER=false, or
``planexe worker``). It registers in ``workers`` and heartbeats; every
``heartbeat_s`` it renews the lease of each plan it runs (learning of cancel
requests and lost leases there) and requeues plans whose owners died.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

import anyio
from anyio.abc import TaskGroup

from planexe.log import get_logger
from planexe.settings import Settings
from planexe_api.db import repo_leases, repo_workers
from planexe_api.db.errors import StoreError
from planexe_api.db.models import WorkerRole, utcnow
from planexe_api.metrics import Metrics
from planexe_api.services.housekeeping import Housekeeping
from planexe_api.services.permits import RunnerPermits
from planexe_api.services.pipeline_execution_service import PipelineExecutionService
from planexe_api.services.plan_run import Claim, PlanRun, RunDeps
from planexe_api.services.plan_signals import PlanSignals
from planexe_api.services.process_registry import ProcessRegistry
from planexe_api.services.recovery import recover_on_startup, sweep_expired
from planexe_api.services.spare import SparePipeline
from planexe_api.services.store import Store
from planexe_api.services.supervisor import StopReason

log = get_logger(__name__)


def new_worker_id(role: WorkerRole) -> str:
    return f"{role.value}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Runner:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        execution: PipelineExecutionService,
        registry: ProcessRegistry,
        role: WorkerRole = WorkerRole.API,
        metrics: Metrics | None = None,
        signals: PlanSignals | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.role = role
        self.worker_id = new_worker_id(role)
        self.deps = RunDeps(
            settings=settings,
            store=store,
            execution=execution,
            registry=registry,
            signals=signals or PlanSignals(),
            worker_id=self.worker_id,
            wake=self.wake,
            metrics=metrics,
            spare=SparePipeline() if settings.warm_spare else None,
        )
        # By plan and run: a runner frozen past its lease may claim a plan again while the run
        # it had (now fenced out) is still stopping.
        self.runs: dict[tuple[str, int], PlanRun] = {}
        self._wake = anyio.Event()
        self._stopping = False
        self._tg: TaskGroup | None = None
        self._sweep_after = 0.0  # time.monotonic() before which this runner does not sweep
        self.log = log.bind(worker_id=self.worker_id)
        self.permits = RunnerPermits(settings, store, self.worker_id, self.plan_rank)
        self.housekeeping = Housekeeping(store, settings)
        execution.child_env.update(self.permits.child_env)
        if self.deps.spare is not None:
            self.deps.spare.env = execution.build_env()  # what every child of this runner gets

    def plan_rank(self, plan_id: str) -> tuple[float, ...]:
        """Whose LLM calls go first when permits are scarce: higher priority, then the older plan."""
        claims = [run.claim for (pid, _), run in self.runs.items() if pid == plan_id]
        if not claims:
            return (0.0, float("inf"))
        return (-float(claims[-1].priority), claims[-1].created_at.timestamp())

    def wake(self) -> None:
        """Look for queued plans now instead of at the next poll (a plan was just queued)."""
        self._wake.set()

    def plans_running(self) -> list[str]:
        return sorted({plan_id for plan_id, _ in self.runs})

    def cancel_local(self, plan_id: str) -> bool:
        """Stop this runner's child of ``plan_id`` now, if it runs one (a cancel was recorded)."""
        runs = [run for (pid, _), run in self.runs.items() if pid == plan_id]
        for run in runs:
            run.stop.set(StopReason.CANCELLED)
        return bool(runs)

    async def start(self, tg: TaskGroup) -> None:
        now = utcnow()
        await self.store.run(
            lambda s: repo_workers.register_worker(
                s,
                worker_id=self.worker_id,
                host=socket.gethostname(),
                pid=os.getpid(),
                role=self.role,
                now=now,
                runs_dir=str(self.settings.runs_dir.resolve()),
            ),
            write=True,
        )
        await recover_on_startup(self.store, self.settings, self.worker_id)
        await self.permits.start(tg)
        if self.deps.spare is not None:
            await self.deps.spare.start()
        self._tg = tg
        tg.start_soon(self._claim_loop)
        tg.start_soon(self._heartbeat_loop)
        tg.start_soon(self._housekeeping_loop)
        self.log.info("runner_started", max_concurrent_plans=self.settings.max_concurrent_plans)

    async def stop(self) -> None:
        """Stop claiming, stop children (their plans go back to the queue), deregister."""
        self._stopping = True
        self._wake.set()
        for run in list(self.runs.values()):
            run.stop.set(StopReason.SHUTDOWN)
        with anyio.move_on_after(self.settings.cancel_grace_s + 15):
            while self.runs:
                await anyio.sleep(0.05)
        if self.deps.spare is not None:
            await self.deps.spare.close()
        await self.permits.stop()
        try:
            await self.store.run(
                lambda s: repo_workers.mark_worker_stopped(s, worker_id=self.worker_id, now=utcnow()),
                write=True,
            )
        except StoreError as exc:
            self.log.warning("worker_deregister_failed", error=str(exc))
        self.log.info("runner_stopped")

    async def _claim(self) -> Claim | None:
        def claim(session: object) -> Claim | None:
            plan = repo_leases.claim_next(
                session,  # type: ignore[arg-type]
                worker_id=self.worker_id,
                lease_s=self.settings.lease_s,
                now=utcnow(),
            )
            return Claim.of(plan) if plan else None

        return await self.store.run(claim, write=True)

    async def _claim_loop(self) -> None:
        while not self._stopping:
            claimed = None
            if len(self.runs) < self.settings.max_concurrent_plans:
                try:
                    claimed = await self._claim()
                except StoreError as exc:
                    self.log.warning("claim_failed", error=str(exc))
            if claimed is not None and self._tg is not None:
                run = PlanRun(claimed, self.deps)
                self.runs[claimed.key] = run
                self._tg.start_soon(self._run_one, run)
                continue
            with anyio.move_on_after(self.settings.poll_s):
                await self._wake.wait()
            self._wake = anyio.Event()

    async def _run_one(self, run: PlanRun) -> None:
        try:
            await run.execute()
        finally:
            self.runs.pop(run.claim.key, None)
            self._wake.set()  # a slot is free

    async def _heartbeat_loop(self) -> None:
        while not self._stopping:
            await anyio.sleep(self.settings.heartbeat_s)
            try:
                await self._heartbeat()
            except StoreError as exc:
                # The children keep running; leases are renewed once the database is back.
                self.log.warning("heartbeat_failed", error=str(exc))
                # If the database was away, no runner could renew and every lease may have run
                # out: sweeping at once would take live runners' plans. Give them a lease to renew.
                self._sweep_after = time.monotonic() + self.settings.lease_s

    async def _housekeeping_loop(self) -> None:
        # Its own loop: removing a large run directory must never delay a lease renewal.
        while not self._stopping:
            await self.housekeeping.round()
            await anyio.sleep(self.settings.heartbeat_s)

    async def _heartbeat(self) -> None:
        now = utcnow()
        await self.store.run(
            lambda s: repo_workers.heartbeat_worker(s, worker_id=self.worker_id, now=now), write=True
        )
        for run in list(self.runs.values()):
            await run.renew()
        if time.monotonic() < self._sweep_after:
            return
        requeued = await sweep_expired(self.store, self.settings)
        if requeued:
            self._wake.set()
