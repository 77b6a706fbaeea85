from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from planexe.errors import PipelineError, RunDirLockedError
from planexe.pipeline.events import EventWriter, read_events
from planexe.pipeline.lock import RunDirLock
from planexe.pipeline.rundir import PlanSpec, atomic_write_text, clean_stale_temp_files, read_plan, write_plan

HOLD = """
import sys, time
from pathlib import Path
from planexe.pipeline.lock import RunDirLock
RunDirLock(Path(sys.argv[1]), run=int(sys.argv[2]) if len(sys.argv) > 2 else None).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def hold(run_dir: Path, *run: str) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir), *run],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # as the service starts every pipeline
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_second_process_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    holder = hold(tmp_path)
    try:
        with pytest.raises(RunDirLockedError, match=f"process {holder.pid}"):
            RunDirLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.communicate()
    # The kernel drops a flock when its holder dies, even by SIGKILL.
    with RunDirLock(tmp_path):
        pass


def test_an_older_run_holding_the_lock_is_stopped_and_the_newer_one_takes_over(tmp_path: Path) -> None:
    holder = hold(tmp_path, "3")
    try:
        lock = RunDirLock(tmp_path, run=4)
        lock.acquire(wait_s=30, grace_s=5)
        assert holder.wait(timeout=10) == -signal.SIGTERM
        assert (tmp_path / ".lock").read_text().split() == [str(os.getpid()), "4"]
        lock.release()
    finally:
        holder.kill()
        holder.communicate()


def test_a_newer_run_holding_the_lock_makes_an_older_one_give_up_at_once(tmp_path: Path) -> None:
    holder = hold(tmp_path, "5")
    try:
        with pytest.raises(RunDirLockedError, match=f"process {holder.pid} \\(run 5\\)"):
            RunDirLock(tmp_path, run=4).acquire(wait_s=600)
        assert holder.poll() is None  # a newer run is never disturbed
    finally:
        holder.kill()
        holder.communicate()


def test_plan_round_trip_and_validation(tmp_path: Path) -> None:
    spec = PlanSpec(prompt="Open a bakery", detail="fast", plan_id="p1")
    write_plan(tmp_path, spec)
    assert read_plan(tmp_path) == spec
    (tmp_path / "plan.json").write_text(json.dumps({"prompt": "  "}))
    with pytest.raises(PipelineError, match="prompt must not be empty"):
        read_plan(tmp_path)
    (tmp_path / "plan.json").write_text(json.dumps({"prompt": "x", "detail": "huge"}))
    with pytest.raises(PipelineError, match="detail"):
        read_plan(tmp_path)


def test_atomic_write_leaves_no_partial_file_and_stale_temps_are_cleaned(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    atomic_write_text(target, "complete")
    assert target.read_text() == "complete"
    (tmp_path / ".out.json.abc.tmp").write_text("half")
    assert clean_stale_temp_files(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_events_are_appended_and_read_incrementally(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path, attempt=2)
    writer.emit("task_started", task="a")
    events, offset = read_events(path)
    assert [(e["kind"], e["task"], e["attempt"]) for e in events] == [("task_started", "a", 2)]
    with path.open("ab") as fh:
        fh.write(b'{"kind": "partial"')  # a line still being written
    assert read_events(path, offset) == ([], offset)
    with path.open("ab") as fh:
        fh.write(b', "task": "b"}\n')
    events, _ = read_events(path, offset)
    assert [e["kind"] for e in events] == ["partial"]
