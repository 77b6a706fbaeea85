"""scripts/smoke.sh, the curl-only smoke test, against a real server."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from planexe.testing.service import Service, service_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_smoke_script_passes_against_a_real_server(tmp_path: Path) -> None:
    service = Service(service_env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path), tmp_path).start()
    try:
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "smoke.sh"), service.base_url],
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        service.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke test passed" in result.stdout
