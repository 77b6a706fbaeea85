"""``planexe plans ACTION``: list, show, watch, create, resume, rerun, cancel, delete, download.

Every action talks to a running service (``--url``, default the local one)
with the token from ``PLANEXE_API_TOKEN``. Output is text for people, or with
``--json`` the API's own JSON (one object per event for ``watch``). Exit
codes: 0 done; 1 the service said no (the one-line error is its message),
could not be reached, or the plan watched did not complete; 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from planexe.settings import get_settings
from planexe_api.client import events, render
from planexe_api.client.api import DEFAULT_URL, Api, ClientError

HELP = "the REST API from the command line: list, show, watch, resume, rerun, cancel, delete, download plans"

# What `download ID NAME` fetches for these names; any other NAME is a stored file (/files/NAME).
DOCUMENTS = {
    "archive": "archive",
    "report": "report",
    "report.md": "report.md",
    "schedule.csv": "schedule.csv",
}
_FILENAME = re.compile(r'filename="([^"/\\]+)"')


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=DEFAULT_URL, help=f"the service's base URL (default {DEFAULT_URL})")
    common.add_argument("--json", action="store_true", help="print the API's JSON instead of text")
    return common


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{HELP}. Each action talks to a running PlanExe (`planexe serve`) at --url, sending "
        "PLANEXE_API_TOKEN from the environment if it is set. See docs/api.md."
    )
    common = _common()
    actions = parser.add_subparsers(dest="plans_action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text, parents=[common])
        sub.set_defaults(_action=ACTIONS[name])
        return sub

    listing = action("list", "plans, newest first")
    listing.add_argument("--status", help="only plans in this status (queued, running, completed, ...)")
    listing.add_argument("--search", "-q", help="only prompts containing this (any case)")
    listing.add_argument("--limit", type=int, default=20, help="plans per page (1..100, default 20)")
    listing.add_argument("--all", action="store_true", help="every page, not only the first")

    action("show", "one plan: status, progress, usage, error").add_argument("plan_id")

    watch = action("watch", "follow a plan's events live until it ends (exit 0 only if it completed)")
    watch.add_argument("plan_id")
    watch.add_argument("--after", type=int, default=0, help="start after this event id")
    watch.add_argument(
        "--patience",
        type=float,
        default=events.PATIENCE_S,
        help=f"seconds to keep reconnecting when the stream is lost (default {events.PATIENCE_S:.0f})",
    )

    create = action("create", "queue a plan (prints its id)")
    create.add_argument("prompt")
    create.add_argument("--detail", choices=["full", "fast"], default="full")
    create.add_argument("--priority", type=int, default=0, help="-10..10, higher runs first (default 0)")
    create.add_argument("--model", help="a configured model to try first")
    create.add_argument("--idempotency-key", help="the same key again returns the same plan")
    create.add_argument("--watch", action="store_true", help="then follow it as `watch` does")

    resume = action(
        "resume",
        "queue a failed or cancelled plan again (finished tasks reused); or, with --failed or "
        "--cancelled instead of an id, every plan a filter matches",
    )
    resume.add_argument("plan_id", nargs="?")
    resume.add_argument("--max-cost", type=float, help="a new budget in USD (one plan)")
    resume.add_argument("--max-tokens", type=int, help="a new budget in tokens (one plan)")
    which = resume.add_mutually_exclusive_group()
    which.add_argument("--failed", action="store_true", help="bulk: failed plans")
    which.add_argument("--cancelled", action="store_true", help="bulk: cancelled plans")
    resume.add_argument("--error-code", help="bulk: only plans that failed with this code, e.g. timeout")
    resume.add_argument(
        "--since", help="bulk: only plans that ended at or after this time (ISO 8601, with zone)"
    )
    resume.add_argument("--limit", type=int, help="bulk: at most this many plans, oldest first (1..100)")

    rerun = action("rerun", "regenerate tasks of a finished plan and everything downstream of them")
    rerun.add_argument("plan_id")
    rerun.add_argument("tasks", nargs="+", metavar="TASK", help="task names, as `planexe graph` shows them")
    rerun.add_argument("--feedback", help="what to change, added to the prompts of the tasks that run again")

    action("cancel", "stop a queued or running plan").add_argument("plan_id")
    action(
        "delete", "delete a plan: its rows, files and run directories (cancel a running one first)"
    ).add_argument("plan_id")

    download = action(
        "download",
        "save a plan's archive (default), report, report.md, schedule.csv or one stored file",
    )
    download.add_argument("plan_id")
    download.add_argument(
        "name", nargs="?", default="archive", help="archive | report | report.md | schedule.csv | a file name"
    )
    download.add_argument(
        "--output", "-o", help="where to save it ('-' for stdout); default: its own name here"
    )


def _print(args: argparse.Namespace, body: Any, text: str) -> None:
    print(json.dumps(body, ensure_ascii=False) if args.json else text, flush=True)


def _list(api: Api, args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit}
    if args.status:
        params["status"] = args.status
    if args.search:
        params["q"] = args.search
    page = api.json("GET", "/plans", params=params)
    items = list(page["items"])
    while args.all and page.get("next_cursor"):
        page = api.json("GET", "/plans", params={**params, "cursor": page["next_cursor"]})
        items += page["items"]
    whole = {**page, "items": items, "next_cursor": page.get("next_cursor")}
    _print(args, whole, render.plan_list(whole))
    return 0


def _show(api: Api, args: argparse.Namespace) -> int:
    plan = api.json("GET", f"/plans/{args.plan_id}")
    _print(args, plan, render.plan_detail(plan))
    return 0


def _watch(api: Api, args: argparse.Namespace) -> int:
    return _follow(api, args, args.plan_id, args.after)


def _follow(api: Api, args: argparse.Namespace, plan_id: str, after: int = 0) -> int:
    lines = render.EventLines()

    def reconnecting(last: int, delay: float, why: str) -> None:
        print(f"reconnecting after event {last} in {delay:.1f} s ({why})", file=sys.stderr, flush=True)

    for event in events.follow(
        api, plan_id, after=after, patience_s=args.patience, on_reconnect=reconnecting
    ):
        if args.json:
            print(json.dumps(event.as_json(), ensure_ascii=False), flush=True)
        elif (line := lines.line(event.kind, event.data)) is not None:
            print(line, flush=True)
    plan = api.json("GET", f"/plans/{plan_id}")
    if not args.json:
        print(render.plan_detail(plan), flush=True)
    return 0 if plan["status"] == "completed" else 1


def _create(api: Api, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"prompt": args.prompt, "detail": args.detail, "priority": args.priority}
    if args.model:
        body["llm_model"] = args.model
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
    plan = api.json("POST", "/plans", json=body, headers=headers)
    _print(args, plan, f"{plan['status']} {plan['id']}")
    if args.watch:
        args.patience = events.PATIENCE_S
        return _follow(api, args, plan["id"])
    return 0


def _resume(api: Api, args: argparse.Namespace) -> int:
    bulk = args.failed or args.cancelled
    if bulk == bool(args.plan_id):
        raise ClientError("usage", "give a plan id, or --failed or --cancelled (with filters) for many plans")
    if not bulk:
        if args.error_code or args.since or args.limit is not None:
            raise ClientError("usage", "--error-code, --since and --limit go with --failed or --cancelled")
        budget = {
            k: v for k, v in (("max_cost", args.max_cost), ("max_tokens", args.max_tokens)) if v is not None
        }
        plan = api.json("POST", f"/plans/{args.plan_id}/resume", json=budget or None)
        _print(args, plan, f"{plan['status']} {plan['id']}")
        return 0
    if args.max_cost is not None or args.max_tokens is not None:
        raise ClientError("usage", "a new budget is for one plan: resume it by its id")
    filters: dict[str, Any] = {"status": "failed" if args.failed else "cancelled"}
    for key, value in (("error_code", args.error_code), ("since", args.since), ("limit", args.limit)):
        if value is not None:
            filters[key] = value
    out = api.json("POST", "/plans/resume", json=filters)
    text = [f"resumed {plan_id}" for plan_id in out["resumed"]]
    text += [f"skipped {s['id']}: {s['code']}: {s['message']}" for s in out["skipped"]]
    text.append(f"{len(out['resumed'])} resumed, {len(out['skipped'])} skipped of {out['matched']} matching")
    _print(args, out, "\n".join(text))
    return 0


def _rerun(api: Api, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"tasks": args.tasks}
    if args.feedback:
        body["feedback"] = args.feedback
    out = api.json("POST", f"/plans/{args.plan_id}/rerun", json=body)
    text = (
        f"rerun {out['rerun']} of {out['plan']['id']} queued: {len(out['tasks'])} tasks run again "
        f"({out['llm_calls_planned']} LLM calls planned), {out['kept']} kept\n" + " ".join(out["tasks"])
    )
    _print(args, out, text)
    return 0


def _cancel(api: Api, args: argparse.Namespace) -> int:
    plan = api.json("POST", f"/plans/{args.plan_id}/cancel")
    state = "cancelling" if plan.get("cancel_requested") and plan["status"] == "running" else plan["status"]
    _print(args, plan, f"{state} {plan['id']}")
    return 0


def _delete(api: Api, args: argparse.Namespace) -> int:
    api.request("DELETE", f"/plans/{args.plan_id}")
    _print(args, {"deleted": args.plan_id}, f"deleted {args.plan_id}")
    return 0


def _download(api: Api, args: argparse.Namespace) -> int:
    document = DOCUMENTS.get(args.name)
    path = f"/plans/{args.plan_id}/{document}" if document else f"/plans/{args.plan_id}/files/{args.name}"
    with api.stream(path) as response:
        given = _FILENAME.search(response.headers.get("content-disposition", ""))
        default = given.group(1) if given else _default_name(args.plan_id, args.name)
        if args.output == "-":
            size = 0
            for chunk in response.iter_bytes():
                sys.stdout.buffer.write(chunk)
                size += len(chunk)
            sys.stdout.buffer.flush()
            return 0
        target = Path(args.output or default)
        if target.is_dir():
            target = target / default
        size = _save(target, response.iter_bytes)
    _print(args, {"path": str(target), "bytes": size}, f"saved {target} ({size:,} bytes)")
    return 0


def _default_name(plan_id: str, name: str) -> str:
    if name == "report":
        return f"planexe-{plan_id}-report.html"
    return f"planexe-{plan_id}-{name.replace('/', '-')}"


def _save(target: Path, chunks: Callable[[], Any]) -> int:
    """Write the body to ``target`` through a temporary file, so a broken download leaves nothing
    that looks complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks():
                out.write(chunk)
                size += len(chunk)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return size


ACTIONS: dict[str, Callable[[Api, argparse.Namespace], int]] = {
    "list": _list,
    "show": _show,
    "watch": _watch,
    "create": _create,
    "resume": _resume,
    "rerun": _rerun,
    "cancel": _cancel,
    "delete": _delete,
    "download": _download,
}


def run(args: argparse.Namespace) -> int:
    token = get_settings().api_token
    api = Api(args.url, token.get_secret_value() if token else None)
    try:
        return args._action(api, args)
    except ClientError as exc:
        print(
            f"error: {exc.message}" + (f" ({exc.code})" if exc.code not in ("usage",) else ""),
            file=sys.stderr,
        )
        return 2 if exc.code == "usage" else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`... | head`): what it wanted it has; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        api.close()
