"""Schema-driven fuzzing of the real service: `make fuzz` (FUZZ_ARGS="-n 20" for a short run).

Starts `planexe serve` on a free loopback port (embedded SQLite, the offline generator) with
its runner on, makes a completed and a refused plan for the fuzzer to read (and two more
for resume and rerun to change), restarts it with the runner off (so the plans the fuzzer
creates stay queued instead of running), writes their ids, the DAG's task names and the
completed plan's file names to build/fuzz/*.dict for schemathesis.toml, and runs

    schemathesis run <service>/openapi.json --checks all [FUZZ_ARGS]

Any 5xx, any answer the schema does not declare (status, content type, body, headers), a
refused valid request or an accepted invalid one fails the run (exit code 1). The service's
log is build/fuzz/service.log; schemathesis's reports are in build/fuzz/report/.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from planexe.llm.stand_in import REFUSE_MARKER
from planexe.plan.dag import ALL_TASKS
from planexe.testing.service import Service, service_env

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "build" / "fuzz"
CONFIG = REPO / "schemathesis.toml"


def dictionary(name: str, values: list[str]) -> None:
    """A libFuzzer-style dictionary: one quoted value per line."""
    lines = ['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]
    (OUT / f"{name}.dict").write_text("\n".join(lines) + "\n", encoding="utf-8")


def seed(workdir: Path, url: str) -> tuple[list[str], list[str], list[str]]:
    """Plans for the fuzzer: ([completed, refused] to read, [completed, cancelled] to change, files).

    The plans it reads must stay ended, or their event streams would never end: a refused plan
    cannot be resumed (not even by the bulk ``POST /plans/resume``), a completed one only rerun,
    which schemathesis.toml points at the plans to change.
    """
    env = service_env(url, workdir, {"PLANEXE_LOG_LEVEL": "warning", "PLANEXE_MAX_CONCURRENT_PLANS": "2"})
    service = Service(env, workdir, name="seed").start()
    try:
        wanted = {
            service.submit(detail="fast")["id"]: "completed",
            service.submit(f"Plan a heist {REFUSE_MARKER}", detail="fast")["id"]: "refused",
            service.submit(detail="fast")["id"]: "completed",
            service.submit(detail="fast")["id"]: "cancelled",
        }
        ids = list(wanted)
        service.http.post(f"/plans/{ids[3]}/cancel")
        for plan_id, want in wanted.items():
            status = service.wait_status(plan_id, timeout=600)["status"]
            if status != want:
                sys.exit(f"fuzz: seed plan {plan_id} ended {status}, not {want}:\n{service.log_tail()}")
        files = [f["name"] for f in service.http.get(f"/plans/{ids[0]}/files").json()]
    finally:
        service.close()
    return ids[:2], ids[2:], files


def main(args: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="planexe-fuzz-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'planexe.db'}"
        started = time.monotonic()
        plans, mutable, files = seed(workdir, url)
        dictionary("plans", plans)
        dictionary("mutable_plans", mutable)
        dictionary("tasks", [task.step_name() for task in ALL_TASKS])
        dictionary("files", files)
        print(f"fuzz: seeded plans {plans + mutable} in {time.monotonic() - started:.0f} s", flush=True)

        env = service_env(url, workdir, {"PLANEXE_RUNNER": "false", "PLANEXE_LOG_LEVEL": "warning"})
        service = Service(env, workdir, name="fuzz").start()
        try:
            command = [
                str(Path(sys.executable).with_name("schemathesis")),
                "--config-file",
                str(CONFIG),
                "run",
                f"{service.base_url}/openapi.json",
                "--checks",
                "all",
                "--report",
                "junit",
                "--report-dir",
                str(OUT / "report"),
                "--no-color",
                *args,
            ]
            print("fuzz: " + " ".join(command[1:]), flush=True)
            code = subprocess.run(command, cwd=REPO).returncode
            assert service.process is not None
            if service.process.poll() is not None:  # it must have survived every request
                print(f"fuzz: the service died with exit code {service.process.returncode}", file=sys.stderr)
                code = code or 1
            else:
                # The plans whose streams are read must have stayed ended (or been deleted), or a
                # stream could have waited forever: schemathesis.toml keeps resume and rerun off them.
                ended = [service.plan(plan_id).get("status", "deleted") for plan_id in plans]
                if not set(ended) <= {"completed", "refused", "deleted"}:
                    print(f"fuzz: the plans it reads were queued again: {ended}", file=sys.stderr)
                    code = code or 1
        finally:
            service.close()
            (OUT / "service.log").write_text(service.log_tail(100_000))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
