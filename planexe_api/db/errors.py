"""Exceptions raised by plan storage.

StoreError
├── StoreUnavailable            the database cannot be reached or is restarting (driver OperationalError)
│   └── StoreBusy               SQLite stayed locked by another writer past busy_timeout
├── SchemaOutdated              the schema is not at this release's migration head
├── StoreConflict               a write broke a constraint (driver IntegrityError)
│   └── DuplicateIdempotencyKey another plan was created with this idempotency key
├── PlanNotFound                no plan has this id
├── InvalidTransition           the plan's status does not allow the change
└── InvalidCursor               a list cursor that this store did not hand out

Each class's docstring is its default message. Driver errors are wrapped where
they enter our code (``raise StoreUnavailable(...) from exc``), so callers only
catch ``StoreError`` and the HTTP layer maps it in one place.
"""

from __future__ import annotations


class StoreError(Exception):
    """The plan store failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self)


class StoreUnavailable(StoreError):
    """The database is unavailable; try again shortly."""


class StoreBusy(StoreUnavailable):
    """The database stayed locked by another writer; try again shortly."""


class SchemaOutdated(StoreError):
    """The database schema is not the one this release needs: run `planexe db upgrade`."""


class StoreConflict(StoreError):
    """The change conflicts with data already stored."""


class DuplicateIdempotencyKey(StoreConflict):
    """A plan with this idempotency key already exists."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"a plan with idempotency key {key!r} already exists")


class PlanNotFound(StoreError):
    """No plan has this id."""

    def __init__(self, plan_id: str) -> None:
        self.plan_id = plan_id
        super().__init__(f"no plan has id {plan_id!r}")


class InvalidTransition(StoreError):
    """The plan's status does not allow this change."""

    def __init__(self, plan_id: str, status: str, action: str) -> None:
        self.plan_id = plan_id
        self.status = status
        self.action = action
        super().__init__(f"plan {plan_id} is {status}; it cannot be {action}")


class InvalidCursor(StoreError):
    """The list cursor is not valid; start again without one."""
