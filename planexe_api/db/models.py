"""Tables of the plan store, portable across SQLite and PostgreSQL.

Times are stored as UTC (``UtcDateTime``) and always computed in Python, never
with SQL date functions, so one query means the same on both databases.
``planexe_api/db/migrations/versions`` must describe exactly these tables; a test compares them.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Explicit constraint names: Alembic's batch mode on SQLite needs them to alter a table.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_plan_id() -> str:
    return uuid.uuid4().hex


_PLAN_ID = re.compile(r"[0-9a-f]{32}")


def is_plan_id(value: str) -> bool:
    """Whether ``value`` has the form of an id ``new_plan_id`` makes: a lookup of anything else
    can find nothing, so it is answered without asking the database (which might refuse the
    text: NUL on PostgreSQL)."""
    return _PLAN_ID.fullmatch(value) is not None


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in, an aware UTC datetime out, on every database.

    SQLite keeps no zone, so values are stored as naive UTC text (which also
    sorts and compares correctly); PostgreSQL keeps ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BIGINT primary keys are not rowid aliases on SQLite and would not autoincrement there.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class PlanStatus(StrEnum):
    QUEUED = "queued"  # waiting for a runner to claim it
    RUNNING = "running"  # claimed: a runner holds the lease and runs the pipeline child
    COMPLETED = "completed"  # the pipeline finished and the report exists
    FAILED = "failed"  # the pipeline failed, or recovery gave up (see error_code); resumable
    CANCELLED = "cancelled"  # a person asked to stop it; resumable
    REFUSED = "refused"  # the safety gate declined to plan it; final: never retried or resumed

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {PlanStatus.COMPLETED, PlanStatus.FAILED, PlanStatus.CANCELLED, PlanStatus.REFUSED}
)


class PlanDetail(StrEnum):
    FULL = "full"  # every step of the pipeline
    FAST = "fast"  # the pipeline's shorter variant


class WorkerRole(StrEnum):
    API = "api"  # `planexe serve`: serves HTTP and, unless PLANEXE_RUNNER=false, runs plans
    WORKER = "worker"  # `planexe worker`: only runs plans


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed', 'cancelled', 'refused')", name="status"
        ),
        # The claim query: WHERE status = 'queued' ORDER BY priority DESC, created_at, id.
        Index("ix_plans_claim", "status", "priority", "created_at"),
        # Recovery: WHERE status = 'running' AND lease_expires_at < now.
        Index("ix_plans_lease", "status", "lease_expires_at"),
        # Listing, newest first.
        Index("ix_plans_created", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_plan_id)
    prompt: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(String(16), default=PlanDetail.FULL.value)
    llm_model: Mapped[str | None] = mapped_column(String(200))
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default=PlanStatus.QUEUED.value)
    priority: Mapped[int] = mapped_column(default=0, server_default="0")  # higher is claimed first
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)

    # Claims and leases (docs/database.md, "Claims, leases and fencing").
    # Runs started since a person last queued the plan (create or resume); +1 at each claim.
    attempt: Mapped[int] = mapped_column(default=0, server_default="0")
    fencing_token: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # +1 at each claim
    lease_owner: Mapped[str | None] = mapped_column(String(100))  # workers.id of the runner holding it
    lease_expires_at: Mapped[datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    # Progress, refreshed by the runner while the child runs.
    progress_done: Mapped[int] = mapped_column(default=0, server_default="0")  # tasks done
    progress_total: Mapped[int] = mapped_column(default=0, server_default="0")  # tasks in the DAG
    running_tasks: Mapped[list[str]] = mapped_column(default=list)
    llm_calls: Mapped[int] = mapped_column(default=0, server_default="0")
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cost_usd: Mapped[float | None] = mapped_column(Float)  # NULL: no call had a price (unknown, not 0)

    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    failed_task: Mapped[str | None] = mapped_column(String(200))

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When a person last put it in the queue (created or resumed); recovery's age limit counts from here.
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]  # first claim since queued_at
    finished_at: Mapped[datetime | None]
    # plan_events.seq of the newest event; appends bump it to number theirs.
    last_event_seq: Mapped[int] = mapped_column(default=0, server_default="0")

    @property
    def plan_status(self) -> PlanStatus:
        return PlanStatus(self.status)

    def __repr__(self) -> str:
        return f"<Plan {self.id} {self.status} attempt={self.attempt} token={self.fencing_token}>"


class PlanEvent(Base):
    __tablename__ = "plan_events"
    __table_args__ = (UniqueConstraint("plan_id", "seq"), UniqueConstraint("plan_id", "eid"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(32), ForeignKey("plans.id", ondelete="CASCADE"))
    seq: Mapped[int]  # 1, 2, 3, ... per plan, no gaps; the SSE event id
    kind: Mapped[str] = mapped_column(String(64))
    # The pipeline's id of the events.jsonl line (NULL for the service's own events): stored once.
    eid: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def as_dict(self) -> dict[str, Any]:
        """The event as the pipeline wrote it: ``{"kind": ..., **data}``."""
        return {**self.data, "kind": self.kind}


class PlanFile(Base):
    __tablename__ = "plan_files"
    __table_args__ = (UniqueConstraint("plan_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(32), ForeignKey("plans.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))  # path relative to the run directory, '/'-separated
    task: Mapped[str] = mapped_column(String(200))  # the pipeline task that wrote it
    size: Mapped[int] = mapped_column(BigInteger)  # bytes
    sha256: Mapped[str] = mapped_column(String(64))  # hex digest of content
    # Deferred: listing files must not pull every file's bytes.
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlanFileVersion(Base):
    """An earlier version of an output file: what a rerun replaced, kept to be read."""

    __tablename__ = "plan_file_versions"
    __table_args__ = (UniqueConstraint("plan_id", "name", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(32), ForeignKey("plans.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))  # as in plan_files
    version: Mapped[int]  # 1 for the file's first output; the current one is the newest version + 1
    task: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)  # bytes
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime]  # when this version was made (stored)
    superseded_at: Mapped[datetime]  # when a rerun replaced it
    rerun: Mapped[int]  # the number of the rerun that replaced it (parameters.reruns.generation)


class PlanLlmCall(Base):
    """A call checkpoint: one validated LLM answer of a plan, kept so no later run pays for it again."""

    __tablename__ = "plan_llm_calls"
    __table_args__ = (UniqueConstraint("plan_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(32), ForeignKey("plans.id", ondelete="CASCADE"))
    # calls/<task>/<key>.json, its path in the run directory; the key hashes what determines the answer
    name: Mapped[str] = mapped_column(String(300))
    task: Mapped[str] = mapped_column(String(200))  # the pipeline task that asked
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # the checkpoint file's bytes
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LlmUsage(Base):
    __tablename__ = "llm_usage"

    plan_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    calls: Mapped[int] = mapped_column(default=0, server_default="0")  # successful calls
    failed_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    latency_s_total: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")  # seconds
    cost_usd: Mapped[float | None] = mapped_column(Float)  # NULL: the model has no prices


class Worker(Base):
    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # unique per process: host, pid, random
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    role: Mapped[str] = mapped_column(String(16))  # a WorkerRole
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    stopped_at: Mapped[datetime | None]  # set at a clean stop; NULL while alive or after a crash
    # Its PLANEXE_RUNS_DIR, absolute: with host, where the run directories of the plans it ran are.
    runs_dir: Mapped[str | None] = mapped_column(String(500))


class LlmPermitShare(Base):
    """A runner's part of one provider key's limits, leased (see ``repo_permit_shares``)."""

    __tablename__ = "llm_permit_shares"

    limit_key: Mapped[str] = mapped_column(String(40), primary_key=True)  # planexe.llm.permits.limit_key
    worker_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    in_flight: Mapped[int] = mapped_column(default=0)  # calls in flight it may hold or holds
    requests: Mapped[int] = mapped_column(default=0)  # requests in the window it may start or started
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)  # the same in tokens
    demand: Mapped[int] = mapped_column(default=0)  # its calls in flight plus waiting, for the split
    in_flight_until: Mapped[datetime]  # unrenewed, its in_flight stops counting then
    window_until: Mapped[datetime]  # ... and its requests and tokens a window later


class PlanDeletion(Base):
    """A deleted plan's run directory still to be removed (see ``services/housekeeping``).

    The plan's rows are gone; this is the note that the runners of ``host`` with
    ``runs_dir`` read to remove the directory there, deleted once one has.
    """

    __tablename__ = "plan_deletions"
    __table_args__ = (Index("ix_plan_deletions_host", "host", "runs_dir"),)

    plan_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), primary_key=True)  # workers.host of a runner that ran it
    # That runner's workers.runs_dir; "" if it did not record one (any runs_dir on the host).
    runs_dir: Mapped[str] = mapped_column(String(500), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(default=utcnow)
