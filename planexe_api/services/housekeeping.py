"""A runner's housekeeping: deleted plans' run directories on its host, and retention.

Every round (once per heartbeat, in a loop of its own so that removing a large
directory never delays a lease renewal) the runner removes the run directories
that ``plan_deletions`` notes for its location (its host and its absolute
``PLANEXE_RUNS_DIR``, recorded in ``workers``), then forgets those notes; every
``RETENTION_INTERVAL_S`` it deletes the terminal plans older than
``PLANEXE_RETENTION_DAYS``, exactly as DELETE /plans/{id} would. A note whose
host has not acted on it for ``NOTE_MAX_AGE_S`` is dropped: that machine is gone.

Runners that share a location (several on one host with the same runs
directory) share the notes: the first to read one removes
``<runs_dir>/<plan_id>`` and forgets it.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from datetime import timedelta
from functools import partial
from pathlib import Path

import anyio

from planexe.log import get_logger
from planexe.settings import Settings
from planexe_api.db import repo_deletions
from planexe_api.db.errors import StoreError
from planexe_api.db.models import is_plan_id, utcnow
from planexe_api.services.store import Store

log = get_logger(__name__)

_REMOVING = threading.Lock()  # one run directory removal at a time in this process (see _remove)
NOTES_PER_SWEEP = 100  # run directories removed per housekeeping round, per host
NOTE_MAX_AGE_S = 30 * 86400.0  # a note its host has not acted on in 30 days: the host is gone
RETENTION_BATCH = 100  # plans purged per retention round
RETENTION_INTERVAL_S = 60.0  # seconds between retention rounds of one runner


def _remove(runs_dir: Path, plan_id: str) -> bool:
    """Remove ``runs_dir/plan_id``; True if it is gone (or never was). Blocking."""
    if not is_plan_id(plan_id):  # never a path outside the runs directory
        return True
    path = runs_dir / plan_id
    # One removal at a time in this process: DELETE's own sweep and the runner's round may read
    # the same note, and the second rmtree would see files vanish and report the directory gone
    # while the first is still removing it.
    with _REMOVING:
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("run_dir_not_removed", plan_id=plan_id, path=str(path), error=str(exc))
        return not path.exists()


def here(settings: Settings) -> repo_deletions.Location:
    """This process's run directory location: its host and its absolute PLANEXE_RUNS_DIR."""
    return socket.gethostname(), str(settings.runs_dir.resolve())


async def remove_run_dirs(store: Store, settings: Settings) -> int:
    """Remove the run directories of deleted plans noted for this host and runs directory; returns
    how many notes were settled. Notes older than NOTE_MAX_AGE_S, anywhere, are dropped."""
    location = here(settings)
    pending = await store.run(lambda s: repo_deletions.pending_deletions(s, location, limit=NOTES_PER_SWEEP))
    runs_dir = settings.runs_dir
    done = [plan_id for plan_id in pending if await anyio.to_thread.run_sync(_remove, runs_dir, plan_id)]
    expired = utcnow() - timedelta(seconds=NOTE_MAX_AGE_S)
    await store.run(
        lambda s: repo_deletions.done_deletions(s, location, done, expired_before=expired), write=True
    )
    if done:
        log.info("run_dirs_removed", plans=done)
    return len(done)


async def purge_expired(store: Store, settings: Settings) -> list[str]:
    """Delete terminal plans that finished more than PLANEXE_RETENTION_DAYS ago (a batch per call)."""
    if settings.retention_days is None:
        return []
    now = utcnow()
    cutoff = now - timedelta(days=settings.retention_days)
    candidates = await store.run(lambda s: repo_deletions.finished_before(s, cutoff, limit=RETENTION_BATCH))
    purged = []
    for plan_id in candidates:
        # Each in its own transaction, the age checked again under the row lock: a plan
        # resumed since the listing is no longer terminal and is kept.
        hosts = await store.run(
            partial(repo_deletions.delete_plan, plan_id=plan_id, now=now, finished_before=cutoff), write=True
        )
        if hosts is not None:
            purged.append(plan_id)
    if purged:
        log.info("plans_purged", plans=purged, retention_days=settings.retention_days)
    return purged


class Housekeeping:
    """One runner's rounds (see the module docstring); the first round applies retention."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._retention_after = 0.0  # time.monotonic(); 0: at the first round

    async def round(self) -> None:
        try:
            if time.monotonic() >= self._retention_after:
                self._retention_after = time.monotonic() + RETENTION_INTERVAL_S
                await purge_expired(self.store, self.settings)
            await remove_run_dirs(self.store, self.settings)
        except StoreError as exc:
            log.warning("housekeeping_failed", error=str(exc))
