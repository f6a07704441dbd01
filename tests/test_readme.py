"""What the README promises a new user is what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)\n```", readme, flags=re.S)
    run_bot, run_tests = blocks[0], blocks[1]
    assert run_bot.endswith("python -m app")
    assert run_tests.endswith("python -m pytest")
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert run_tests in ci_lines


def test_every_setting_the_code_reads_is_documented() -> None:
    source = (ROOT / "app" / "config.py").read_text()
    names = set(re.findall(r'"([A-Z][A-Z_]+)"', source))
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z_]+)=", example, flags=re.M))
    assert names - {"INFO", "DEBUG", "WARNING", "ERROR"} <= documented
