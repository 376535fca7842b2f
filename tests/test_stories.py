"""The end-to-end test stories in tests/stories pass against the trained model."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)
def test_all_test_stories_pass(model_path: Path, action_server: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "rasa"), "test", "core", "--model", str(model_path),
         "--stories", "tests/stories", "--endpoints", "endpoints.yml", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "ACTION_SERVER_URL": action_server,
             "TRACKER_DB": str(tmp_path / "tracker.db")},
    )
    failed = tmp_path / "failed_test_stories.yml"
    assert result.returncode == 0 and failed.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    report = failed.read_text(encoding="utf-8")
    assert "None of the test stories failed" in report, report
