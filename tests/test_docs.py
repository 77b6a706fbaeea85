"""The docs stay true to the code: every setting is documented, every doc the README links exists."""

from __future__ import annotations

import re
from pathlib import Path

from planexe.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_in_the_configuration_doc() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = [
        f"PLANEXE_{name.upper()}" for name in Settings.model_fields if f"`PLANEXE_{name.upper()}`" not in text
    ]
    assert missing == []


def test_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(((?:docs|scripts)/[^)#]+)\)", readme)
    assert links
    assert [link for link in links if not (ROOT / link).exists()] == []
