"""What one GET /plans/{id} costs inside the app, and what candidate fixes would save.

    .venv/bin/python bench/profile_service.py            # ~1 min
    .venv/bin/python bench/profile_service.py --quick

The FastAPI app runs in this process (SQLite, runner off) and is called through
``httpx.ASGITransport``, one request at a time: no sockets, no uvicorn, no load
generator on the same cores, so the figure is the app's own time per request.
The minimum over rounds is reported: on a shared machine it is the least
disturbed. Variants patch the app from the outside (see ``_service_probe.py``):

* ``nomw``: without the bearer-token ``BaseHTTPMiddleware`` (installed even with no token);
* ``inline``: the read runs on the event loop instead of a worker thread;
* ``nomw,inline``: both.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _common import PROMPT, Stopwatch, finish, header, table

VARIANTS = ["", "nomw", "inline", "nomw,inline"]


async def per_request_ms(patches: set[str], workdir: Path, requests: int) -> float:
    from planexe.settings import get_settings
    from planexe_api.app import create_app
    from planexe_api.services.store import Store

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
    threaded = Store.run
    if "inline" in patches:

        async def run(self: Store, fn: Any, *, write: bool = False) -> Any:
            return await threaded(self, fn, write=True) if write else self.run_sync(fn)

        Store.run = run  # type: ignore[method-assign]
    try:
        app = create_app(get_settings())
        if "nomw" in patches:
            app.user_middleware = [m for m in app.user_middleware if "BaseHTTPMiddleware" not in repr(m.cls)]
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
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
        Store.run = threaded  # type: ignore[method-assign]


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
