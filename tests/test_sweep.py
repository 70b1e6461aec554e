"""tools.sweep and the skip-if-done rule: grid expansion, run status, the executors, SLURM submission."""

from __future__ import annotations

import json
import os
import pickle
import re
import shlex
import shutil
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import REPO, TINY_BACKBONE, requires_dassl
from tools import sweep
from tools.sweep_executors import JobFailed, remote_failure_message, run_inline
from tools.sweep_grid import Grid, GridError, expand, grid_from_mapping, load_grids, narrow
from trainers.methods import BY_NAME

TINY_TAG = "biomedvr-test-tiny"
FAST = ["OPTIM.MAX_EPOCH", "1", "DATALOADER.NUM_WORKERS", "0"]


def small_grid_args(data: str, output: str) -> list[str]:
    return [
        "--methods", "BioMedVR", "AR", "--datasets", "btmri", "--shots", "2", "--seeds", "1", "2",
        "--backbones", TINY_BACKBONE, "--data", data, "--output", output,
    ]  # fmt: skip


def step_value(step: tuple[str, ...], flag: str) -> str:
    return step[step.index(flag) + 1]


# ----- grids (no Dassl needed: the scripts only print their train.py calls) -------------------------


def test_every_named_grid_loads_and_names_known_methods():
    grids = load_grids()
    assert {"table1", "base2new", "shots", "ablations", "backbones"} <= set(grids)
    assert all(method in BY_NAME for grid in grids.values() for method in grid.methods)


def test_table1_expands_to_every_method_dataset_and_seed_in_the_scripts_folders(tmp_path):
    jobs = expand(load_grids()["table1"], str(tmp_path / "out"), str(tmp_path / "data"))
    # 7 trained methods x 3 seeds; zero-shot CLIP and BioMedVR on CLIP and BiomedCLIP and AttrVR on CLIP
    # evaluate one seed and record it for all
    assert len(jobs) == (7 * 3 + 5) * 11
    trained = [job for job in jobs if "/shots_0/" not in job.name]
    cost = re.search(
        r"What Table 1 costs: (\d+) jobs, of which (\d+) train", (REPO / "README.md").read_text()
    )
    assert cost is not None and (int(cost[1]), int(cost[2])) == (len(jobs), len(trained))  # README recounted
    names = {job.name for job in jobs}
    assert "btmri/shots_16/BioMedVR/vit_b16/seed3" in names
    assert {
        "busi/shots_0/ZeroshotCLIP/biomedclip/seed1",
        "busi/shots_0/BioMedVR_ZS/biomedclip/seed1",
    } <= names
    assert "btmri/shots_16/CoCoOp/biomedclip/seed3" in names  # prompt learning on BiomedCLIP, as the paper
    assert not any("/CoOp/vit_b16/" in name for name in names)
    assert "retina/shots_0/ZeroshotCLIP/vit_b16/seed1" in names  # zero-shot methods under shots_0
    job = next(job for job in jobs if job.name == "busi/shots_16/BioMedVR/vit_b16/seed2")
    (step,) = job.steps
    assert step_value(step, "--output-dir") == str(tmp_path / "out" / job.name)
    assert step_value(step, "--root") == str(tmp_path / "data")
    assert step_value(step, "--seed") == "2" and step_value(step, "--trainer") == "BioMedVR"
    assert step[-4:] == ("MODEL.BACKBONE.NAME", "ViT-B/16", "DATASET.NUM_SHOTS", "16")
    zero = next(job for job in jobs if job.name == "btmri/shots_0/BioMedVR_ZS/vit_b16/seed1")
    assert "--eval-only" in zero.steps[0]
    folder = tmp_path / "out" / "btmri/shots_0/BioMedVR_ZS/vit_b16"
    assert zero.records == ((str(folder / "seed2"), 2), (str(folder / "seed3"), 3))


def test_backbones_given_replace_the_methods_own(tmp_path):
    grid = narrow(load_grids()["table1"], methods=["CoOp", "AR"], datasets=["btmri"], seeds=[1])
    assert [job.name for job in expand(grid, str(tmp_path), str(tmp_path))] == [
        "btmri/shots_16/CoOp/biomedclip/seed1",
        "btmri/shots_16/AR/vit_b16/seed1",
    ]
    grid = narrow(grid, backbones=["ViT-B/16"])
    assert [job.name for job in expand(grid, str(tmp_path), str(tmp_path))] == [
        "btmri/shots_16/CoOp/vit_b16/seed1",
        "btmri/shots_16/AR/vit_b16/seed1",
    ]


def test_zero_shot_runs_once_over_shots_and_overrides_come_last(tmp_path):
    grid = Grid(methods=("ZeroshotCLIP", "AR"), datasets=("busi",), shots=(1, 4), seeds=(1,))
    grid = replace(grid, overrides=("OPTIM.MAX_EPOCH", "5"))
    jobs = expand(grid, str(tmp_path), str(tmp_path))
    assert [job.name for job in jobs] == [
        "busi/shots_0/ZeroshotCLIP/vit_b16/seed1",
        "busi/shots_1/AR/vit_b16/seed1",
        "busi/shots_4/AR/vit_b16/seed1",
    ]
    assert jobs[1].steps[0][-4:] == ("DATASET.NUM_SHOTS", "1", "OPTIM.MAX_EPOCH", "5")  # paper: batch 512


def test_base2new_job_trains_on_base_then_tests_new_from_that_run(tmp_path):
    grid = replace(load_grids()["base2new"], methods=("VP",), datasets=("btmri",), seeds=(3,))
    (job,) = expand(grid, str(tmp_path), "data")
    train, test = job.steps
    assert job.name == "base2new/train_base/btmri/shots_16/VP/vit_b16/seed3"
    assert step_value(train, "DATASET.SUBSAMPLE_CLASSES") == "base" and "--eval-only" not in train
    assert step_value(test, "DATASET.SUBSAMPLE_CLASSES") == "new"
    assert step_value(test, "--model-dir") == job.run_dir
    assert step_value(test, "--output-dir") == str(
        tmp_path / "base2new/test_new/btmri/shots_16/VP/vit_b16/seed3"
    )


def test_ablation_variants_are_written_under_their_own_folders(tmp_path):
    grid = replace(load_grids()["ablations"], datasets=("kvasir",), seeds=(1,))
    jobs = {job.name: job for job in expand(grid, str(tmp_path), "data")}
    assert set(jobs) == {
        f"{variant}/kvasir/shots_16/BioMedVR/vit_b16/seed1"
        for variant in ("full", "no_mope", "no_confusion_attributes", "no_cs_loss")
    }
    no_cs = jobs["no_cs_loss/kvasir/shots_16/BioMedVR/vit_b16/seed1"].steps[0]
    assert no_cs[-2:] == ("TRAINER.BIOMEDVR.CS_WEIGHT", "0.0")


def test_sensitivity_grid_plans_every_beta_and_margin_around_the_papers_optimum(tmp_path):
    grid = replace(load_grids()["sensitivity"], datasets=("busi",), seeds=(1,))
    jobs = expand(grid, str(tmp_path), "data")
    betas, margins = ("0.1", "0.2", "0.3", "0.4", "0.5"), ("0.1", "0.3", "0.5", "0.7", "0.9")
    assert [job.name for job in jobs] == [
        f"beta{b}_m{m}/busi/shots_16/BioMedVR/vit_b16/seed1" for b in betas for m in margins
    ]
    optimum = jobs[2 * 5 + 2].steps[0]
    assert optimum[-4:] == ("TRAINER.BIOMEDVR.CS_WEIGHT", "0.3", "TRAINER.BIOMEDVR.CS_MARGIN", "0.5")


def test_table4_grid_plans_ablations_backbones_and_every_attribute_set_present(tmp_path, monkeypatch):
    sets = tmp_path / "attributes"
    (sets / "curated").mkdir(parents=True)
    (sets / "llm-test").mkdir()
    for kind in ("des", "dist", "confuse"):  # a set made for BUSI only
        (sets / "llm-test" / f"busi_{kind}.json").write_text("{}")
    monkeypatch.setattr("attributes.files.SETS_ROOT", sets)
    grid = replace(load_grids()["table4"], datasets=("busi", "btmri"), seeds=(1,))
    jobs = {job.name: job for job in expand(grid, str(tmp_path / "out"), "data")}
    expected = {
        f"{variant}/{dataset}/shots_16/BioMedVR/vit_b16/seed1"
        for variant in ("full", "no_mope", "no_confusion_attributes", "no_cs_loss")
        for dataset in ("busi", "btmri")
    }
    expected |= {
        f"backbones/{dataset}/shots_16/{method}/{tag}/seed1"
        for dataset in ("busi", "btmri")
        for method in ("AttrVR", "BioMedVR")
        for tag in ("rn50", "vit_b32")
    }
    expected.add("attributes_llm-test/busi/shots_16/BioMedVR/vit_b16/seed1")  # not btmri: the set lacks it
    assert set(jobs) == expected
    step = jobs["attributes_llm-test/busi/shots_16/BioMedVR/vit_b16/seed1"].steps[0]
    assert step[-2:] == ("TRAINER.BIOMEDVR.ATTRIBUTE_SET", "llm-test")
    assert (
        step_value(jobs["backbones/btmri/shots_16/AttrVR/rn50/seed1"].steps[0], "MODEL.BACKBONE.NAME")
        == "RN50"
    )
    narrowed = narrow(grid, methods=["BioMedVR"], datasets=["busi"])
    assert "backbones/busi/shots_16/AttrVR/rn50/seed1" not in {
        j.name for j in expand(narrowed, str(tmp_path), "d")
    }


def test_a_variant_with_an_unknown_lower_case_key_is_refused():
    with pytest.raises(GridError, match=r"variant 'v'.*unknown keys \['method'\]"):
        grid_from_mapping("g", {"methods": ["AR"], "variants": {"v": {"method": ["VP"]}}})


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (Grid(methods=("BioMedVR", "Nope")), "unknown methods ['Nope']"),
        (Grid(methods=("AR",), datasets=("btrmi",)), "unknown datasets ['btrmi']"),
        (Grid(methods=("ZeroshotCLIP",), protocol="base2new"), "without base-to-novel"),
    ],
)
def test_bad_grids_are_refused_naming_what_is_wrong(grid, message, tmp_path):
    with pytest.raises(GridError, match=re.escape(message)):
        expand(grid, str(tmp_path), str(tmp_path))


def test_command_line_overrides_and_the_rerun_command():
    argv = ["--grid", "table1", "--only", "a/seed1", "b/seed2", "--gpus", "0,1", "OPTIM.MAX_EPOCH", "3"]
    flags, overrides = sweep.split_overrides(argv)
    assert overrides == ["OPTIM.MAX_EPOCH", "3"] and flags[-1] == "0,1"
    command = sweep.sweep_command(argv, "--only", "c/seed1")
    assert command == "python -m tools.sweep --grid table1 --gpus 0,1 --only c/seed1 OPTIM.MAX_EPOCH 3"


class FakeTask:
    def __init__(self, name: str, log: Path | None = None) -> None:
        self.name, self.log_path = name, str(log) if log else ""

    def __call__(self) -> str:
        if not self.log_path:
            return f"{self.name} ok"
        Path(self.log_path).write_text("".join(f"line {k}\n" for k in range(30)))
        raise JobFailed("train.py exited with status 1", self.log_path)


def test_debug_executor_runs_in_process_and_keeps_the_end_of_a_failed_log(tmp_path, capsys):
    outcomes = run_inline([FakeTask("a"), FakeTask("b", tmp_path / "job.log")], "jobs")
    assert [(o.name, o.ok, o.message) for o in outcomes] == [
        ("a", True, "a ok"),
        ("b", False, "train.py exited with status 1"),
    ]
    assert outcomes[1].tail == "".join(f"line {k}\n" for k in range(10, 30))  # the last 20 lines
    assert "[sweep] jobs: 0 pending, 0 running, 1 done, 1 failed" in capsys.readouterr().err


def test_a_remote_failure_is_reported_by_its_own_message():
    remote = (
        "Job (task=0) failed during processing with trace:\n----------------------\nTraceback (most recent"
        ' call last):\n  File "x.py", line 1\ntools.sweep_executors.JobFailed: /out/seed1 holds a finished'
        " run\n  OPTIM.LR: 40.0 there, 4.0 now\n----------------------\nYou can check full logs with ..."
    )
    expected = "/out/seed1 holds a finished run\n  OPTIM.LR: 40.0 there, 4.0 now"
    assert remote_failure_message(remote) == expected


# ----- run status on a generated output tree ------------------------------------------------------


def train_args(run_dir: Path, *overrides: str) -> list[str]:
    return [
        "--root", "data", "--output-dir", str(run_dir), "--seed", "1", "--trainer", "BioMedVR",
        "--dataset-config-file", "configs/datasets/btmri.yaml",
        "--config-file", "configs/trainers/BioMedVR/few_shot.yaml",
        "MODEL.BACKBONE.NAME", TINY_BACKBONE, "DATASET.NUM_SHOTS", "2", *overrides,
    ]  # fmt: skip


def fake_run(run_dir: Path, *overrides: str, finished: bool = True, config: bool = True) -> None:
    """A run folder as train.py leaves it (config.yaml; metrics.json or a checkpoint), without training."""
    from datasets.atomic import write_json
    from tools.run_status import would_be_config
    from trainers.run_files import config_hash, write_config

    cfg = would_be_config(train_args(run_dir, *overrides))
    if config:
        write_config(str(run_dir), cfg)
    if finished:
        write_json(str(run_dir / "metrics.json"), {"accuracy": 50.0, "config_hash": config_hash(cfg)})
    else:
        (run_dir / "prompt_learner").mkdir(parents=True)
        (run_dir / "prompt_learner" / "checkpoint").write_text("model.pth.tar-3\n")


@requires_dassl
def test_run_status_done_resumable_changed_and_absent(tmp_path):
    from tools.run_status import ABSENT, CONFLICT, DONE, RESUMABLE, status_of_call

    fake_run(tmp_path / "done")
    fake_run(tmp_path / "crashed", finished=False)
    fake_run(tmp_path / "crashed_other", "OPTIM.LR", "4.0", finished=False)
    fake_run(tmp_path / "old", config=False)
    assert status_of_call(train_args(tmp_path / "done")).state == DONE
    assert status_of_call(train_args(tmp_path / "absent")).state == ABSENT
    assert status_of_call(train_args(tmp_path / "crashed")).state == RESUMABLE
    changed = status_of_call(train_args(tmp_path / "done", "TRAINER.BIOMEDVR.CS_WEIGHT", "0.0"))
    assert changed.state == CONFLICT
    assert changed.differences == [("TRAINER.BIOMEDVR.CS_WEIGHT", 0.3, 0.0)]
    message = changed.describe()
    assert "a finished run with other settings" in message
    assert "TRAINER.BIOMEDVR.CS_WEIGHT: 0.3 there, 0.0 now" in message
    assert "OVERWRITE=1" in message
    other = status_of_call(train_args(tmp_path / "crashed_other"))
    assert other.state == CONFLICT and other.differences == [("OPTIM.LR", 4.0, 40.0)]
    assert "an interrupted run" in other.describe()
    # a run without config.yaml is still compared by its hash, and says why no keys are named
    old = status_of_call(train_args(tmp_path / "old", "TRAINER.BIOMEDVR.TOPK", "5"))
    assert old.state == CONFLICT and "predates config.yaml" in old.describe()
    # run-specific keys (data root, output folder, seed) are not settings
    moved = train_args(tmp_path / "done")
    moved[1] = "/elsewhere/data"
    assert status_of_call(moved).state == DONE


@requires_dassl
def test_run_status_cli_exit_codes_and_overwrite(tmp_path, capsys):
    from tools.run_status import main

    fake_run(tmp_path / "run")
    assert main(["--", *train_args(tmp_path / "run")]) == 3
    assert "results exist at" in capsys.readouterr().out
    changed = ["--", *train_args(tmp_path / "run", "TRAINER.BIOMEDVR.TOPK", "2")]
    assert main(changed) == 2
    assert "TRAINER.BIOMEDVR.TOPK: 3 there, 2 now" in capsys.readouterr().err
    assert (tmp_path / "run" / "metrics.json").is_file()
    assert main(["--overwrite", *changed]) == 0
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@requires_dassl
def test_the_few_shot_script_stops_on_a_run_with_other_settings(data_root, tmp_path):
    output = tmp_path / "output"
    run_dir = output / "btmri" / "shots_2" / "BioMedVR" / TINY_TAG / "seed1"
    fake_run(run_dir, "DATALOADER.NUM_WORKERS", "0")
    result = subprocess.run(
        ["bash", "scripts/biomedvr/few_shot.sh", "btmri", "2", TINY_BACKBONE, "DATALOADER.NUM_WORKERS", "0",
         "TRAINER.BIOMEDVR.CS_WEIGHT", "0.0"],
        cwd=REPO, env={**os.environ, "DATA": data_root, "OUTPUT": str(output), "SEEDS": "1"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "TRAINER.BIOMEDVR.CS_WEIGHT: 0.3 there, 0.0 now" in result.stderr
    assert "OUTPUT=" in result.stderr and "OVERWRITE=1" in result.stderr
    assert json.loads((run_dir / "metrics.json").read_text())["accuracy"] == 50.0  # left alone


@requires_dassl
def test_prepare_tasks_cover_each_dataset_its_picks_and_each_image_size(tmp_path):
    from tools.run_status import would_be_config
    from tools.sweep_prepare import PrepareBackbone, PrepareDataset, prepare_tasks

    grid = Grid(
        methods=("BioMedVR", "VP"), datasets=("btmri",), shots=(2,), seeds=(1, 2), protocol="base2new"
    )
    jobs = expand(grid, str(tmp_path), str(tmp_path / "data"))
    dataset, backbone = prepare_tasks(would_be_config(step) for job in jobs for step in job.steps)
    assert isinstance(dataset, PrepareDataset) and isinstance(backbone, PrepareBackbone)
    assert dataset.folder == "BTMRI" and dataset.picks == ((2, 1), (2, 2))
    assert set(dataset.arrays) == {(c, s, "bicubic") for c in ("base", "new") for s in (192, 224)}


# ----- executors, end to end with the real train.py -----------------------------------------------


@pytest.mark.slow
@requires_dassl
def test_a_zero_shot_job_records_its_run_for_the_other_seeds_as_the_script_does(data_root, tmp_path):
    from datasets.atomic import write_json
    from tools.run_status import would_be_config
    from trainers.run_files import config_hash

    output = tmp_path / "output"
    argv = [
        "--methods", "ZeroshotCLIP", "--datasets", "btmri", "--seeds", "1", "2", "--backbones", TINY_BACKBONE,
        "--data", data_root, "--output", str(output), "--executor", "debug", "--no-results",
    ]  # fmt: skip
    (job,) = expand(sweep.build_grid(*sweep.parse_args(argv)), str(output), data_root)
    first = Path(job.run_dir)
    done = {"seed": 1, "config_hash": config_hash(would_be_config(job.steps[0]))}
    write_json(str(first / "metrics.json"), done)
    assert sweep.main(argv) == 0  # seed 1 is done: nothing trains, seed 2 is recorded from it
    recorded = json.loads((first.parent / "seed2" / "metrics.json").read_text())
    assert recorded["seed"] == 2 and recorded["evaluated_as_seed"] == 1
    assert not (first / "job.log").exists()


def break_resume(run_dir: Path) -> None:
    """An unreadable checkpoint: the job resumes from it and train.py fails."""
    (run_dir / "prompt_learner").mkdir(parents=True)
    (run_dir / "prompt_learner" / "checkpoint").write_text("model.pth.tar-1\n")
    (run_dir / "prompt_learner" / "model.pth.tar-1").write_bytes(b"not a checkpoint")


@pytest.mark.slow
@requires_dassl
def test_local_executor_runs_two_at_once_reports_a_failure_and_reruns_only_it(data_root, tmp_path, capsys):
    output = tmp_path / "output"
    broken = output / "btmri" / "shots_2" / "AR" / TINY_TAG / "seed2"
    break_resume(broken)
    argv = [*small_grid_args(data_root, str(output)), "--gpus", "0,1", "--per-gpu", "1", *FAST]
    assert sweep.main(argv) == 1
    out, err = capsys.readouterr()
    assert "4 jobs: 1 resume, 3 to run" in out
    assert "[sweep] jobs: 2 pending, 2 running, 0 done, 0 failed" in err  # two at once
    assert "[sweep] jobs: 0 pending, 0 running, 3 done, 1 failed" in err
    assert f"--- btmri/shots_2/AR/{TINY_TAG}/seed2: train.py exited with status 1" in err
    assert f"log: {broken / 'job.log'}" in err
    last_lines = (broken / "job.log").read_text().strip().splitlines()[-3:]
    assert all(line in err for line in last_lines)  # the end of its log
    rerun = shlex.split(err.split("To rerun only these: python -m tools.sweep ", 1)[1].splitlines()[0])
    assert rerun[rerun.index("--only") + 1 :] == [f"btmri/shots_2/AR/{TINY_TAG}/seed2", *FAST]

    for run in output.glob("btmri/shots_2/*/*/seed*"):
        log = (run / "job.log").read_text()
        devices = re.findall(r"CUDA_VISIBLE_DEVICES=(\S*):", log)
        assert devices and devices[0] in ("0", "1")  # one GPU per job
        if run != broken:  # the caches were prepared before the fan-out, not by the jobs
            assert "Loading preprocessed few-shot data" in log and "Caching test" not in log
            assert "NUM_SHOTS: 2" in (run / "config.yaml").read_text()
    shutil.rmtree(broken / "prompt_learner")
    assert sweep.main(rerun) == 0
    out, err = capsys.readouterr()
    assert "1 jobs: 1 to run" in out and "[sweep] jobs: 0 pending, 0 running, 1 done, 0 failed" in err
    accuracy = {
        (run.parts[-3], run.name): json.loads((run / "metrics.json").read_text())["accuracy"]
        for run in output.glob("btmri/shots_2/*/*/seed*")
    }
    assert len(accuracy) == 4
    for method in ("AR", "BioMedVR"):
        mean = (accuracy[method, "seed1"] + accuracy[method, "seed2"]) / 2
        row = next(line for line in out.splitlines() if line.startswith(f"| {method} |"))
        assert row.split("|")[2].strip().strip("*").startswith(f"{mean:.1f} ±")

    # the method script finds the sweep's runs in the same folders with the same config
    script = subprocess.run(
        ["bash", "scripts/biomedvr/few_shot.sh", "btmri", "2", TINY_BACKBONE, *FAST],
        cwd=REPO, env={**os.environ, "DATA": data_root, "OUTPUT": str(output), "SEEDS": "1 2"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert script.returncode == 0, script.stderr[-2000:]
    assert script.stdout.count("results exist at") == 2 and "Setting fixed seed" not in script.stdout


# ----- SLURM ----------------------------------------------------------------------------------------

SBATCH_STUB = """#!/usr/bin/env bash
# Records what it was asked to submit, then answers as sbatch does.
n=$(ls "$SBATCH_RECORD" | wc -l)
cp "${@: -1}" "$SBATCH_RECORD/$n.sh"
echo "Submitted batch job $((4242 + n))"
"""


@pytest.mark.slow
@requires_dassl
def test_slurm_submission_is_two_arrays_with_the_settings_and_the_scripts_jobs(
    data_root, tmp_path, monkeypatch
):
    pytest.importorskip("submitit", reason="submitit not installed")
    bin_dir, record = tmp_path / "bin", tmp_path / "submitted"
    bin_dir.mkdir()
    record.mkdir()
    for name, text in (("sbatch", SBATCH_STUB), ("srun", "#!/bin/sh\nexit 1\n")):  # submitit looks for srun
        stub = bin_dir / name
        stub.write_text(text)
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SBATCH_RECORD", str(record))
    settings = tmp_path / "slurm.yaml"
    settings.write_text("partition: gpu\naccount: lab\ntime_min: 90\nmem_gb: 16\n")
    output = tmp_path / "output"
    argv = [
        *small_grid_args(data_root, str(output)), "--executor", "slurm", "--slurm-config", str(settings),
        "--time", "45", "--array-parallelism", "2", "--no-wait", *FAST,
    ]  # fmt: skip
    assert sweep.main(argv) == 0
    prepare, train = (record / "0.sh").read_text(), (record / "1.sh").read_text()
    for flag in ("--partition=gpu", "--account=lab", "--mem=16GB"):
        assert f"#SBATCH {flag}" in prepare and f"#SBATCH {flag}" in train
    assert "#SBATCH --array=0-1%2" in prepare  # the dataset and the backbone
    assert "#SBATCH --array=0-3%2" in train and "#SBATCH --time=45" in train
    assert "#SBATCH --gpus-per-node=1" in train and "--gpus-per-node" not in prepare
    assert "#SBATCH --dependency=afterok:4242" in train  # the jobs wait for the shared caches
    assert "#SBATCH --kill-on-invalid-dep=yes" in train  # and are dropped when preparing failed
    submitted = [
        pickle.loads(path.read_bytes()).args[0].job
        for path in (output / ".sweep" / "submitit").glob("4243_*/*_submitted.pkl")
    ]
    expected = expand(sweep.build_grid(*sweep.parse_args(argv)), str(output), data_root)
    assert sorted(job.steps for job in submitted) == sorted(job.steps for job in expected)


def slurm_is_up() -> str:
    if shutil.which("sbatch") is None:
        return "sbatch is not on PATH (no SLURM here; ../shared/slurm/one-node.sh start brings one up)"
    try:
        up = subprocess.run(["sinfo", "-h"], capture_output=True, timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        up = False
    if not up:
        return "sbatch is present but sinfo fails (no running SLURM controller)"
    return ""


@pytest.mark.slow
@requires_dassl
@pytest.mark.skipif(bool(slurm_is_up()), reason=slurm_is_up() or "SLURM is up")
def test_slurm_end_to_end(data_root, tmp_path, capsys):
    output = tmp_path / "output"
    argv = [
        "--methods", "AR", "--datasets", "btmri", "--shots", "2", "--seeds", "1",
        "--backbones", TINY_BACKBONE, "--data", data_root, "--output", str(output), "--executor", "slurm",
        "--slurm-gpus", "0", "--cpus", "1", "--mem-gb", "2", "--time", "10", "--poll", "2", *FAST,
    ]  # fmt: skip
    assert sweep.main(argv) == 0, capsys.readouterr().err[-3000:]
    run = output / "btmri" / "shots_2" / "AR" / TINY_TAG / "seed1"
    assert json.loads((run / "metrics.json").read_text())["trainer"] == "AR"
    assert "CUDA_VISIBLE_DEVICES" in (run / "job.log").read_text()


def test_filters_that_match_no_job_say_so_and_exit_non_zero(tmp_path, capsys):
    args = ["--grid", "table1", "--output", str(tmp_path / "out"), "--dry-run"]
    assert sweep.main([*args, "--only", "btmri/shots_16/BioMedVR/vit_b16/seed9"]) == 2
    error = capsys.readouterr().err.strip()
    count = len(expand(load_grids()["table1"], str(tmp_path / "out"), "data"))
    assert error.startswith(
        f"tools.sweep: --only btmri/shots_16/BioMedVR/vit_b16/seed9 matches none of the grid's {count} jobs "
        "(names like "
    )
    assert not (tmp_path / "out").exists()


# ----- done-ness, status and prepared picks (in-process; nothing trains) --------------------------------
def finish(step: tuple[str, ...], **payload) -> Path:
    """Record the run of a train.py call as finished with the call's settings; returns its folder."""
    from datasets.atomic import write_json
    from tools.run_status import output_dir_of, would_be_config
    from trainers.run_files import config_hash, write_config

    cfg = would_be_config(step)
    folder = Path(output_dir_of(step))
    write_config(str(folder), cfg)
    write_json(str(folder / "metrics.json"), {"accuracy": 50.0, "config_hash": config_hash(cfg), **payload})
    return folder


@requires_dassl
def test_a_base2new_job_with_its_test_step_missing_is_not_done(tmp_path):
    grid = Grid(methods=("VP",), datasets=("btmri",), shots=(2,), seeds=(1,), protocol="base2new")
    (job,) = expand(grid, str(tmp_path), str(tmp_path / "data"))
    train, test = job.steps
    finish(train)
    ((state,), _) = sweep.job_states([job])
    assert state.state != "done" and [status.state for status in state.statuses] == ["done", "absent"]
    finish(test)
    assert sweep.job_states([job])[0][0].state == "done"


@requires_dassl
def test_the_status_command_of_an_interrupted_run_says_it_resumes(tmp_path, capsys):
    from tools.run_status import EXIT_TRAIN, main

    fake_run(tmp_path / "run", finished=False)
    assert main(["--", *train_args(tmp_path / "run")]) == EXIT_TRAIN
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == f"{tmp_path / 'run'} holds an interrupted run with these settings: resuming it"


@requires_dassl
def test_a_finished_run_whose_config_yaml_was_rewritten_is_judged_by_its_own_record(tmp_path):
    from tools.run_status import CONFLICT, DONE, status_of_call, would_be_config
    from trainers.run_files import write_config

    fake_run(tmp_path / "run")
    write_config(str(tmp_path / "run"), would_be_config(train_args(tmp_path / "run", "OPTIM.LR", "9.0")))
    assert status_of_call(train_args(tmp_path / "run")).state == DONE
    changed = status_of_call(train_args(tmp_path / "run", "TRAINER.BIOMEDVR.TOPK", "2"))
    assert changed.state == CONFLICT and changed.differences == []
    message = changed.describe()
    assert "config.yaml was rewritten after the run finished" in message and "OPTIM.LR" not in message


@requires_dassl
def test_one_shot_picks_are_prepared_and_equal_a_cold_runs_per_seed(data_root, tmp_path):
    from dassl.utils import set_random_seed

    from datasets.fewshot_cache import cache_path, read_cache
    from datasets.layout import load_items
    from tools.run_status import would_be_config
    from tools.sweep_prepare import PrepareDataset, prepare_tasks

    grid = Grid(methods=("VP",), datasets=("btmri",), shots=(1,), seeds=(1, 2))
    jobs = expand(grid, str(tmp_path), data_root)
    dataset = prepare_tasks(would_be_config(step) for job in jobs for step in job.steps)[0]
    assert dataset.picks == ((1, 1), (1, 2))
    prepared, cold = tmp_path / "prepared", tmp_path / "cold"
    shutil.copytree(data_root, prepared)
    shutil.copytree(data_root, cold)
    PrepareDataset(str(prepared), "BTMRI", dataset.picks, ())()
    picks = {}
    for seed in (1, 2):
        cached = read_cache(cache_path(str(prepared / "BTMRI" / "split_fewshot"), 1, seed))
        set_random_seed(seed)
        fresh = load_items(str(cold), "BTMRI", num_shots=1, seed=seed)
        names = [os.path.relpath(item.impath, prepared) for item in cached["train"]]
        assert names == [os.path.relpath(item.impath, cold) for item in fresh["train"]]
        picks[seed] = names
    assert picks[1] != picks[2]


@requires_dassl
def test_a_zero_shot_record_never_rewrites_another_seeds_metrics(tmp_path):
    from tools.sweep_executors import TrainJob

    grid = Grid(methods=("ZeroshotCLIP",), datasets=("btmri",), seeds=(1, 2, 3))
    (job,) = expand(grid, str(tmp_path), str(tmp_path / "data"))
    finish(job.steps[0], seed=1)
    own = Path(job.records[0][0]) / "metrics.json"
    own.parent.mkdir(parents=True)
    own.write_text('{"accuracy": 12.3, "seed": 2}')
    TrainJob(job)()
    assert own.read_text() == '{"accuracy": 12.3, "seed": 2}'
    third = json.loads((Path(job.records[1][0]) / "metrics.json").read_text())
    assert (third["seed"], third["evaluated_as_seed"]) == (3, 1)
