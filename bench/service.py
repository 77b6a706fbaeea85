"""The service under load: ``planexe serve`` (uvicorn, loopback, SQLite) and its runner.

    .venv/bin/python bench/service.py            # full plans, ~3 min on 2 cores
    .venv/bin/python bench/service.py --quick    # fast plans, about a minute

1. POST /plans latency (p50, p99) with PLANEXE_RUNNER=false: the API alone.
2. GET /plans/{id} requests per second with no plan running and with 2 plans
   running (runner on, plans against ``planexe llm-server`` at a fixed latency).
3. SSE: events per second delivered live while a plan runs (bounded by how
   fast the plan makes them), the live lag (delivery time - the event's own
   ``ts``), and the replay rate of a finished plan's stream (the server's limit).
4. POST -> first task started, split into POST -> claimed -> child's
   ``run_started`` -> first ``task_started``.
5. POST -> completed through the service vs the same plan run directly with
   ``python -m planexe.plan`` (the service overhead ratio), with the offline
   provider at zero latency (pure overhead) and against the LLM server.

Service timings are the production defaults (poll 0.5 s, heartbeat 5 s).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from _common import PROMPT, Stopwatch, finish, header, median, percentile, table
from _http import load, start_service
from _runs import llm_env, read_events, run_plan
from scale import create_db, drop_db, pg_url

from planexe.testing.llm_server import LLMServer, llm_server
from planexe.testing.service import Service

POLL_DONE_S = 0.02  # how often the client looks for "completed"


def sqlite_url(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'planexe.db'}"


_POSTGRES_DBS: list[str] = []  # created by --postgres, dropped at the end


def db_url(workdir: Path, postgres: bool) -> str:
    """SQLite in ``workdir``, or with --postgres a fresh database on 127.0.0.1:5432."""
    if not postgres:
        return sqlite_url(workdir)
    name = f"planexe_bench_service_{workdir.name}_{os.getpid()}"
    create_db(name)
    _POSTGRES_DBS.append(name)
    return pg_url(name)


def post_latency(workdir: Path, requests: int, postgres: bool) -> dict[str, Any]:
    api = start_service(
        workdir, db_url(workdir, postgres), {"PLANEXE_RUNNER": "false", "PLANEXE_MAX_QUEUED_PLANS": "100000"}
    )
    try:
        for _ in range(10):  # warm-up: connections, first-use imports, SQLite pages
            api.submit(PROMPT, "fast")
        latencies = []
        for i in range(requests):
            t = time.perf_counter()
            response = api.http.post("/plans", json={"prompt": f"{PROMPT} #{i}", "detail": "fast"})
            latencies.append(time.perf_counter() - t)
            if response.status_code != 202:
                raise RuntimeError(f"POST /plans answered {response.status_code}: {response.text}")
        plan_id = api.submit(PROMPT, "fast")["id"]
        assert api.process is not None
        load(f"{api.base_url}/plans/{plan_id}", 1)  # warm-up
        idle_get = load(f"{api.base_url}/plans/{plan_id}", 3, server_pid=api.process.pid)
    finally:
        api.close()
    return {
        "requests": requests,
        "p50_ms": 1000 * percentile(latencies, 50),
        "p99_ms": 1000 * percentile(latencies, 99),
        "mean_ms": 1000 * sum(latencies) / len(latencies),
        "max_ms": 1000 * max(latencies),
        "get_plan_no_plans_running": idle_get,
    }


class SseReader(threading.Thread):
    """Reads one plan's event stream to its end, noting when each event arrived."""

    def __init__(self, base_url: str, plan_id: str, after: int = 0) -> None:
        super().__init__(daemon=True)
        self.url = f"{base_url}/plans/{plan_id}/events?after={after}"
        self.arrivals: list[tuple[float, str, dict[str, Any]]] = []
        self.opened = self.closed = 0.0

    def run(self) -> None:
        kind, data = "", {}
        with httpx.Client(timeout=600) as http, http.stream("GET", self.url) as response:
            self.opened = time.time()
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                elif not line and kind:
                    self.arrivals.append((time.time(), kind, data))
                    kind, data = "", {}
        self.closed = time.time()

    def figures(self) -> dict[str, Any]:
        events = [a for a in self.arrivals if a[1] != "end"]
        lags = [t - d["ts"] for t, _, d in events if isinstance(d.get("ts"), int | float)]
        span = (events[-1][0] - events[0][0]) if len(events) > 1 else float("nan")
        return {
            "events": len(events),
            "seconds": span,
            "events_per_s": len(events) / span if span else float("nan"),
            "lag_p50_ms": 1000 * percentile(lags, 50),
            "lag_p99_ms": 1000 * percentile(lags, 99),
        }


def _ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def wait_completed(svc: Service, plan_id: str, timeout: float = 900) -> tuple[float, dict[str, Any]]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        plan = svc.plan(plan_id)
        if plan["status"] in ("completed", "failed", "cancelled"):
            if plan["status"] != "completed":
                raise RuntimeError(
                    f"plan {plan_id} ended {plan['status']}: {plan.get('error')}\n{svc.log_tail()}"
                )
            return time.time(), plan
        time.sleep(POLL_DONE_S)
    raise RuntimeError(f"plan {plan_id} did not finish in {timeout} s")


def first_task_breakdown(svc: Service, posted: float, plan: dict[str, Any]) -> dict[str, float]:
    events = read_events(svc.workdir / "runs" / plan["id"])
    run_started = next(e["ts"] for e in events if e["kind"] == "run_started")
    first_task = next(e["ts"] for e in events if e["kind"] == "task_started")
    claimed = _ts(plan["started_at"]) or posted
    return {
        "post_to_first_task_s": first_task - posted,
        "post_to_claimed_s": claimed - posted,
        "claimed_to_run_started_s": run_started - claimed,
        "run_started_to_first_task_s": first_task - run_started,
    }


def through_service(svc: Service, detail: str) -> dict[str, Any]:
    posted = time.time()
    plan = svc.submit(PROMPT, detail)
    done, plan = wait_completed(svc, plan["id"])
    events = read_events(svc.workdir / "runs" / plan["id"])
    run_finished = next(e["ts"] for e in events if e["kind"] == "run_finished")
    run_started = next(e["ts"] for e in events if e["kind"] == "run_started")
    return {
        "post_to_completed_s": done - posted,
        "server_created_to_finished_s": (_ts(plan["finished_at"]) or done)
        - (_ts(plan["created_at"]) or posted),
        "child_dag_s": run_finished - run_started,
        "run_finished_to_completed_s": done - run_finished,
        **first_task_breakdown(svc, posted, plan),
    }


def overhead_ratio(
    svc: Service, root: Path, detail: str, env: dict[str, str], repeat: int, label: str
) -> dict[str, Any]:
    cli, service = [], []
    for _ in range(repeat):  # interleaved, so load bursts hit both alike
        cli.append(run_plan(root / "cli", detail=detail, workers=10, env=env).wall_s)
        service.append(through_service(svc, detail))
    s = {k: median([r[k] for r in service]) for k in service[0]}
    ratio = s["post_to_completed_s"] / median(cli)
    print(
        f"   {label}: CLI {median(cli):.2f} s, service POST->completed {s['post_to_completed_s']:.2f} s"
        f" (ratio {ratio:.3f}); POST->first task {s['post_to_first_task_s']:.2f} s"
    )
    return {
        "cli_wall_s": median(cli),
        "cli_runs_s": cli,
        "service": s,
        "service_runs": service,
        "ratio": ratio,
    }


def running_load(
    svc: Service, server: LLMServer, detail: str, seconds: float, latency: float
) -> dict[str, Any]:
    """GET /plans/{id} throughput while two plans run, and one plan's live SSE stream.

    The LLM server is slowed for this phase so that both plans are still running
    when the load ends (a plan is ~13 rounds of calls): a load that outlasts the
    plans would measure an idle service.
    """
    load_latency = max(latency, 2.5 * seconds / 13)
    server.configure(latency=f"fixed:{load_latency}")
    posted = time.time()
    plans = [svc.submit(f"{PROMPT} ({i})", detail) for i in range(2)]
    reader = SseReader(svc.base_url, plans[0]["id"])
    reader.start()
    deadline = time.time() + 120
    while time.time() < deadline:
        states = [svc.plan(p["id"]) for p in plans]
        if all(s["status"] == "running" and s["progress"]["done"] >= 1 for s in states):
            break
        time.sleep(0.05)
    else:
        raise RuntimeError(f"the two plans never both ran: {[s['status'] for s in states]}")
    assert svc.process is not None
    result = load(f"{svc.base_url}/plans/{plans[0]['id']}", seconds, server_pid=svc.process.pid)
    after = [svc.plan(p["id"])["status"] for p in plans]
    result["plans_still_running_after"] = sum(s == "running" for s in after)
    result["llm_latency_s"] = load_latency
    finished = [wait_completed(svc, p["id"])[1] for p in plans]
    server.configure(latency=f"fixed:{latency}")
    reader.join(timeout=120)
    replay = SseReader(svc.base_url, plans[0]["id"])
    replay.run()  # a finished plan: the whole log at once
    return {
        "get_plan_2_running": result,
        "sse_live": reader.figures(),
        "sse_replay": replay.figures(),
        "first_task": [first_task_breakdown(svc, posted, p) for p in finished],
    }


def get_probes(
    root: Path, probes: list[str], seconds: float, postgres: bool, rounds: int = 2
) -> dict[str, Any]:
    """GET /plans/{id} on the API alone with candidate fixes (``_service_probe.py``), interleaved."""
    import subprocess

    from _common import BENCH_DIR
    from _http import PRODUCTION_TIMINGS

    from planexe.testing.service import service_env

    runs: dict[str, list[dict[str, Any]]] = {p or "baseline": [] for p in probes}
    for r in range(rounds):
        for probe in probes:
            workdir = root / f"probe-{r}-{probe or 'baseline'}"
            workdir.mkdir(parents=True)
            env = service_env(
                db_url(workdir, postgres),
                workdir,
                {**PRODUCTION_TIMINGS, "PLANEXE_RUNNER": "false", "PLANEXE_BENCH_PROBE": probe},
            )
            svc = Service(env, workdir, name="probe")
            with svc.log_path.open("ab") as log:
                svc.process = subprocess.Popen(
                    [sys.executable, str(BENCH_DIR / "_service_probe.py"), "--port", str(svc.port)],
                    env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True,
                )  # fmt: skip
            try:
                svc.wait_ready()
                posts = []
                for i in range(60):
                    t = time.perf_counter()
                    plan_id = svc.submit(f"{PROMPT} #{i}", "fast")["id"]
                    posts.append(time.perf_counter() - t)
                url = f"{svc.base_url}/plans/{plan_id}"
                load(url, 1)  # warm-up
                result = load(url, seconds, server_pid=svc.process.pid)
                result["post_p50_ms"] = 1000 * percentile(posts[10:], 50)  # the first 10 warm up
                runs[probe or "baseline"].append(result)
            finally:
                svc.close()
    return {
        name: {
            "requests_per_s": median([r["requests_per_s"] for r in rs]),
            "server_cpu_ms_per_request": median([r["server_cpu_ms_per_request"] for r in rs]),
            "post_p50_ms": median([r["post_p50_ms"] for r in rs]),
        }
        for name, rs in runs.items()
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--quick", action="store_true", help="fast plans, fewer requests and runs (about a minute)"
    )
    p.add_argument(
        "--postgres", action="store_true", help="run the service on PostgreSQL (127.0.0.1:5432), not SQLite"
    )
    p.add_argument("--requests", type=int, default=None, help="POST /plans requests (default 300, quick 100)")
    p.add_argument("--latency", type=float, default=0.2, help="fixed LLM latency while plans run, seconds")
    p.add_argument("--seconds", type=float, default=None, help="GET load duration (default 5, quick 3)")
    p.add_argument("--repeat", type=int, default=None, help="CLI-vs-service runs (default 3, quick 1)")
    p.add_argument(
        "--probes",
        nargs="*",
        default=None,
        help="API with candidate fixes from _service_probe.py (default: '' thread syncnormal;"
        " none with --quick)",
    )
    args = p.parse_args(argv)
    detail = "fast" if args.quick else "full"
    requests = args.requests or (100 if args.quick else 300)
    seconds = args.seconds or (3 if args.quick else 5)
    repeat = args.repeat or (1 if args.quick else 3)
    probes = args.probes if args.probes is not None else ([] if args.quick else ["", "thread", "syncnormal"])
    info = header(
        "service",
        database="postgresql 127.0.0.1:5432" if args.postgres else "sqlite",
        detail=detail,
        requests=requests,
        latency=args.latency,
        get_seconds=seconds,
        repeat=repeat,
    )
    clock = Stopwatch()
    results: dict[str, Any] = {"machine": info, "options": vars(args) | {"detail": detail}}
    with tempfile.TemporaryDirectory(prefix="planexe-bench-service-") as tmp:
        root = Path(tmp)
        print("-- API alone (PLANEXE_RUNNER=false)")
        results["post"] = post = post_latency(root / "api", requests, args.postgres)
        print(
            f"   POST /plans: p50 {post['p50_ms']:.1f} ms, p99 {post['p99_ms']:.1f} ms over {requests} requests"
        )
        idle = post["get_plan_no_plans_running"]
        print(
            f"   GET /plans/{{id}}, no plan running: {idle['requests_per_s']:.0f} req/s ({idle['tool']}),"
            f" server CPU {idle['server_cpu_ms_per_request']:.2f} ms/request"
        )

        print(f"-- runner on, plans against the LLM server at fixed {args.latency:g} s")
        with llm_server(latency=f"fixed:{args.latency}", seed=7) as server:
            env = llm_env(server.base_url) | {"PLANEXE_LOG_LEVEL": "info"}
            svc = start_service(root / "svc", db_url(root / "svc", args.postgres), env)
            try:
                results["running"] = running = running_load(svc, server, detail, seconds, args.latency)
                g = running["get_plan_2_running"]
                print(
                    f"   GET /plans/{{id}}, 2 plans running: {g['requests_per_s']:.0f} req/s, p50 {g['latency_p50_ms']:.1f} ms,"
                    f" p99 {g['latency_p99_ms']:.1f} ms, server CPU {g['server_cpu_ms_per_request']:.2f} ms/request"
                    f" (LLM at {g['llm_latency_s']:.2f} s; {g['plans_still_running_after']} of 2 plans still running at the end)"
                )
                live, replay = running["sse_live"], running["sse_replay"]
                print(
                    f"   SSE live: {live['events_per_s']:.1f} events/s ({live['events']} events), lag p50"
                    f" {live['lag_p50_ms']:.0f} ms p99 {live['lag_p99_ms']:.0f} ms; replay {replay['events_per_s']:.0f} events/s"
                )
                results["latency_ratio"] = overhead_ratio(
                    svc, root, detail, env, max(1, repeat - 1), f"LLM server {args.latency:g} s"
                )
            finally:
                svc.close()

        if probes:
            print("-- the API alone with candidate fixes (_service_probe.py; median of 2 interleaved runs)")
            results["get_probes"] = gp = get_probes(root, probes, seconds, args.postgres)
            for name, g in gp.items():
                print(
                    f"   {name:24s} GET {g['requests_per_s']:6.0f} req/s, server CPU {g['server_cpu_ms_per_request']:.2f}"
                    f" ms/request; POST p50 {g['post_p50_ms']:.1f} ms"
                )

        print("-- runner on, offline provider, zero latency")
        off_env = llm_env(None) | {"PLANEXE_LOG_LEVEL": "info"}
        svc = start_service(root / "off", db_url(root / "off", args.postgres), off_env)
        try:
            results["offline_ratio"] = overhead_ratio(
                svc, root, detail, off_env, repeat, "offline zero latency"
            )
        finally:
            svc.close()
    results["runtime_s"] = clock.elapsed()

    off, lat = results["offline_ratio"], results["latency_ratio"]
    rows = [
        ["POST /plans p50 / p99 (ms)", f"{post['p50_ms']:.1f} / {post['p99_ms']:.1f}"],
        ["GET /plans/{id} req/s, idle", f"{idle['requests_per_s']:.0f}"],
        [
            "GET /plans/{id} req/s, 2 plans running",
            f"{results['running']['get_plan_2_running']['requests_per_s']:.0f}",
        ],
        [
            "SSE events/s live / replay",
            f"{results['running']['sse_live']['events_per_s']:.1f} / {results['running']['sse_replay']['events_per_s']:.0f}",
        ],
        ["POST -> first task started (s), offline", f"{off['service']['post_to_first_task_s']:.2f}"],
        ["POST -> completed (s), offline", f"{off['service']['post_to_completed_s']:.2f}"],
        ["CLI plan (s), offline", f"{off['cli_wall_s']:.2f}"],
        ["service / CLI, offline zero latency", f"{off['ratio']:.3f}"],
        [f"service / CLI, LLM {args.latency:g} s", f"{lat['ratio']:.3f}"],
    ]
    print(table(rows, ["figure", "value"]))
    summary = (
        f"service: POST p50 {post['p50_ms']:.1f} ms p99 {post['p99_ms']:.1f} ms; GET {results['running']['get_plan_2_running']['requests_per_s']:.0f} req/s"
        f" with 2 running; SSE {results['running']['sse_replay']['events_per_s']:.0f} events/s replay;"
        f" POST->completed {off['service']['post_to_completed_s']:.2f} s (CLI {off['cli_wall_s']:.2f} s, x{off['ratio']:.2f});"
        f" x{lat['ratio']:.2f} at {args.latency:g} s latency; runtime {results['runtime_s']:.0f} s"
    )
    for name in _POSTGRES_DBS:
        drop_db(name)
    if args.postgres:
        summary += " [PostgreSQL]"
    finish("service-postgres" if args.postgres else "service", results, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
