"""The training benchmark runs end to end (its timings are printed, never asserted)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # runs the scripts or a benchmark in subprocesses


def test_benchmark_smoke_run_prints_the_ratio_line():
    finished = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_training.py"), "--smoke"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    last_line = finished.stdout.strip().splitlines()[-1]
    assert last_line.startswith("ratio (reference / fast): tiny train epoch ")
