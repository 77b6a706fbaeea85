"""Text the plan store can hold, on SQLite and PostgreSQL alike: one rule for every input.

Two kinds of character pass JSON and Python but not the databases:
- NUL (U+0000): PostgreSQL's text columns refuse it (SQLite keeps it, so a plan
  would be accepted on one database and a 500 on the other);
- a lone UTF-16 surrogate (U+D800..U+DFFF, e.g. JSON ``"\\ud800"``): not Unicode
  text at all, so encoding it as UTF-8 for either driver fails.
Inputs that reach the store or the run directory (prompt, model, idempotency key,
search text, names) are checked where they enter, by their input model, so a client
gets 422 ``invalid_request`` naming the field instead of a 500 from the driver.
Use ``StorableText`` (or ``check_storable`` as a validator) for every new text field.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator


def storable_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None if it can."""
    if "\x00" in value:
        return "contains a NUL character (U+0000), which cannot be stored; remove it"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(value[exc.start])
        return f"contains a lone UTF-16 surrogate (U+{code:04X}), which is not valid Unicode text"
    return None


def check_storable(value: object) -> object:
    """A pydantic validator: ``value`` unchanged, or ValueError saying what is wrong with it.
    It runs before pydantic's own checks (a length limit would otherwise refuse a surrogate
    first, as "unable to parse raw data"), so anything but a string is left to those."""
    if isinstance(value, str) and (problem := storable_problem(value)):
        raise ValueError(problem)
    return value


StorableText = Annotated[str, BeforeValidator(check_storable)]
