"""The README's promises: exactly two set-up commands, and they work (the demo runs in a slow test)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text("utf-8")


def test_two_setup_commands_and_ci_uses_the_second():
    section = README.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.+?)\n```", section, re.DOTALL)
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_every_cli_verb_is_documented():
    from tidings.cli.main import app

    verbs = {c.name or c.callback.__name__ for c in app.registered_commands}
    verbs |= {g.name for g in app.registered_groups}
    for verb in verbs - {"version"}:
        assert f"tidings {verb}" in README, verb


@pytest.mark.slow
def test_demo_command_runs(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable)
    result = subprocess.run(["bash", "scripts/demo.sh", "--no-store"], check=False, cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "RETREAT" in result.stdout and "historical" in result.stdout
