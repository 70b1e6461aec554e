"""`tools.results --best-test`: the optimistic best-epoch accuracy, only on request and labelled as such."""

from __future__ import annotations

import json
from pathlib import Path

from tools import results


def write_run(root: Path, seed: int, accuracy: float, best: float | None) -> None:
    folder = root / "btmri" / "shots_16" / "BioMedVR_reference_code" / "vit_b16" / f"seed{seed}"
    folder.mkdir(parents=True)
    metrics = {"accuracy": accuracy, "macro_f1": accuracy, "num_samples": 10}
    if best is not None:
        metrics |= {"best_test_epoch": 7, "best_test_accuracy": best}
    (folder / "metrics.json").write_text(json.dumps(metrics))


def test_best_test_is_shown_only_when_asked_and_only_for_runs_that_recorded_it(tmp_path, capsys):
    write_run(tmp_path, 1, 70.0, 80.0)
    write_run(tmp_path, 2, 72.0, 84.0)
    write_run(tmp_path, 3, 74.0, None)  # trained without TEST.EVAL_EVERY_EPOCH
    assert results.main([str(tmp_path)]) == 0
    honest = capsys.readouterr().out
    assert "72.00" in honest or "72.0" in honest  # the mean of 70, 72, 74
    assert "Optimistic" not in honest and "82.0" not in honest
    assert results.main([str(tmp_path), "--best-test"]) == 0
    optimistic = capsys.readouterr().out
    assert optimistic.startswith("Optimistic: each seed's best test accuracy")
    assert "82.0" in optimistic  # the mean of 80 and 84; seed 3 has no best-test record
