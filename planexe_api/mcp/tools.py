"""The tools: what each is called, what an agent is told about it, and what it does.

Names follow upstream PlanExe's MCP server where the meaning matches
(docs/mcp.md lists the differences). Every handler calls ``plan_actions``,
exactly as the REST routes do, and returns a pydantic model: its JSON is the
tool's structured result, and its schema the advertised output schema.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp_types import ToolAnnotations
from pydantic import BaseModel
from starlette.requests import HTTPConnection

from planexe.pipeline.rundir import REPORT_FILE
from planexe_api.db.models import PlanStatus
from planexe_api.errors import ApiError
from planexe_api.mcp import inputs, outputs
from planexe_api.mcp.examples import prompt_examples
from planexe_api.mcp.report_text import report_as
from planexe_api.mcp.status import absolute_links, plan_status, status_of
from planexe_api.mcp.waiting import Report, wait_for_plan
from planexe_api.principal import requested_by
from planexe_api.schemas import FileOut, PlanCreate
from planexe_api.services import plan_actions, plan_export, plan_rerun
from planexe_api.state import AppState

PROMPT_EXCERPT_CHARS = 200


@dataclass(frozen=True)
class Call:
    """What a handler gets besides its arguments."""

    state: AppState
    base_url: str  # scheme://host[:port] the client reached us at; download links start with it
    report: Report  # progress notifications for this call (a no-op if the client asked for none)
    request: HTTPConnection | None = None  # the HTTP request the call came in, for who asked


Handler = Callable[[Call, Any], Awaitable[BaseModel]]


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    args: type[inputs.Args]
    result: type[BaseModel]
    handler: Handler
    annotations: ToolAnnotations


def _hints(*, read_only: bool, idempotent: bool = True, destructive: bool = False) -> ToolAnnotations:
    return ToolAnnotations(
        read_only_hint=read_only,
        idempotent_hint=idempotent,
        destructive_hint=destructive,
        open_world_hint=False,
    )


async def _prompt_examples(call: Call, args: inputs.NoArgs) -> BaseModel:
    return prompt_examples()


async def _create(call: Call, args: inputs.CreateArgs) -> BaseModel:
    body = PlanCreate(**args.model_dump(exclude={"idempotency_key"}))
    result = await plan_actions.create_plan(
        call.state,
        body,
        args.idempotency_key,
        dedupe_window_s=call.state.settings.mcp_dedupe_window_s,
    )
    fields = status_of(result.plan, call.base_url, created=result.created, reused=result.reused)
    return outputs.PlanCreateOut(**fields)


async def _status(call: Call, args: inputs.PlanArgs) -> BaseModel:
    return plan_status(await plan_actions.get_plan(call.state, args.plan_id), call.base_url)


async def _wait(call: Call, args: inputs.WaitArgs) -> BaseModel:
    plan, outcome, waited = await wait_for_plan(
        call.state, args.plan_id, timeout_s=args.timeout_s, until=args.until, report=call.report
    )
    return outputs.PlanWaitOut(**status_of(plan, call.base_url, outcome=outcome, waited_s=round(waited, 2)))


async def _list(call: Call, args: inputs.ListArgs) -> BaseModel:
    page = await plan_actions.list_plans(call.state, status=args.status, limit=args.limit, cursor=args.cursor)
    items = [
        outputs.PlanSummary(
            id=p.id,
            status=p.status,
            prompt_excerpt=p.prompt[:PROMPT_EXCERPT_CHARS],
            detail=p.detail,
            progress=p.progress,
            error=p.error,
            created_at=p.created_at,
            finished_at=p.finished_at,
            status_url=call.base_url + p.links["self"],
        )
        for p in page.items
    ]
    return outputs.PlanListOut(items=items, next_cursor=page.next_cursor)


async def _stop(call: Call, args: inputs.PlanArgs) -> BaseModel:
    before = await plan_actions.get_plan(call.state, args.plan_id)
    after = await plan_actions.cancel_plan(call.state, args.plan_id)
    requested = not PlanStatus(before.status).is_terminal and not before.cancel_requested
    return outputs.PlanStopOut(**status_of(after, call.base_url, stop_requested=requested))


async def _resume(call: Call, args: inputs.PlanArgs) -> BaseModel:
    return plan_status(await plan_actions.resume_plan(call.state, args.plan_id), call.base_url)


async def _retry(call: Call, args: inputs.RetryArgs) -> BaseModel:
    result = await plan_actions.retry_plan(
        call.state, args.plan_id, llm_model=args.llm_model, idempotency_key=args.idempotency_key
    )
    fields = status_of(
        result.plan, call.base_url, created=result.created, reused=result.reused, retry_of=args.plan_id
    )
    return outputs.PlanCreateOut(**fields)


async def _rerun(call: Call, args: inputs.RerunArgs) -> BaseModel:
    rerun = await plan_rerun.rerun_plan(
        call.state, args.plan_id, args.tasks, args.feedback, requested_by(call.request, via="mcp")
    )
    return outputs.PlanRerunOut(**status_of(rerun.plan, call.base_url, **rerun.model_dump(exclude={"plan"})))


def _absolute(f: FileOut, base_url: str) -> FileOut:
    return f.model_copy(update={"url": base_url + f.url})


def _page(text: str, offset: int, max_chars: int) -> dict[str, Any]:
    chunk = text[offset : offset + max_chars]
    end = offset + len(chunk)
    more = end < len(text)
    return {
        "total_chars": len(text),
        "offset": offset,
        "content": chunk,
        "truncated": more,
        "next_offset": end if more else None,
    }


async def _files(call: Call, args: inputs.FilesArgs) -> BaseModel:
    plan = await plan_actions.get_plan(call.state, args.plan_id)
    listed = await plan_actions.list_files(call.state, args.plan_id, versions=args.versions)
    files = [_absolute(f, call.base_url) for f in listed]
    content = None
    if args.name is not None:
        stored = await plan_actions.read_file(call.state, args.plan_id, args.name, args.version)
        try:
            text = stored.content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(
                f"{args.name!r} is not a text file; download it from its url instead", code="not_text"
            ) from exc
        content = outputs.FileContent(
            name=stored.name,
            media_type=stored.media_type,
            size=len(stored.content),
            **_page(text, args.offset, args.max_chars),
        )
    return outputs.PlanFilesOut(plan_id=args.plan_id, status=plan.status, files=files, file=content)


async def _file_info(call: Call, args: inputs.FileInfoArgs) -> BaseModel:
    plan = await plan_actions.get_plan(call.state, args.plan_id)
    info = outputs.PlanFileInfoOut(
        plan_id=args.plan_id, artifact=args.artifact, ready=False, reason=plan.status
    )
    if plan.status not in (PlanStatus.COMPLETED, PlanStatus.REFUSED):
        return info
    report = next(
        (f for f in await plan_actions.list_files(call.state, args.plan_id) if f.name == REPORT_FILE), None
    )
    if report is None:
        return info.model_copy(update={"reason": "the report file is missing"})
    return info.model_copy(
        update={
            "ready": True,
            "reason": None,
            "download_url": absolute_links(plan.links, call.base_url)["report"],
            "content_type": plan_actions.media_type_of(REPORT_FILE),
            "download_size": report.size,
            "sha256": report.sha256,
        }
    )


async def _report(call: Call, args: inputs.ReportArgs) -> BaseModel:
    if args.format == "markdown":  # the REST twin's GET /plans/{id}/report.md, made from the same data
        text = (await plan_export.report_markdown(call.state, args.plan_id)).text
    else:
        stored = await plan_actions.read_report(call.state, args.plan_id)
        text = report_as(stored.content.decode("utf-8", errors="replace"), args.format)
    return outputs.PlanReportOut(
        plan_id=args.plan_id,
        report_url=f"{call.base_url}/plans/{args.plan_id}/report",
        format=args.format,
        **_page(text, args.offset, args.max_chars),
    )


_STATUS_FIELDS = (
    "The answer has status (queued, running, completed, failed, cancelled, or refused: the safety "
    "gate declined the request and no plan was made), progress (done, total, "
    "percent, running_tasks), eta (remaining_s with a range, while it runs), attempt, llm_usage (calls and tokens, by model), links (absolute URLs), "
    "next_step (what to do now) and, for a failed, cancelled or refused plan, diagnosis (failed_task, "
    "reason, recoverable: whether plan_resume is likely to fix it, remedy)."
)

TOOLS: list[Tool] = [
    Tool(
        "prompt_examples",
        "Example prompts",
        "Call this first. Returns example prompts showing what PlanExe needs to make a good plan: one "
        "paragraph of prose with the goal, place, people, budget, timeline, constraints and what "
        "success means. Use them to turn the user's idea into a prompt, show it to the user, then call "
        "plan_create.",
        inputs.NoArgs,
        outputs.PromptExamplesOut,
        _prompt_examples,
        _hints(read_only=True),
    ),
    Tool(
        "plan_create",
        "Create a plan",
        "Start making a project plan from a prompt (a paragraph describing the project; see "
        "prompt_examples). Returns at once with the plan's id and status queued; the plan itself "
        "takes minutes (tens of LLM calls), so follow it with plan_wait or plan_status, then read it "
        "with plan_report. detail=fast makes a shorter plan sooner. Send an idempotency_key to make "
        "retries safe: the same key returns the same plan. Without a key, an identical request "
        "(same prompt, detail and llm_model) made in the last few minutes that has not failed "
        "returns that plan too (created=false); send a new key to start a second identical plan on "
        "purpose. Errors: invalid_request (e.g. an empty prompt), unknown_model, queue_full (retry "
        "later), idempotency_key_reused.",
        inputs.CreateArgs,
        outputs.PlanCreateOut,
        _create,
        _hints(read_only=False, idempotent=False),
    ),
    Tool(
        "plan_status",
        "Plan status",
        f"The current state of a plan, without waiting. {_STATUS_FIELDS} Prefer plan_wait to polling "
        "in a loop. Error: plan_not_found.",
        inputs.PlanArgs,
        outputs.PlanStatusOut,
        _status,
        _hints(read_only=True),
    ),
    Tool(
        "plan_wait",
        "Wait for a plan",
        "Block until the plan completes, fails or is stopped (until=finished, the default), or until "
        "one more task is done (until=progress), for at most timeout_s seconds; then return its "
        "status either way (outcome says which: finished, progress or timeout). While waiting it "
        "sends MCP progress notifications (tasks done of total) if the client asked for them, but the "
        "returned status is what to rely on: on timeout just call plan_wait again. "
        f"{_STATUS_FIELDS} Error: plan_not_found.",
        inputs.WaitArgs,
        outputs.PlanWaitOut,
        _wait,
        _hints(read_only=True),
    ),
    Tool(
        "plan_list",
        "List plans",
        "Plans newest first, a page at a time: id, status, the start of the prompt, progress, error "
        "and a status URL. Filter by status; pass next_cursor as cursor for older plans. Use it to "
        "find a plan whose id you lost. Error: invalid_cursor.",
        inputs.ListArgs,
        outputs.PlanListOut,
        _list,
        _hints(read_only=True),
    ),
    Tool(
        "plan_stop",
        "Stop a plan",
        "Stop a plan: a queued one is cancelled at once; a running one is stopped by its runner within "
        "seconds (status stays running with cancel_requested until then; plan_wait for cancelled). "
        "Finished tasks are kept, so plan_resume can continue later. Stopping a finished plan changes "
        "nothing (stop_requested=false). Error: plan_not_found.",
        inputs.PlanArgs,
        outputs.PlanStopOut,
        _stop,
        _hints(read_only=False, destructive=True),
    ),
    Tool(
        "plan_resume",
        "Resume a plan",
        "Continue a failed or cancelled plan with the same id: its finished tasks are reused and only "
        "what is missing runs again. Use it when diagnosis.recoverable is true (a provider error, a "
        "stop, a restart). Returns the plan, queued again; follow it with plan_wait. Errors: "
        "plan_not_found, not_resumable (the plan is running, completed or refused).",
        inputs.PlanArgs,
        outputs.PlanStatusOut,
        _resume,
        _hints(read_only=False),
    ),
    Tool(
        "plan_retry",
        "Retry a plan from scratch",
        "Start a new plan with the prompt and detail of a failed or cancelled one, reusing nothing "
        "(unlike plan_resume), optionally trying another llm_model first. The old plan stays as it "
        "was; the answer is the new plan (retry_of names the old one). Use it when resuming would "
        "repeat the failure, e.g. a model that keeps producing unusable answers. Errors: "
        "plan_not_found, not_retryable (the plan is queued, running, completed or refused), unknown_model.",
        inputs.RetryArgs,
        outputs.PlanCreateOut,
        _retry,
        _hints(read_only=False, idempotent=False),
    ),
    Tool(
        "plan_rerun",
        "Regenerate part of a plan",
        "Redo some tasks of a completed, failed or cancelled plan, with optional feedback (what to "
        "change, e.g. 'make the budget fit 300k EUR'), keeping the same plan id. Name tasks as "
        "plan_status's links.dag lists them (GET /plans/{id}/dag), e.g. cost_estimates; the tasks "
        "named and everything downstream of them run again with the feedback in their prompts, every "
        "other output is reused, and the report is rebuilt. The answer is the plan, queued again, with "
        "tasks (exactly the tasks that will run), llm_calls_planned and superseded_files (the replaced "
        "outputs, kept as earlier versions: plan_files with versions=true). Follow it with plan_wait. "
        "Errors: plan_not_found, unknown_task (with valid_tasks), not_rerunnable (the plan is queued or "
        "running), invalid_request.",
        inputs.RerunArgs,
        outputs.PlanRerunOut,
        _rerun,
        _hints(read_only=False, idempotent=False),
    ),
    Tool(
        "plan_files",
        "List and read a plan's files",
        "The plan's output files so far (one JSON file per finished task, then report.html): name, "
        "task, size, sha256 and an absolute download url (send the service's bearer token when it has "
        "one). Pass name to get that file's text too, max_chars at a time (page on with offset). "
        "A rerun keeps what it replaced: versions=true lists those earlier versions too "
        "(current=false), and name with version reads one. "
        "Errors: plan_not_found, invalid_file_name, file_not_found, not_text.",
        inputs.FilesArgs,
        outputs.PlanFilesOut,
        _files,
        _hints(read_only=True),
    ),
    Tool(
        "plan_file_info",
        "Report download info",
        "Whether the plan's HTML report is ready and, when it is, its download_url, content_type, "
        "download_size and sha256; while the plan is not completed, ready=false and reason is its "
        "status. To read the report without opening HTML, use plan_report. Error: plan_not_found.",
        inputs.FileInfoArgs,
        outputs.PlanFileInfoOut,
        _file_info,
        _hints(read_only=True),
    ),
    Tool(
        "plan_report",
        "Read the report",
        "The finished plan's report as Markdown (headings, lists, tables) or plain text, for reading "
        "here instead of opening HTML, plus report_url for the HTML version. Long reports come "
        "max_chars at a time: call again with offset=next_offset until next_offset is null. "
        "A refused plan's report is the refusal and its reason. "
        "Errors: plan_not_found, report_not_ready (the plan is not completed; plan_wait first).",
        inputs.ReportArgs,
        outputs.PlanReportOut,
        _report,
        _hints(read_only=True),
    ),
]
TOOLS_BY_NAME = {t.name: t for t in TOOLS}
