"""What one GET /plans/{id} costs inside the app, and what candidate fixes would save.

    .venv/bin/python bench/profile_service.py            # ~1 min
    .venv/bin/python bench/profile_service.py --quick

The FastAPI app runs in this process (SQLite, runner off) and is called through
``httpx.ASGITransport``, one request at a time: no sockets, no uvicorn, no load
generator on the same cores, so the figure is the app's own time per request.
The minimum over rounds is reported: on a shared machine it is the least
disturbed. Variants:

* ``thread``: the read hops to a worker thread, as it does on PostgreSQL
  (on SQLite ``Store.read_small`` runs it on the event loop);
* ``token``: with ``PLANEXE_API_TOKEN`` set, so every request passes the
  bearer-token middleware (and sends the header).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import PROMPT, Stopwatch, finish, header, table

VARIANTS = ["", "thread", "token"]
TOKEN = "bench-token"


async def per_request_ms(patches: set[str], workdir: Path, requests: int) -> float:
    from planexe.settings import get_settings
    from planexe_api.app import create_app

    os.environ.pop("PLANEXE_API_TOKEN", None)
    if "token" in patches:
        os.environ["PLANEXE_API_TOKEN"] = TOKEN
    os.environ.update(
        {
            "PLANEXE_DATABASE_URL": f"sqlite:///{workdir / 'planexe.db'}",
            "PLANEXE_RUNS_DIR": str(workdir / "runs"),
            "PLANEXE_DATA_DIR": str(workdir),
            "PLANEXE_RUNNER": "false",
            "PLANEXE_LOG_LEVEL": "warning",
        }
    )
    get_settings.cache_clear()
    try:
        app = create_app(get_settings())
        async with app.router.lifespan_context(app):
            if "thread" in patches:
                app.state.planexe.store.loop_factory = None
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {TOKEN}"} if "token" in patches else {}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://localhost", headers=headers
            ) as client:
                plan_id = (await client.post("/plans", json={"prompt": PROMPT, "detail": "fast"})).json()[
                    "id"
                ]
                for _ in range(50):  # warm-up
                    await client.get(f"/plans/{plan_id}")
                started = time.perf_counter()
                for _ in range(requests):
                    response = await client.get(f"/plans/{plan_id}")
                    assert response.status_code == 200
                return 1000 * (time.perf_counter() - started) / requests
    finally:
        os.environ.pop("PLANEXE_API_TOKEN", None)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--requests", type=int, default=None, help="per round (default 1000, quick 300)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5, quick 2)")
    args = p.parse_args(argv)
    requests = args.requests or (300 if args.quick else 1000)
    rounds = args.rounds or (2 if args.quick else 5)
    info = header("profile_service", requests=requests, rounds=rounds)
    clock = Stopwatch()
    samples: dict[str, list[float]] = {v or "baseline": [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="planexe-bench-profile-service-") as tmp:
        for r in range(rounds):
            for variant in VARIANTS:
                workdir = Path(tmp) / f"{r}-{variant or 'baseline'}"
                workdir.mkdir()
                ms = asyncio.run(per_request_ms(set(filter(None, variant.split(","))), workdir, requests))
                samples[variant or "baseline"].append(ms)
    best = {k: min(v) for k, v in samples.items()}
    base = best["baseline"]
    print(table([[k, v, f"{100 * (v / base - 1):+.0f}%", f"{1000 / v:.0f}"] for k, v in best.items()],
                ["variant", "ms_per_GET", "vs_baseline", "GET/s one core"]))  # fmt: skip
    results = {"machine": info, "options": vars(args), "min_ms_per_get": best, "samples_ms": samples}
    results["runtime_s"] = clock.elapsed()
    summary = (
        f"profile_service: GET /plans/{{id}} in-app {base:.2f} ms; "
        + ", ".join(f"{k} {v:.2f} ms" for k, v in best.items() if k != "baseline")
        + f"; runtime {results['runtime_s']:.0f} s"
    )
    finish("profile_service", results, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
