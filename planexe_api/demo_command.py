"""``planexe demo``: the service on the embedded defaults, plus one demo plan followed live.

What ``make run`` runs. The server is a real ``planexe serve`` child process
(the same thing a deployment runs); this command submits a plan over HTTP,
prints its progress from the event stream, then leaves the server running
until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import httpx

from planexe.cli import CONFIG_ERROR_EXIT
from planexe.pipeline.rundir import REPORT_FILE
from planexe.settings import get_settings
from planexe_api import startup

HELP = "start the service and follow a demo plan (what `make run` does)"  # the line `planexe --help` shows

DEMO_PROMPT = "Open a small bakery in Copenhagen"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--prompt", default=DEMO_PROMPT, help="the demo plan's prompt")
    parser.add_argument("--detail", choices=["full", "fast"], default="full")
    parser.add_argument("--exit", action="store_true", help="stop the server once the demo plan ends")


class _ServerExited(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _wait_ready(client: httpx.Client, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise _ServerExited(server.returncode)
        try:
            if client.get("/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become ready within 60 s")


def _follow(client: httpx.Client, plan_id: str) -> str:
    """Print task completions from the SSE stream; return the final status."""
    status = "unknown"
    done = 0
    with client.stream("GET", f"/plans/{plan_id}/events", timeout=None) as response:
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                if kind == "run_started":
                    print(
                        f"  pipeline started: {data.get('total')} tasks, {data.get('workers')} Luigi workers",
                        flush=True,
                    )
                elif kind == "task_succeeded":
                    done += 1
                    print(f"  [{done:>2}] {data.get('task')}", flush=True)
                elif kind in ("task_failed", "task_timed_out"):
                    print(f"  FAILED {data.get('task')}: {data.get('error')}", flush=True)
                elif kind == "end":
                    status = str(data.get("status"))
    return status


def run(args: argparse.Namespace) -> int:
    # Settings that cannot be used stop the demo here, in one line (planexe/cli.py), not in the server.
    settings = get_settings()
    # Bound here and handed to the server: on a busy port the demo stops now, in one line, rather
    # than wait for "its" server on a port another server answers.
    sock = startup.listen(args.host, args.port)
    port = sock.getsockname()[1]
    base = f"http://{startup.url_host(args.host)}:{port}"
    env = os.environ.copy()
    # Keep the demo's own progress readable: the server logs only warnings here unless asked otherwise.
    env.setdefault("PLANEXE_LOG_LEVEL", "warning")
    command = ["serve", "--host", args.host, "--port", str(port), "--listen-fd", str(sock.fileno())]
    with sock:
        server = subprocess.Popen(
            [sys.executable, "-m", "planexe.cli", *command], env=env, pass_fds=[sock.fileno()]
        )
    client = httpx.Client(base_url=base, timeout=30)
    try:
        _wait_ready(client, server)
        token = os.environ.get("PLANEXE_API_TOKEN")
        if token:
            client.headers["Authorization"] = f"Bearer {token}"
        plan = client.post("/plans", json={"prompt": args.prompt, "detail": args.detail})
        if plan.status_code != 202:
            print(f"could not submit the demo plan: {plan.status_code} {plan.text}", file=sys.stderr)
            return 1
        plan_id = plan.json()["id"]
        print(f"\nPlanExe is running. Open the dashboard: {base}/")
        print(f"  (API docs: {base}/docs)")
        print(f"Demo plan {plan_id}: {args.prompt!r}")
        print(f"  watch it:  {base}/plans/{plan_id}/view")
        print(f"  status:  curl {base}/plans/{plan_id}")
        print(f"  events:  curl -N {base}/plans/{plan_id}/events\n", flush=True)
        status = _follow(client, plan_id)
        final = client.get(f"/plans/{plan_id}").json()
        if status == "completed":
            print(f"\nDemo plan completed. Report: {base}/plans/{plan_id}/report")
            # The server runs the plan here, with the same settings and working directory.
            on_disk = (settings.runs_dir / plan_id / REPORT_FILE).resolve()
            if on_disk.is_file():
                print(f"  on disk: {on_disk}")
            if final["llm_usage"]["by_model"] and final["llm_usage"]["by_model"][0]["model"] == "offline":
                print(
                    "It was made offline by the template generator; see docs/llm-providers.md to use a real LLM."
                )
        else:
            error = final.get("error") or {}
            print(f"\nDemo plan ended {status}: {error.get('message')}", file=sys.stderr)
        if args.exit:
            return 0 if status == "completed" else 1
        print("\nThe server keeps running; submit more plans (see README.md). Ctrl-C stops it.", flush=True)
        server.wait()
        return server.returncode or 0
    except _ServerExited as exc:
        if exc.code != CONFIG_ERROR_EXIT:  # with 3 it has said why in one line (planexe/cli.py)
            print(f"the server exited with code {exc.code}; see the lines above", file=sys.stderr)
        return exc.code or 1
    except KeyboardInterrupt:
        return 0
    finally:
        client.close()
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
