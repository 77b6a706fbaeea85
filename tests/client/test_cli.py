"""`planexe plans ...` run as a real subprocess against a real `planexe serve` over loopback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from planexe.testing.llm_server import LLMServer, llm_server
from planexe.testing.service import Service, service_env

TOKEN = "cli-test-token"


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with llm_server(seed=11) as server:
        yield server


def cli_env(token: str | None = TOKEN) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANEXE_")}
    if token is not None:
        env["PLANEXE_API_TOKEN"] = token
    return env


def planexe(
    svc: Service | str, *args: str, cwd: Path | None = None, token: str | None = TOKEN, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    url = svc if isinstance(svc, str) else svc.base_url
    return subprocess.run(
        [sys.executable, "-m", "planexe.cli", "plans", *args, "--url", url],
        capture_output=True,
        text=True,
        env=cli_env(token),
        cwd=cwd,
        timeout=timeout,
    )


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Callable[..., Service]:
    started: list[Service] = []

    def start(name: str = "svc", **extra: str) -> Service:
        svc = Service(
            service_env(db_url, tmp_path, {"PLANEXE_API_TOKEN": TOKEN, **extra}), tmp_path, name=name
        )
        svc.http.headers["Authorization"] = f"Bearer {TOKEN}"
        started.append(svc.start())
        return svc

    yield start
    for svc in started:
        svc.close()


def test_a_plan_from_create_to_delete(service, tmp_path: Path) -> None:
    svc = service()
    created = planexe(
        svc, "create", "Open a small bakery in Copenhagen", "--detail", "fast", "--priority", "3"
    )
    assert created.returncode == 0, created.stderr
    status, plan_id = created.stdout.split()
    assert status == "queued" and len(plan_id) == 32

    watched = planexe(svc, "watch", plan_id)
    assert watched.returncode == 0, watched.stderr
    assert re.search(r"^\[(\d+)/\1\] report \(", watched.stdout, flags=re.M), watched.stdout
    assert "end: completed" in watched.stdout
    assert "status    completed" in watched.stdout

    listed = json.loads(planexe(svc, "list", "--json").stdout)
    assert [(p["id"], p["priority"]) for p in listed["items"]] == [(plan_id, 3)]
    assert plan_id in planexe(svc, "list", "--status", "completed").stdout
    shown = planexe(svc, "show", plan_id)
    assert shown.returncode == 0 and "status    completed" in shown.stdout and "priority 3" in shown.stdout

    # Downloads: the archive under its own name, the Markdown report to a path, a file to stdout.
    saved = planexe(svc, "download", plan_id, cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    archive = tmp_path / f"planexe-{plan_id}.zip"
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None and f"{plan_id}/outputs/report.html" in zf.namelist()
    markdown = tmp_path / "plan.md"
    assert planexe(svc, "download", plan_id, "report.md", "-o", str(markdown)).returncode == 0
    assert markdown.read_text() == svc.http.get(f"/plans/{plan_id}/report.md").text
    swot = planexe(svc, "download", plan_id, "swot.json", "-o", "-")
    assert json.loads(swot.stdout) == svc.http.get(f"/plans/{plan_id}/files/swot.json").json()
    missing = planexe(svc, "download", plan_id, "nothing.json", "-o", str(tmp_path / "nothing.json"))
    assert missing.returncode == 1 and not (tmp_path / "nothing.json").exists()
    assert missing.stderr.strip().endswith("(file_not_found)") and len(missing.stderr.splitlines()) == 1

    # Regenerate a section, then follow the rerun to its end.
    rerun = planexe(svc, "rerun", plan_id, "cost_estimates", "--feedback", "Make the budget fit 300k EUR.")
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.startswith(f"rerun 1 of {plan_id} queued") and " report" in rerun.stdout
    assert planexe(svc, "watch", plan_id).returncode == 0
    # The archive now holds the outputs the rerun replaced too, as their earlier versions.
    again = tmp_path / "again.zip"
    assert planexe(svc, "download", plan_id, "-o", str(again)).returncode == 0
    with zipfile.ZipFile(again) as zf:
        earlier = zf.read(f"{plan_id}/versions/1/cost_estimates.json")
        current = zf.read(f"{plan_id}/outputs/cost_estimates.json")
    assert (
        earlier == svc.http.get(f"/plans/{plan_id}/files/cost_estimates.json", params={"version": 1}).content
    )
    assert current == svc.http.get(f"/plans/{plan_id}/files/cost_estimates.json").content != earlier
    unknown = planexe(svc, "rerun", plan_id, "no_such_task")
    assert unknown.returncode == 1 and "(unknown_task)" in unknown.stderr

    deleted = planexe(svc, "delete", plan_id)
    assert (deleted.returncode, deleted.stdout.strip()) == (0, f"deleted {plan_id}")
    for args in (("show", plan_id), ("delete", plan_id), ("watch", plan_id)):
        gone = planexe(svc, *args)
        assert gone.returncode == 1, args
        assert gone.stderr == f"error: no plan with id '{plan_id}' (plan_not_found)\n", args


def test_errors_are_one_line_with_the_apis_message(service) -> None:
    svc = service()
    refused = planexe(svc, "list", token="wrong")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == "error: send 'Authorization: Bearer <PLANEXE_API_TOKEN>' (unauthorized)\n"
    invalid = planexe(svc, "create", "Open a bakery", "--priority", "11")
    assert invalid.returncode == 1 and invalid.stderr.startswith("error: priority:")
    assert invalid.stderr.endswith("(invalid_request)\n") and len(invalid.stderr.splitlines()) == 1
    unreachable = planexe(f"http://127.0.0.1:{_closed_port()}", "list")
    assert unreachable.returncode == 1 and "cannot reach PlanExe at" in unreachable.stderr
    assert len(unreachable.stderr.splitlines()) == 1
    usage = planexe(svc, "resume")
    assert usage.returncode == 2 and "give a plan id, or --failed or --cancelled" in usage.stderr


def _closed_port() -> int:
    from planexe.testing.service import free_port

    return free_port()


def test_bulk_resume_from_the_command_line(service) -> None:
    svc = service(PLANEXE_RUNNER="false")  # nothing runs: plans stay where the commands put them
    ids = [planexe(svc, "create", f"Plan {n}", "--detail", "fast").stdout.split()[1] for n in range(3)]
    for plan_id in ids[:2]:
        cancelled = planexe(svc, "cancel", plan_id)
        assert cancelled.stdout.strip() == f"cancelled {plan_id}"
    bad = planexe(svc, "resume", "--failed", "--since", "yesterday")
    assert (
        bad.returncode == 1 and bad.stderr.startswith("error: since:") and "(invalid_request)" in bad.stderr
    )
    resumed = planexe(svc, "resume", "--cancelled", "--limit", "5")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines() == [
        f"resumed {ids[0]}",
        f"resumed {ids[1]}",
        "2 resumed, 0 skipped of 2 matching",
    ]
    assert {svc.plan(i)["status"] for i in ids} == {"queued"}
    single = planexe(svc, "resume", ids[2], "--json")
    assert single.returncode == 0 and json.loads(single.stdout)["status"] == "queued"


def test_watch_reconnects_with_last_event_id_across_a_service_restart(
    service, llm: LLMServer, tmp_path: Path
) -> None:
    llm.configure(latency="fixed:1.0")  # a plan of many seconds: the restart lands in the middle
    llm_env = {
        "PLANEXE_LLM_BASE_URL": llm.base_url,
        "PLANEXE_LLM_MODEL": "test-model",
        "PLANEXE_LLM_TIMEOUT_S": "5",
    }
    try:
        first = service("first", **llm_env)
        plan_id = first.submit()["id"]
        watch = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "planexe.cli",
                "plans",
                "watch",
                plan_id,
                "--json",
                "--url",
                first.base_url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        received: list[dict] = []
        some = threading.Event()

        def read() -> None:
            assert watch.stdout is not None
            for line in watch.stdout:
                received.append(json.loads(line))
                if sum(e["event"] == "task_succeeded" for e in received) >= 3:
                    some.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert some.wait(120), received
        # The service dies (its pipeline with it): the stream breaks mid-plan. (A graceful stop
        # would wait for the open stream, and the plan would finish first.)
        first.kill9()
        second = Service(first.env, tmp_path, name="second")
        second.port, second.base_url = first.port, first.base_url  # the URL the watcher knows
        second.http = httpx.Client(
            base_url=second.base_url, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        second.start()
        try:
            code = watch.wait(timeout=240)
            reader.join(timeout=10)
        finally:
            second.close()
            assert watch.stdout is not None and watch.stderr is not None
            stderr = watch.stderr.read()
            watch.stdout.close()
            watch.stderr.close()
    finally:
        llm.configure(latency="fixed:0")
    assert code == 0, stderr
    assert "reconnecting after event" in stderr
    events = [e for e in received if e["event"] != "end"]
    # Each event once, in order, none missing: the reconnect asked for what came after the last one.
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert received[-1]["event"] == "end" and received[-1]["data"]["status"] == "completed"
    kinds = [e["event"] for e in events]
    assert "plan_recovered" in kinds and kinds.count("run_started") == 2
