"""Shared fixtures: the tiny test backbone, synthetic datasets, the real split files, Dassl detection."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
TINY_BACKBONE = str(REPO / "tests" / "fixtures" / "biomedvr-test-tiny.json")
SHARED_SPLITS = REPO.parent / "shared" / "splits"
HAS_DASSL = importlib.util.find_spec("dassl") is not None

requires_dassl = pytest.mark.skipif(not HAS_DASSL, reason="Dassl not installed")
requires_shared_splits = pytest.mark.skipif(
    not SHARED_SPLITS.is_dir(),
    reason=f"BiomedCoOp's split files are not at {SHARED_SPLITS} (the project's shared/ folder)",
)


def pytest_configure(config: pytest.Config) -> None:
    """In CI a missing Dassl is a broken install, not a user's choice: fail instead of skipping."""
    if os.environ.get("CI") == "true" and not HAS_DASSL:
        raise pytest.UsageError(
            "CI=true and Dassl is not installed, so the Dassl tests would be skipped: "
            "scripts/setup.sh could not install it (see its output)"
        )


def run_bash(args: Sequence[str], env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """``bash args`` in the repository with PYTHON set to this interpreter, so the scripts never fall
    back to ``python3`` from PATH (and ``scripts/setup.sh`` never installs into another Python)."""
    return subprocess.run(
        ["bash", *args],
        cwd=REPO,
        env={**os.environ, "PYTHON": sys.executable, **(env or {})},
        capture_output=True,
        text=True,
        **kwargs,
    )


def seed_everything(seed: int) -> None:
    """What Dassl's set_random_seed does."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> str:
    """The synthetic datasets of the Dassl tests, made once: BTMRI and BUSI with 4 training, 2 validation
    and 4 test images per class, and DermaMNIST with 16, 1 and 2 (24 x 24 pixels)."""
    from tools.synthetic_data import make_dataset

    root = tmp_path_factory.mktemp("data")
    make_dataset(str(root), "BTMRI", counts=(4, 2, 4))
    make_dataset(str(root), "BUSI", counts=(4, 2, 4))
    make_dataset(str(root), "DermaMNIST", counts=(16, 1, 2), size=(24, 24))
    return str(root)


@pytest.fixture(scope="session")
def tiny_backbone():
    from trainers.backbones import load_backbone

    return load_backbone(TINY_BACKBONE)


@pytest.fixture(autouse=True)
def _quiet_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "2"))


@contextlib.contextmanager
def local_http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (an ephemeral port) in a thread; yields the base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


HOLD_LOCK = """
import sys, time
from trainers.run_lock import output_lock
with output_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def hold_lock(folder: Path | str) -> subprocess.Popen:
    """Another process holding the run lock of ``folder`` (kill it to end the hold)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(folder)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def run_train_py(*args: str) -> None:
    """Run train.py with ``args`` from the repository root; on failure, show the end of its output."""
    done = subprocess.run(
        [sys.executable, "train.py", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def train_args(
    data_root: str | Path,
    out: Path | str,
    trainer: str,
    *opts: str,
    dataset: str = "btmri",
    config: str = "few_shot",
    flags: Sequence[str] = (),
) -> list[str]:
    """train.py's arguments for a quick run of ``trainer`` on the tiny backbone: seed 1, no workers, and
    its ``configs/trainers/<trainer>/<config>.yaml``; then ``flags``; ``opts`` are KEY VALUE overrides."""
    return [
        "--root", str(data_root), "--seed", "1", "--output-dir", str(out), "--trainer", trainer,
        "--dataset-config-file", f"configs/datasets/{dataset}.yaml",
        "--config-file", f"configs/trainers/{trainer}/{config}.yaml", *flags,
        "MODEL.BACKBONE.NAME", TINY_BACKBONE, "DATALOADER.NUM_WORKERS", "0", *opts,
    ]  # fmt: skip


def build_trainer_from(args: Sequence[str]):
    """The Dassl trainer that train.py builds from ``args`` (seeded as train.py seeds it)."""
    from dassl.engine import build_trainer
    from dassl.utils import set_random_seed

    import train as train_module

    cfg = train_module.setup_cfg(train_module.parse_args(list(args)))
    set_random_seed(cfg.SEED)
    return build_trainer(cfg)


class Crash(Exception):
    """The crash that crash_after_first_epoch stages."""


def crash_after_first_epoch(trainer):
    """Train until the end of epoch 1 of 2 (its checkpoint and history line written), then crash."""
    finish = trainer.after_epoch

    def after_epoch():
        finish()
        raise Crash

    trainer.after_epoch = after_epoch
    with pytest.raises(Crash):
        trainer.train()
    return trainer
