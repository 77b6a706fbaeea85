"""``planexe run`` on a real terminal (a pty): log lines print above the progress bar, not onto it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from planexe.testing.llm_server import llm_server
from planexe.testing.terminal import run_on_a_terminal, screen_lines

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def test_log_lines_print_above_the_progress_bar(tmp_path: Path) -> None:
    with llm_server(seed=11, rate_500=0.25) as llm:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLANEXE_") and k != "LUIGI_WORKERS"}
        env.update(
            TERM="xterm-256color",
            PLANEXE_LLM_BASE_URL=llm.base_url,
            PLANEXE_LLM_MODEL="test-model",
            PLANEXE_LLM_MAX_ATTEMPTS="10",
            PLANEXE_LLM_RETRY_BASE_DELAY_S="0",
            PLANEXE_LLM_RETRY_MAX_DELAY_S="0",
        )
        code, shown = run_on_a_terminal(
            [
                "run",
                "Open a small bakery in Copenhagen",
                "--detail",
                "fast",
                "--run-dir",
                str(tmp_path / "run"),
            ],
            env,
        )
    assert code == 0, shown[-3000:]
    lines = screen_lines(shown)
    # The failed attempts are logged as warnings (console format on a terminal) ...
    logged = [line for line in lines if "llm_attempt" in line]
    assert logged, shown[-3000:]
    # ... each on a line of its own, never after the bar's "12/53 0:00:01".
    glued = [line for line in logged if not TIMESTAMP.match(line)]
    assert glued == [], glued[:3]
    assert any(re.search(r"\d+/\d+", line) for line in lines)  # the bar was shown
    # Unset LUIGI_WORKERS is the normal case, not worth a warning.
    assert "LUIGI_WORKERS" not in shown
