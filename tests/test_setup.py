"""The set-up script finds Python 3.10 by itself, is idempotent, and explains a missing Python."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_setup(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "scripts/setup.sh"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120
    )


def test_rerunning_setup_changes_nothing() -> None:
    before = {p.name for p in (ROOT / ".venv").iterdir()}
    result = run_setup(dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "installing" not in result.stderr
    assert {p.name for p in (ROOT / ".venv").iterdir()} == before


def test_without_python_310_setup_says_what_to_install(tmp_path: Path) -> None:
    # A PATH with only a python3 that is not 3.10, and no pyenv or uv to fall back on.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for tool in ("bash", "sha256sum", "cut", "grep", "sort", "rm", "dirname", "cat"):
        target = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        (fake_bin / tool).symlink_to(target)
    (fake_bin / "python3.10").write_text("#!/bin/sh\necho 'Python 3.11.7'\nexit 1\n")
    (fake_bin / "python3.10").chmod(0o755)
    env = {"PATH": str(fake_bin), "HOME": str(tmp_path), "VENV": str(tmp_path / "venv")}
    result = run_setup(env)
    assert result.returncode == 1
    assert "no Python 3.10 interpreter found" in result.stderr
    assert "pyenv install 3.10" in result.stderr and "uv python install 3.10" in result.stderr
    assert not (tmp_path / "venv").exists()
