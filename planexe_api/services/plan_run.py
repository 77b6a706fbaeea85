"""One claimed plan, from restoring its outputs to writing its final status."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from planexe.log import get_logger
from planexe.pipeline.exitcodes import ExitCode
from planexe.pipeline.rundir import REPORT_FILE, PlanSpec
from planexe_api.db import repo_events, repo_leases
from planexe_api.db.errors import StoreError
from planexe_api.db.models import PlanStatus, utcnow
from planexe_api.services.plan_sync import PlanSync, restore_outputs
from planexe_api.services.store import Store
from planexe_api.services.supervisor import ChildOutcome, StopReason, StopRequest, supervise

if TYPE_CHECKING:
    from planexe_api.services.runner import Claim, Runner

log = get_logger(__name__)

SYNC_INTERVAL_S = 0.25  # how often events.jsonl is shipped to the database
RESTORE_ATTEMPTS = 20  # one a second: a database restart takes a few seconds


class PlanRun:
    def __init__(self, claim: Claim, runner: Runner) -> None:
        self.claim = claim
        self.runner = runner
        self.stop = StopRequest()
        self.log = log.bind(plan_id=claim.plan_id, attempt=claim.attempt)
        self.sync: PlanSync | None = None

    @property
    def store(self) -> Store:
        return self.runner.store

    async def renew(self) -> None:
        c = self.claim
        state = await self.store.run(
            lambda s: repo_leases.renew_lease(
                s,
                plan_id=c.plan_id,
                worker_id=self.runner.worker_id,
                token=c.token,
                lease_s=self.runner.settings.lease_s,
                now=utcnow(),
            ),
            write=True,
        )
        if not state.held:
            self.log.warning("lease_lost")
            self.stop.set(StopReason.LEASE_LOST)
        elif state.cancel_requested:
            self.stop.set(StopReason.CANCELLED)

    async def execute(self) -> None:
        c = self.claim
        settings = self.runner.settings
        if c.attempt > settings.max_attempts:
            await self._finish(
                PlanStatus.FAILED,
                "max_attempts",
                f"the plan was started {c.attempt - 1} times without finishing",
            )
            return
        try:
            execution = self.runner.execution
            run_dir = execution.run_dir(c.plan_id)
            restored = await self._restore(run_dir)
            spec = PlanSpec(prompt=c.prompt, detail=c.detail, llm_model=c.llm_model, plan_id=c.plan_id)  # type: ignore[arg-type]
            launch = execution.launch_spec(spec, run=c.token)
            self.sync = PlanSync(
                self.store,
                c.plan_id,
                c.token,
                run_dir,
                observer=self.runner.metrics,
                signals=self.runner.signals,
            )
            self.log.info("plan_started", restored_files=restored, run_dir=str(run_dir))
            await self._service_event(
                "plan_running", worker_id=self.runner.worker_id, restored_files=restored
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._sync_loop)
                outcome = await supervise(
                    launch,
                    self.runner.registry,
                    c.plan_id,
                    c.attempt,
                    timeout_s=settings.plan_timeout_s,
                    grace_s=settings.cancel_grace_s,
                    stop=self.stop,
                )
                tg.cancel_scope.cancel()
            with anyio.CancelScope(shield=True):
                await self._conclude(outcome)
        except Exception as exc:
            self.log.exception("plan_run_error")
            with anyio.CancelScope(shield=True):
                await self._finish(
                    PlanStatus.FAILED, "internal_error", f"the service failed to run the plan: {exc}"
                )

    async def _restore(self, run_dir: Path) -> int:
        """Bring back outputs made elsewhere, riding out a short database outage."""
        for attempt in range(1, RESTORE_ATTEMPTS + 1):
            try:
                return await anyio.to_thread.run_sync(
                    restore_outputs, self.store, self.claim.plan_id, run_dir
                )
            except StoreError as exc:
                if attempt == RESTORE_ATTEMPTS:
                    raise
                self.log.warning("restore_retry", attempt=attempt, error=str(exc))
                await anyio.sleep(1.0)
        raise AssertionError("unreachable")

    async def _sync_loop(self) -> None:
        assert self.sync is not None
        while True:
            await anyio.sleep(SYNC_INTERVAL_S)
            try:
                if not await self.sync.pump():
                    self.stop.set(StopReason.LEASE_LOST)
                    return
            except StoreError as exc:
                self.log.warning("event_sync_failed", error=str(exc))

    async def _conclude(self, outcome: ChildOutcome) -> None:
        """Decide the final state from how the child ended; nothing at all if the lease is gone."""
        reason = outcome.stop_reason
        if reason is StopReason.LEASE_LOST:
            self.log.warning("plan_abandoned", reason="lease lost; the new owner decides its fate")
            return
        held = await self._final_sync()
        if not held:
            self.log.warning("plan_abandoned", reason="lease lost while finishing")
            return
        settings = self.runner.settings
        if reason is StopReason.SHUTDOWN:
            await self._store_write(
                lambda s: repo_leases.requeue_plan(
                    s, plan_id=self.claim.plan_id, token=self.claim.token, reason="service shutdown"
                )
            )
        elif reason is StopReason.CANCELLED:
            await self._finish(PlanStatus.CANCELLED, "cancelled", "cancelled on request")
        elif reason is StopReason.TIMEOUT:
            await self._finish(
                PlanStatus.FAILED,
                "timeout",
                f"the plan ran longer than PLANEXE_PLAN_TIMEOUT_S={settings.plan_timeout_s:g}s",
            )
        else:
            await self._conclude_exit(outcome.returncode)

    async def _conclude_exit(self, returncode: int | None) -> None:
        c = self.claim
        assert self.sync is not None
        finished = self.sync.progress.finished or {}
        failed = self.sync.progress.failed
        if returncode == ExitCode.SUCCESS:
            if await self.sync.ship_report():
                await self._finish(PlanStatus.COMPLETED)
            else:
                await self._finish(
                    PlanStatus.FAILED, "report_missing", f"the pipeline exited 0 without {REPORT_FILE}"
                )
            return
        killed = returncode is not None and (returncode < 0 or returncode == ExitCode.INTERRUPTED)
        # Killed from outside (OOM killer, an operator): try again within the attempt limit.
        if killed and c.attempt < self.runner.settings.max_attempts:
            await self._store_write(
                lambda s: repo_leases.requeue_plan(
                    s, plan_id=c.plan_id, token=c.token, reason=f"pipeline killed (exit {returncode})"
                )
            )
            self.runner.wake()
            return
        code = ExitCode(returncode).name.lower() if returncode in set(ExitCode) else "pipeline_error"
        message = str(finished.get("reason") or f"the pipeline exited with code {returncode}")
        failed_task = next(iter(finished.get("failed_tasks") or []), None) or next(iter(failed), None)
        await self._finish(PlanStatus.FAILED, code, message, failed_task)

    async def _final_sync(self) -> bool:
        assert self.sync is not None
        for _ in range(20):
            try:
                return await self.sync.pump()
            except StoreError as exc:
                self.log.warning("final_sync_retry", error=str(exc))
                await anyio.sleep(1.0)
        return False

    async def _service_event(self, kind: str, **fields: object) -> None:
        c = self.claim
        await self._store_write(
            lambda s: (
                repo_events.append_events(
                    s, plan_id=c.plan_id, token=c.token, events=[{"kind": kind, **fields}]
                )
                is not None
            )
        )

    async def _finish(
        self,
        status: PlanStatus,
        code: str | None = None,
        message: str | None = None,
        failed_task: str | None = None,
    ) -> None:
        c = self.claim

        def finish(session):
            event = {"kind": "plan_finished", "status": status.value, "error_code": code, "error": message}
            if repo_events.append_events(session, plan_id=c.plan_id, token=c.token, events=[event]) is None:
                return False
            return repo_leases.finish_plan(
                session,
                plan_id=c.plan_id,
                token=c.token,
                status=status,
                error_code=code,
                error_message=message,
                failed_task=failed_task,
                now=utcnow(),
            )

        if await self._store_write(finish):
            self.log.info("plan_finished", status=status.value, error_code=code)

    async def _store_write(self, fn) -> bool:
        """A final write, retried through a database outage: the run's outcome must not be lost."""
        for attempt in range(1, 31):
            try:
                written = bool(await self.store.run(fn, write=True))
            except StoreError as exc:
                self.log.warning("final_write_retry", attempt=attempt, error=str(exc))
                await anyio.sleep(1.0)
                continue
            if written:  # each of these writes an event: a finish, a requeue, a service event
                self.runner.signals.notify(self.claim.plan_id)
            return written
        return False
