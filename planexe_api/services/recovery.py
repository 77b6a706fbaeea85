"""Finding plans whose runner is gone, at startup and on every heartbeat.

At startup, workers registered from this host whose process is no longer
alive are known dead: their leases are expired at once, so their plans are
requeued now instead of after a lease timeout. Then, as on every heartbeat,
expired leases are swept: plans go back to the queue (resumed from their
finished tasks), or fail when too old or out of attempts.
"""

from __future__ import annotations

import os
import socket

import psutil

from planexe.log import get_logger
from planexe.settings import Settings
from planexe_api.db import repo_leases, repo_workers
from planexe_api.db.models import utcnow
from planexe_api.services.store import Store

log = get_logger(__name__)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def recover_on_startup(store: Store, settings: Settings, own_worker_id: str) -> None:
    host = socket.gethostname()
    now = utcnow()

    def release_dead_local(session):
        released: list[str] = []
        for worker in repo_workers.list_workers(session, host=host):
            if worker.id == own_worker_id or _process_alive(worker.pid):
                continue
            released += repo_leases.release_worker_leases(session, worker_id=worker.id, now=now)
            repo_workers.mark_worker_stopped(session, worker_id=worker.id, now=now)
        return released

    released = await store.run(release_dead_local, write=True)
    if released:
        log.info("recovery_released_dead_workers", plans=released)
    await sweep_expired(store, settings)


async def sweep_expired(store: Store, settings: Settings) -> int:
    """Requeue or fail plans whose lease expired; returns how many were requeued."""
    actions = await store.run(
        lambda s: repo_leases.recover_expired(
            s, now=utcnow(), max_age_s=settings.recovery_max_age_s, max_attempts=settings.max_attempts
        ),
        write=True,
    )
    for action in actions:
        log.info(
            "plan_recovered",
            plan_id=action.plan_id,
            outcome=action.outcome.value,
            attempt=action.attempt,
            previous_owner=action.previous_owner,
        )
    return sum(1 for a in actions if a.outcome == repo_leases.RecoveryOutcome.REQUEUED)
