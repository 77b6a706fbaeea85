"""A finished plan as one zip, streamed: everything it produced, read from the database.

Layout, under a folder named for the plan:

    <id>/status.json      the plan as GET /plans/{id} shows it (status, usage, error)
    <id>/outputs/<name>   every stored output, as GET /plans/{id}/files/<name> serves it
    <id>/versions/<n>/<name>  the earlier versions a rerun replaced (GET ...?version=<n>)
    <id>/report.md        the report as Markdown (completed plans)
    <id>/schedule.csv     the schedule as CSV (once the Schedule step has finished)
    <id>/events.jsonl     the event log, one JSON object a line: id, kind, created_at, data

The zip is written as it is sent. ``zipfile`` writes to a sink that cannot
seek, so each entry's sizes follow its data (a data descriptor) instead of
being patched into its header, and the sink hands over its bytes after each
entry. Outputs are read one at a time, each in its own short transaction, and
events a page at a time: memory holds one output (and its compressed copy),
whatever the plan's size, and no transaction stays open while a slow client
reads. Only finished plans are archived, so the files do not change under it
(a resume during a download would mix two states; the archive is a snapshot
of a plan at rest).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import anyio

from planexe.log import get_logger
from planexe_api.db import repo_events, repo_files, repo_versions
from planexe_api.db.models import PlanStatus
from planexe_api.errors import ApiError, Conflict
from planexe_api.schemas import PlanOut
from planexe_api.services import plan_actions, plan_export
from planexe_api.state import AppState

log = get_logger(__name__)

ZIP_TYPE = "application/zip"
EVENTS_PAGE = 1000  # events read per transaction
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


class _Sink:
    """A write-only, unseekable file: what zipfile writes waits here until it is sent."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._offset = 0

    def write(self, data: bytes, /) -> int:
        self._parts.append(bytes(data))
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:  # zipfile needs offsets for the central directory; it never seeks
        return self._offset

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


@dataclass(frozen=True)
class Archive:
    plan: PlanOut
    filename: str

    @property
    def folder(self) -> str:
        return self.plan.id


def _info(name: str, when: datetime) -> zipfile.ZipInfo:
    stamp = when.astimezone(UTC).timetuple()[:6]
    info = zipfile.ZipInfo(name, date_time=max(stamp, _ZIP_EPOCH))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16  # a regular file, readable by all, once unzipped
    return info


async def open_archive(state: AppState, plan_id: str) -> Archive:
    """Check that the plan can be archived (it exists and has finished) before anything is sent."""
    plan = await plan_actions.get_plan(state, plan_id, eta=False)
    if not PlanStatus(plan.status).is_terminal:
        raise Conflict(
            f"plan {plan_id} is {plan.status}: only a plan that has ended (completed, failed, cancelled "
            "or refused) can be archived (cancel it, or wait until it ends)",
            code="plan_not_finished",
        )
    return Archive(plan, f"planexe-{plan_id}.zip")


async def archive_chunks(state: AppState, archive: Archive) -> AsyncIterator[bytes]:
    """The zip's bytes, entry by entry."""
    plan_id, folder, store = archive.plan.id, archive.folder, state.store
    sink = _Sink()
    zf = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED)

    async def add(name: str, data: bytes, when: datetime) -> bytes:
        await anyio.to_thread.run_sync(lambda: zf.writestr(_info(f"{folder}/{name}", when), data))
        return sink.take()

    now = datetime.now(UTC)
    try:
        yield await add(
            "status.json", archive.plan.model_dump_json(indent=1).encode(), archive.plan.updated_at
        )
        for meta in await store.run(lambda s: repo_files.list_files(s, plan_id)):
            stored = await store.run(partial(repo_files.get_file, plan_id=plan_id, name=meta.name))
            if stored is not None:  # gone since the listing: a delete under way
                yield await add(f"outputs/{stored.name}", stored.content, stored.created_at)
        for earlier in await store.run(lambda s: repo_versions.list_versions(s, plan_id)):
            version = await store.run(
                partial(
                    repo_versions.get_version, plan_id=plan_id, name=earlier.name, version=earlier.version
                )
            )
            if version is not None:
                yield await add(
                    f"versions/{version.version}/{version.name}", version.content, version.created_at
                )
        for name, build in (
            ("report.md", plan_export.report_markdown),
            ("schedule.csv", plan_export.schedule_export),
        ):
            try:
                document = await build(state, plan_id)
            except ApiError:  # not produced by this plan (not completed, no schedule yet)
                continue
            yield await add(name, document.text.encode(), now)
        async for chunk in _events(state, plan_id, zf, sink, _info(f"{folder}/events.jsonl", now)):
            yield chunk
        zf.close()  # the central directory
        yield sink.take()
    except BaseException:
        log.warning("archive_stopped", plan_id=plan_id)  # a client gone, or a store error
        raise


async def _events(
    state: AppState, plan_id: str, zf: zipfile.ZipFile, sink: _Sink, info: zipfile.ZipInfo
) -> AsyncIterator[bytes]:
    """The event log as one entry, written a page of events at a time."""
    after = 0
    entry = zf.open(info, "w")
    try:
        while True:
            rows = await state.store.run(
                partial(repo_events.event_rows_after, plan_id=plan_id, after_seq=after, limit=EVENTS_PAGE)
            )
            if not rows:
                break
            lines = b"".join(
                json.dumps(
                    {"id": seq, "kind": kind, "created_at": at.isoformat(), "data": data}, ensure_ascii=False
                ).encode()
                + b"\n"
                for seq, kind, data, at in rows
            )
            await anyio.to_thread.run_sync(entry.write, lines)
            yield sink.take()
            after = rows[-1][0]
    finally:
        entry.close()
