"""One claimed plan, from restoring its outputs to writing its final status.

A ``PlanRun`` is one run of one plan: the claim (plan id and fencing token),
the child it supervises and the sync that ships the child's progress. It gets
what it needs from ``RunDeps``, built once by the runner, and decides how the
run ended with the pure ``outcome.decide``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy.orm import Session

from planexe import faults
from planexe.log import get_logger
from planexe.pipeline.rundir import PlanSpec
from planexe.settings import Settings
from planexe_api import policy
from planexe_api.db import repo_events, repo_leases, repo_reruns
from planexe_api.db.errors import StoreError
from planexe_api.db.models import Plan, PlanStatus, utcnow
from planexe_api.metrics import Metrics
from planexe_api.services import budgets
from planexe_api.services.outcome import Action, Decision, RunEnd, decide
from planexe_api.services.pipeline_execution_service import PipelineExecutionService
from planexe_api.services.plan_signals import PlanSignals
from planexe_api.services.plan_sync import PlanSync, Stored, read_stored, restore_calls, restore_outputs
from planexe_api.services.process_registry import ProcessRegistry
from planexe_api.services.spare import SparePipeline
from planexe_api.services.store import Store, through_outage
from planexe_api.services.supervisor import ChildOutcome, StopReason, StopRequest, supervise

log = get_logger(__name__)

SYNC_INTERVAL_S = 0.25  # how often events.jsonl is shipped to the database


@dataclass(frozen=True)
class Claim:
    """What a run needs of a claimed plan, read inside the claiming transaction."""

    plan_id: str
    token: int  # the fencing token: this run's number, unique per claim
    attempt: int
    prompt: str
    detail: str
    llm_model: str | None
    created_at: datetime
    priority: int = 0  # the plan's; its LLM calls go first when permits are scarce
    budget: dict[str, Any] | None = None  # limits and spend so far, for plan.json (services/budgets.py)
    reruns: dict[str, Any] | None = None  # tasks reruns invalidated, for plan.json (db/repo_reruns.py)

    @classmethod
    def of(cls, plan: Plan) -> Claim:
        return cls(
            plan.id,
            plan.fencing_token,
            plan.attempt,
            plan.prompt,
            plan.detail,
            plan.llm_model,
            plan.created_at,
            plan.priority,
            budgets.for_run(plan),
            repo_reruns.reruns_of(plan.parameters) or None,
        )

    @property
    def key(self) -> tuple[str, int]:
        return (self.plan_id, self.token)


@dataclass(frozen=True)
class RunDeps:
    """Everything a run uses of its runner, built once per runner."""

    settings: Settings
    store: Store
    execution: PipelineExecutionService
    registry: ProcessRegistry
    signals: PlanSignals
    worker_id: str
    wake: Callable[[], None]  # a slot or a queued plan appeared: look for work now
    metrics: Metrics | None = None
    spare: SparePipeline | None = None  # a pipeline process kept ready (PLANEXE_WARM_SPARE)


class PlanRun:
    def __init__(self, claim: Claim, deps: RunDeps) -> None:
        self.claim = claim
        self.deps = deps
        self.stop = StopRequest()
        self.log = log.bind(plan_id=claim.plan_id, run=claim.token, attempt=claim.attempt)
        self.sync: PlanSync | None = None

    async def renew(self) -> None:
        c, d = self.claim, self.deps
        faults.reached("before_renew", run=c.token)
        state = await d.store.run(
            lambda s: repo_leases.renew_lease(
                s,
                plan_id=c.plan_id,
                worker_id=d.worker_id,
                token=c.token,
                lease_s=d.settings.lease_s,
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
        c, settings = self.claim, self.deps.settings
        if not policy.may_start(c.attempt, settings.max_attempts):
            # Only a plan requeued at shutdown on its last attempt gets here.
            cause = "the service shut down during its last run"
            await self._apply(
                Decision.failed(
                    policy.MAX_ATTEMPTS_CODE,
                    policy.out_of_attempts_message(cause, c.attempt - 1, settings.max_attempts),
                )
            )
            return
        try:
            outcome = await self._run_child()
            with anyio.CancelScope(shield=True):
                await self._conclude(outcome)
        except Exception as exc:
            self.log.exception("plan_run_error")
            with anyio.CancelScope(shield=True):
                await self._apply(
                    Decision.failed("internal_error", f"the service failed to run the plan: {exc}")
                )

    async def _run_child(self) -> ChildOutcome:
        c, d = self.claim, self.deps
        run_dir = d.execution.run_dir(c.plan_id)
        stored, restored = await self._prepare(run_dir)
        spec = PlanSpec(
            prompt=c.prompt,
            detail=c.detail,  # type: ignore[arg-type]
            llm_model=c.llm_model,
            plan_id=c.plan_id,
            extra={
                **({"budget": c.budget} if c.budget else {}),
                **({repo_reruns.RERUNS_KEY: c.reruns} if c.reruns else {}),
            },
        )
        launch = await anyio.to_thread.run_sync(lambda: d.execution.launch_spec(spec, run=c.token))
        self.sync = PlanSync(
            d.store, c.plan_id, c.token, run_dir, stored, observer=d.metrics, signals=d.signals
        )
        self.log.info("plan_started", restored_files=restored, run_dir=str(run_dir))
        await self._service_event("plan_running", worker_id=d.worker_id, restored_files=restored)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._sync_loop)
            outcome = await supervise(
                launch,
                d.registry,
                c.plan_id,
                c.token,
                c.attempt,
                timeout_s=d.settings.plan_timeout_s,
                grace_s=d.settings.cancel_grace_s,
                stop=self.stop,
                spare=d.spare,
            )
            tg.cancel_scope.cancel()
        return outcome

    async def _prepare(self, run_dir: Path) -> tuple[Stored, int]:
        """What the database holds of the plan, and its outputs written into the run directory
        (made elsewhere, or overwritten here by a run that lost the plan)."""
        store, plan_id = self.deps.store, self.claim.plan_id
        stored = await store.run_through_outage(
            lambda s: read_stored(s, plan_id), write=False, what="restore"
        )
        restored = await through_outage(
            lambda: anyio.to_thread.run_sync(restore_outputs, store, plan_id, run_dir, stored),
            what="restore",
        )
        calls = await through_outage(
            lambda: anyio.to_thread.run_sync(restore_calls, store, plan_id, run_dir, stored),
            what="restore",
        )
        if calls:
            self.log.info("calls_restored", calls=calls)
        return stored, restored

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
        """Ship what is left, then decide the final state (nothing at all if the lease is gone)."""
        faults.reached("before_conclude", run=self.claim.token)
        held = outcome.stop_reason is not StopReason.LEASE_LOST and await self._final_sync()
        sync = self.sync
        assert sync is not None
        missing = await anyio.to_thread.run_sync(sync.missing_outputs) if held else []
        settings = self.deps.settings
        decision = decide(
            RunEnd(
                stop_reason=outcome.stop_reason,
                returncode=outcome.returncode,
                lease_held=held,
                attempt=self.claim.attempt,
                max_attempts=settings.max_attempts,
                plan_timeout_s=settings.plan_timeout_s,
                run_finished=sync.progress.finished,
                failed_tasks=list(reversed(sync.progress.failed)),
                missing_outputs=missing,
            )
        )
        await self._apply(decision)

    async def _final_sync(self) -> bool:
        """Everything the child wrote, and any output of the DAG still missing, in the database;
        False if the plan's token no longer holds."""
        sync = self.sync
        assert sync is not None

        async def ship() -> bool:
            return await sync.pump() and await sync.upload_missing()

        try:
            return await through_outage(ship, what="final_sync")
        except StoreError as exc:
            self.log.error("final_sync_failed", error=str(exc))
            return False

    async def _apply(self, decision: Decision) -> None:
        c = self.claim
        if decision.action is Action.ABANDON:
            self.log.warning("plan_abandoned", reason="lease lost; the new owner decides its fate")
            return
        if decision.action is Action.REQUEUE:
            reason = decision.message or "requeued"
            if await self._store_write(
                lambda s: repo_leases.requeue_plan(s, plan_id=c.plan_id, token=c.token, reason=reason),
                what="requeue",
            ):
                self.log.info("plan_requeued", reason=reason)
            self.deps.wake()
            return
        assert decision.status is not None
        status = decision.status

        def finish(session: Session) -> bool:
            event: dict[str, Any] = {
                "kind": "plan_finished",
                "status": status.value,
                "error_code": decision.code if status is not PlanStatus.COMPLETED else None,
                "error": decision.message if status is not PlanStatus.COMPLETED else None,
            }
            # A cancelled plan says so whichever way it was cancelled (a queued one at once, a
            # running one here), so a client can watch for one event.
            events: list[dict[str, Any]] = (
                [{"kind": "plan_cancelled"}, event] if status is PlanStatus.CANCELLED else [event]
            )
            if repo_events.append_events(session, plan_id=c.plan_id, token=c.token, events=events) is None:
                return False
            return repo_leases.finish_plan(
                session,
                plan_id=c.plan_id,
                token=c.token,
                status=status,
                error_code=event["error_code"],
                error_message=event["error"],
                failed_task=decision.failed_task,
                now=utcnow(),
            )

        if await self._store_write(finish, what="finish"):
            self.log.info("plan_finished", status=status.value, error_code=decision.code)

    async def _service_event(self, kind: str, **fields: object) -> None:
        c = self.claim
        await self._store_write(
            lambda s: (
                repo_events.append_events(
                    s, plan_id=c.plan_id, token=c.token, events=[{"kind": kind, **fields}]
                )
                is not None
            ),
            what=kind,
        )

    async def _store_write(self, fn: Callable[[Session], bool], *, what: str) -> bool:
        """A write the run must not lose (it records an outcome), retried through an outage."""
        try:
            written = bool(await self.deps.store.run_through_outage(fn, what=what))
        except StoreError as exc:
            self.log.error("final_write_failed", what=what, error=str(exc))
            return False
        if written:  # each of these writes an event: a finish, a requeue, a service event
            self.deps.signals.notify(self.claim.plan_id)
        return written
