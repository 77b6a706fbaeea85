"""Install PlanExe as a user would, from a wheel into a fresh venv, and use it.

    .venv/bin/python scripts/install_check.py      # what `make install-check` and .ci/run do

An editable install finds everything next to the source tree; a wheel has only
what the package declares. This builds the wheel, installs it (dependencies
from the lock file, as `make` does) into a new venv outside the checkout, and
from an empty directory runs `planexe db upgrade` and `planexe db check`, then
`planexe serve` on embedded defaults: readiness, one plan to `completed`, its
report, the dashboard and /docs. Exits 1 with the reason on the first failure.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements.lock"
# The vendored Swagger UI's folder (planexe_api/apidocs), as the installed package must serve it.
SWAGGER_UI = next((REPO / "planexe_api" / "apidocs" / "assets").glob("swagger-ui-*")).name


def step(what: str) -> None:
    print(f"install-check: {what}", flush=True)


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(
            f"install-check: {' '.join(map(str, args))} failed ({done.returncode}):\n{done.stderr[-3000:]}"
        )
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="planexe-install-") as tmp:
        root = Path(tmp)
        step("building the wheel")
        run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", root / "dist", REPO, cwd=root)
        wheel = next((root / "dist").glob("planexe-*.whl"))
        step(f"installing {wheel.name} into a fresh venv")
        run(sys.executable, "-m", "venv", root / "venv", cwd=root)
        pip = root / "venv" / "bin" / "pip"
        if LOCK.exists():
            run(pip, "install", "--quiet", "--require-hashes", "--no-deps", "-r", LOCK, cwd=root)
        # With the lock, every dependency is in already: the wheel must bring nothing else.
        run(pip, "install", "--quiet", *(["--no-deps"] if LOCK.exists() else []), wheel, cwd=root)
        planexe = root / "venv" / "bin" / "planexe"
        work = root / "work"
        work.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLANEXE_") and k != "LUIGI_WORKERS"}
        env |= {
            "PLANEXE_DATABASE_URL": f"sqlite:///{work / 'planexe.db'}",
            "PLANEXE_RUNS_DIR": str(work / "runs"),
            "PLANEXE_DATA_DIR": str(work / "data"),
            "PLANEXE_LOG_FORMAT": "json",
            "PYTHONPATH": "",
        }
        step("planexe db upgrade / check from an empty directory")
        run(planexe, "db", "upgrade", cwd=work, env=env)
        run(planexe, "db", "check", cwd=work, env=env)
        where = run(
            root / "venv" / "bin" / "python",
            "-c",
            "import planexe_api; print(planexe_api.__file__)",
            cwd=work,
        )
        if str(REPO) in where:
            sys.exit(f"install-check: the installed package resolves to the source tree ({where.strip()})")
        port = free_port()
        step(f"planexe serve on port {port}")
        log = (work / "serve.log").open("w")
        server = subprocess.Popen(
            [planexe, "serve", "--port", str(port)], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            return _use(f"http://127.0.0.1:{port}", server)
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
            if server.returncode not in (0, -15):
                print((work / "serve.log").read_text()[-3000:], file=sys.stderr)


def _use(base: str, server: subprocess.Popen[bytes]) -> int:
    with httpx.Client(base_url=base, timeout=30) as http:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                sys.exit(f"install-check: planexe serve exited with {server.returncode}")
            try:
                if http.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                sys.exit("install-check: the service never became ready")
            time.sleep(0.2)
        plan = http.post(
            "/plans", json={"prompt": "Open a small bakery in Copenhagen", "detail": "fast"}
        ).json()
        deadline = time.monotonic() + 300
        while (status := http.get(f"/plans/{plan['id']}").json())["status"] not in ("completed", "failed"):
            if time.monotonic() > deadline:
                sys.exit(f"install-check: the plan did not finish: {json.dumps(status)[:500]}")
            time.sleep(0.5)
        if status["status"] != "completed":
            sys.exit(f"install-check: the plan failed: {status.get('error')}")
        checks = (
            (f"/plans/{plan['id']}/report", "<html"),
            ("/", "<html"),
            ("/docs", "swagger"),
            # Swagger UI's files are package data: /docs works offline only if the wheel has them.
            (f"/docs/assets/{SWAGGER_UI}/swagger-ui-bundle.js", "swaggeruibundle"),
            ("/docs/assets/docs-init.js", "swaggeruibundle"),
        )
        for path, needle in checks:
            answer = http.get(path)
            if answer.status_code != 200 or needle not in answer.text.lower():
                sys.exit(f"install-check: GET {path} answered {answer.status_code}")
    step("ok: wheel installed, database upgraded, a plan completed, report, dashboard and /docs served")
    return 0


if __name__ == "__main__":
    sys.exit(main())
