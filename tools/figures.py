"""Figures of an output tree: accuracy vs shots, learned experts, gate values, reliability, t-SNE, and
the sensitivity heat map (Figure 5) when the tree holds the sensitivity grid's variant folders.

``python -m tools.figures output --out figures/ [--dataset btmri] [--backbone vit_b16] [--shots 16]
[--all-experts] [--tsne RUN_DIR RUN_DIR]`` writes each figure as PNG (150 dpi) and PDF. Per-run figures
use the runs of Table 1 (``--shots``, or shots_0 for zero-shot methods) of ``--backbone`` (and
``--dataset``); without them, vit_b16 (else the backbone found) and 16 shots (else the largest found).
A figure whose inputs are absent is skipped with one line saying why.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from tools.results import (
    FEW_SHOT,
    SENSITIVITY_GRID,
    Run,
    collect_runs,
    dataset_label,
    default_shots,
    describe_settings,
    found_settings,
    parse_run_path,
    sensitivity_cells,
    shots_table,
    split_variant_runs,
)
from trainers.checkpoints import MODULE_NAME, CheckpointError, read_checkpoint, resolve_checkpoint
from trainers.config import DEFAULT_INPUT_SIZE
from trainers.metrics import Reliability, calibration_error
from trainers.mope import gate_weights
from trainers.reprogram import frame_mask
from trainers.run_files import EMBEDDINGS_FILE, HISTORY_FILE

DPI = 150
EXPERT_TITLES = ("δ+ (positive expert)", "δ− (negative expert)")
TSNE_REFERENCES = ("ZeroshotCLIP", "AttrVR")
PROPOSED = "BioMedVR"
EXACT_TSNE_MAX_POINTS = 500  # below this, exact t-SNE is fast and more accurate than Barnes-Hut


class SkipFigure(Exception):
    """A figure's inputs are absent or unreadable; the message says which."""


def save(figure: Figure, out: Path, name: str) -> list[Path]:
    """Render a figure with Agg to ``out/name.png`` (150 dpi) and ``out/name.pdf``."""
    out.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for path in paths:
        figure.savefig(path, dpi=DPI)
    return paths


def selected_runs(runs: Sequence[Run], backbone: str, shots: int, dataset: str | None = None) -> list[Run]:
    """The few-shot runs of Table 1: at ``shots``, or at 0 shots for methods with no run at ``shots``."""
    pool = [
        run
        for run in runs
        if run.protocol == FEW_SHOT and run.backbone == backbone and dataset in (None, run.dataset)
    ]
    at_shots = {run.trainer for run in pool if run.shots == shots}
    return [run for run in pool if run.shots == shots or (run.shots == 0 and run.trainer not in at_shots)]


# ----- accuracy vs shots ------------------------------------------------------------------------------
def plot_accuracy_vs_shots(
    runs: Sequence[Run], out: Path, backbone: str = "vit_b16", dataset: str | None = None
) -> list[Path]:
    """Accuracy per shots value and method (mean over the biomedical datasets, or one dataset), ± std.

    Methods with 0-shot results only are drawn as dashed horizontal lines.
    """
    table = shots_table(runs, backbone, dataset)
    if not table.cells:
        raise SkipFigure(f"no finished few-shot runs with {backbone}")
    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    axes = figure.add_subplot()
    colors = colormaps["tab10"]
    positive = [int(k) for k in table.columns if int(k) > 0]
    for index, method in enumerate(table.rows):
        color = colors(index % 10)
        cells = [table.cells[method, str(k)].cell for k in positive if (method, str(k)) in table.cells]
        if cells:
            shots = [k for k in positive if (method, str(k)) in table.cells]
            errors = [0.0 if math.isnan(cell.std) else cell.std for cell in cells]
            means = [cell.mean for cell in cells]
            axes.errorbar(shots, means, yerr=errors, marker="o", capsize=3, color=color, label=method)
        if (method, "0") in table.cells:
            label = f"{method} (0 shots)" if cells else method
            axes.axhline(table.cells[method, "0"].cell.mean, linestyle="--", color=color, label=label)
    if positive:
        axes.set_xscale("log", base=2)
        axes.set_xticks(positive, [str(k) for k in positive])
        axes.minorticks_off()
    axes.set_xlabel("shots per class")
    axes.set_ylabel("accuracy (%)")
    scope = dataset_label(dataset) if dataset else "mean over the biomedical datasets"
    axes.set_title(f"Accuracy vs shots ({backbone}, {scope})")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return save(figure, out, "accuracy_vs_shots")


# ----- sensitivity (Figure 5) ------------------------------------------------------------------------
def plot_sensitivity(runs: Sequence[Run], out: Path, shots: int = 16) -> list[Path]:
    """Heat map of BioMedVR's mean accuracy over datasets by CS loss weight β and margin m (Figure 5).

    ``runs`` are the sensitivity grid's; the best point is outlined, points without runs are blank.
    """
    cells, datasets = sensitivity_cells(runs, shots)
    if not cells:
        raise SkipFigure(f"no finished BioMedVR runs at {shots} shots in the sensitivity grid's folders")
    betas = sorted({beta for beta, _ in cells})
    margins = sorted({margin for _, margin in cells})
    grid = np.full((len(betas), len(margins)), np.nan)
    for (beta, margin), cell in cells.items():
        grid[betas.index(beta), margins.index(margin)] = cell.mean
    figure = Figure(figsize=(1.1 * len(margins) + 2.6, 0.8 * len(betas) + 1.8), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(grid, cmap="viridis", origin="lower", aspect="auto")
    for (row, column), value in np.ndenumerate(grid):
        if not math.isnan(value):
            axes.text(column, row, f"{value:.1f}", ha="center", va="center", color="white", fontsize="small")
    best = np.unravel_index(np.nanargmax(grid), grid.shape)
    axes.add_patch(Rectangle((best[1] - 0.5, best[0] - 0.5), 1, 1, fill=False, edgecolor="red", lw=2))
    axes.set_xticks(range(len(margins)), [f"{m:g}" for m in margins])
    axes.set_yticks(range(len(betas)), [f"{b:g}" for b in betas])
    axes.set_xlabel("margin m")
    axes.set_ylabel("CS loss weight β")
    axes.set_title(f"BioMedVR, {shots} shots: mean over {len(datasets)} datasets (best outlined)")
    figure.colorbar(image, ax=axes, label="accuracy (%)")
    return save(figure, out, "sensitivity")


# ----- experts --------------------------------------------------------------------------------------
def run_checkpoint(folder: Path) -> Path | None:
    """The checkpoint an evaluation of the run uses (trainers/checkpoints.py), or None."""
    try:
        path = resolve_checkpoint(str(folder / MODULE_NAME))
    except CheckpointError:
        return None
    return Path(path) if path is not None and os.path.isfile(path) else None


def load_prompt(path: Path) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """``prompt.delta`` [E, 3, S, S], the optional ``gate_logits`` [E] and the inner size of a checkpoint.

    The inner size is the run's TRAINER.BIOMEDVR.INPUT_SIZE as the checkpoint records it (the default
    for checkpoints that do not).
    """
    try:
        checkpoint = read_checkpoint(str(path))
        state = checkpoint["state_dict"]
        delta = state["prompt.delta"].float()
        inner_size = int(checkpoint.get("input_size", DEFAULT_INPUT_SIZE))
    except (CheckpointError, KeyError, TypeError, AttributeError, ValueError) as error:
        raise SkipFigure(f"cannot read prompt.delta from {path}: {error}") from error
    gate = state.get("gate_logits")
    return delta, None if gate is None else gate.float(), inner_size


def expert_images(delta: torch.Tensor, inner_size: int) -> np.ndarray:
    """sigmoid(delta) of the first two experts on the frame, grey inside: [2, S, S, 3] in [0, 1]."""
    mask = frame_mask(delta.shape[-1], inner_size)
    shown = torch.sigmoid(delta[:2]) * mask + 0.5 * (1 - mask)
    return shown.permute(0, 2, 3, 1).numpy()


def plot_experts(run: Run, out: Path) -> list[Path]:
    """The learned delta+ and delta- of one run, side by side."""
    path = run_checkpoint(run.path)
    if path is None:
        raise SkipFigure(f"no {MODULE_NAME}/model.pth.tar-* in {run.path}")
    delta, gate_logits, inner_size = load_prompt(path)
    if delta.ndim != 4 or delta.shape[0] < 2 or delta.shape[1] != 3 or delta.shape[-1] <= inner_size:
        raise SkipFigure(f"prompt.delta of {path} is {tuple(delta.shape)}, not two frame experts")
    figure = Figure(figsize=(8, 4.6), layout="constrained")
    images = expert_images(delta, inner_size)
    for axes, image, title in zip(figure.subplots(1, 2), images, EXPERT_TITLES, strict=True):
        axes.imshow(image, interpolation="nearest")
        axes.set_title(title)
        axes.set_axis_off()
    caption = (
        f"{dataset_label(run.dataset)}, {run.trainer}, {run.backbone}, {run.shots} shots, seed {run.seed}"
    )
    if gate_logits is not None:
        gate = gate_weights(gate_logits).tolist()
        caption += f"; g+ = {gate[0]:.2f}, g− = {gate[1]:.2f}"
    figure.suptitle(caption, fontsize="medium")
    return save(figure, out, f"experts_{run.dataset}_{run.trainer}_seed{run.seed}")


# ----- gate -----------------------------------------------------------------------------------------
def gate_history(folder: Path) -> list[tuple[int, float, float]]:
    """(epoch, g+, g-) of every ``history.jsonl`` line with gate values; unreadable lines are skipped."""
    path = folder / HISTORY_FILE
    if not path.is_file():
        return []
    series = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            gate = record["gate"]
            series.append((int(record["epoch"]), float(gate["positive"]), float(gate["negative"])))
        except (ValueError, KeyError, TypeError):
            continue
    return series


def plot_gate(runs: Sequence[Run], out: Path) -> list[Path]:
    """g+ and g- over epochs of the runs of one dataset and trainer: one thin line per seed, mean bold."""
    series = {run.seed: gate_history(run.path) for run in runs}
    series = {seed: values for seed, values in series.items() if values}
    if not series:
        raise SkipFigure("no history.jsonl with gate values")
    first = runs[0]
    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    axes = figure.add_subplot()
    for column, (name, color) in enumerate((("g+", "tab:blue"), ("g−", "tab:red")), start=1):
        by_epoch: dict[int, list[float]] = {}
        for values in series.values():
            axes.plot([v[0] for v in values], [v[column] for v in values], color=color, alpha=0.35, lw=1)
            for value in values:
                by_epoch.setdefault(value[0], []).append(value[column])
        epochs = sorted(by_epoch)
        means = [float(np.mean(by_epoch[epoch])) for epoch in epochs]
        axes.plot(epochs, means, color=color, lw=2.5, label=f"{name} (mean of {len(series)} seeds)")
    axes.set_ylim(0, 1)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("gate value")
    axes.set_title(f"Gate softmax(w): {dataset_label(first.dataset)}, {first.trainer}, {first.backbone}")
    axes.grid(alpha=0.3)
    axes.legend()
    return save(figure, out, f"gate_{first.dataset}_{first.trainer}")


# ----- reliability ----------------------------------------------------------------------------------
def pooled_reliability(runs: Sequence[Run]) -> dict[str, np.ndarray] | None:
    """Per-bin confidence and accuracy of runs pooled by count, with the counts; None without data."""
    sums = None
    for run in runs:
        table = (run.metrics or {}).get("reliability") or {}
        try:
            count = np.asarray(table["count"], dtype=float)
            confidence = np.asarray(table["confidence"], dtype=float) * count
            correct = np.asarray(table["accuracy"], dtype=float) * count
        except (KeyError, TypeError, ValueError):
            continue
        if not count.shape == confidence.shape == correct.shape or count.ndim != 1:
            continue
        if sums is None:
            sums = [count, confidence, correct]
        elif sums[0].shape == count.shape:
            sums = [sums[0] + count, sums[1] + confidence, sums[2] + correct]
    if sums is None or sums[0].sum() == 0:
        return None
    safe = np.maximum(sums[0], 1)
    return {"count": sums[0], "confidence": sums[1] / safe, "accuracy": sums[2] / safe}


def plot_reliability(runs: Sequence[Run], out: Path) -> list[Path]:
    """One reliability diagram per method (counts summed over its runs), ECE in each panel's title."""
    by_method: dict[str, list[Run]] = {}
    for run in runs:
        if run.finished:
            by_method.setdefault(run.trainer, []).append(run)
    pooled = {method: pooled_reliability(group) for method, group in by_method.items()}
    pooled = {method: table for method, table in pooled.items() if table is not None}
    if not pooled:
        raise SkipFigure("no metrics.json with a reliability table")
    columns = min(4, len(pooled))
    rows = math.ceil(len(pooled) / columns)
    figure = Figure(figsize=(3.2 * columns, 3.4 * rows), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False).ravel()
    for axes, (method, table) in zip(grid, pooled.items(), strict=False):
        bins = table["count"].size
        centres = (np.arange(bins) + 0.5) / bins
        filled = table["count"] > 0
        ece = calibration_error(Reliability(table["confidence"], table["accuracy"], table["count"]))
        axes.bar(
            centres[filled], table["accuracy"][filled], width=1 / bins, edgecolor="black", label="accuracy"
        )
        axes.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
        axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy")
        axes.set_title(f"{method}: ECE {ece:.2f}% ({len(by_method[method])} runs)", fontsize="medium")
        axes.legend(fontsize="x-small", loc="upper left")
    for axes in grid[len(pooled) :]:
        axes.set_axis_off()
    datasets = ", ".join(dataset_label(d) for d in dict.fromkeys(run.dataset for run in runs if run.finished))
    figure.suptitle(f"Reliability, seeds and datasets pooled: {datasets}", fontsize="medium")
    return save(figure, out, "reliability")


# ----- t-SNE ----------------------------------------------------------------------------------------
def load_embeddings(folder: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Embeddings [N, D], labels [N] and class names of a run's ``embeddings.npz``."""
    path = folder / EMBEDDINGS_FILE
    if not path.is_file():
        raise SkipFigure(f"no embeddings.npz in {folder}")
    try:
        with np.load(path, allow_pickle=False) as data:
            embeddings, labels = data["embeddings"], data["labels"].astype(int)
            names = [str(name) for name in data["classnames"]]
    except (OSError, ValueError, KeyError) as error:
        raise SkipFigure(f"cannot read {path}: {error}") from error
    valid_labels = labels.size == 0 or (labels.min() >= 0 and labels.max() < len(names))
    if embeddings.ndim != 2 or labels.shape != (len(embeddings),) or not valid_labels:
        raise SkipFigure(f"{path} has embeddings {embeddings.shape} and labels that do not match them")
    return embeddings, labels, names


def tsne_points(embeddings: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE of embeddings: perplexity min(30, n - 1), fixed random state, exact gradients for small n."""
    from sklearn.manifold import TSNE  # a slow import that only this figure needs

    method = "exact" if len(embeddings) <= EXACT_TSNE_MAX_POINTS else "barnes_hut"
    perplexity = min(30, len(embeddings) - 1)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", method=method, random_state=seed)
    return tsne.fit_transform(embeddings)


def run_title(folder: Path) -> str:
    run = parse_run_path(folder)
    return str(folder) if run is None else f"{run.trainer} ({run.shots} shots, seed {run.seed})"


def plot_tsne(folders: Sequence[Path], out: Path, name: str) -> list[Path]:
    """t-SNE of the test embeddings of runs side by side, points coloured by class name."""
    data = [load_embeddings(folder) for folder in folders]
    if any(len(embeddings) < 3 for embeddings, _, _ in data):
        raise SkipFigure("fewer than 3 embeddings in a run")
    classnames = list(dict.fromkeys(name for _, _, names in data for name in names))
    colors = colormaps["tab10" if len(classnames) <= 10 else "tab20"]
    figure = Figure(figsize=(5 * len(folders), 5.4), layout="constrained")
    panels = figure.subplots(1, len(folders), squeeze=False).ravel()
    for axes, folder, (embeddings, labels, names) in zip(panels, folders, data, strict=True):
        points = tsne_points(embeddings)
        color_index = np.array([classnames.index(names[label]) for label in labels])
        axes.scatter(points[:, 0], points[:, 1], c=[colors(i % colors.N) for i in color_index], s=12)
        axes.set_title(run_title(folder), fontsize="medium")
        axes.set_xticks([])
        axes.set_yticks([])
    handles = [Patch(color=colors(i % colors.N), label=name) for i, name in enumerate(classnames)]
    figure.legend(
        handles=handles, loc="outside lower center", ncols=min(4, len(classnames)), fontsize="small"
    )
    return save(figure, out, name)


def tsne_pair(runs: Sequence[Run], dataset: str | None = None) -> tuple[str, list[Path]] | None:
    """The first dataset (or ``dataset``) where a reference run and a BioMedVR run have embeddings."""
    with_embeddings = [run for run in runs if (run.path / EMBEDDINGS_FILE).is_file()]
    datasets = dict.fromkeys(run.dataset for run in with_embeddings if dataset in (None, run.dataset))
    for name in datasets:
        of_dataset = [run for run in with_embeddings if run.dataset == name]
        reference = next(
            (run for method in TSNE_REFERENCES for run in of_dataset if run.trainer == method), None
        )
        proposed = next((run for run in of_dataset if run.trainer == PROPOSED), None)
        if reference is not None and proposed is not None:
            return name, [reference.path, proposed.path]
    return None


# ----- command line ---------------------------------------------------------------------------------
def figure_jobs(
    runs: Sequence[Run], args: argparse.Namespace, sensitivity_runs: Sequence[Run] = ()
) -> list[tuple[str, Callable[[], list[Path]]]]:
    """(figure name, function drawing it) for every figure the arguments ask for; the sensitivity heat
    map from the sensitivity grid's runs, when there are some."""
    out = Path(args.out)
    chosen = selected_runs(runs, args.backbone, args.shots, args.dataset)
    jobs: list[tuple[str, Callable[[], list[Path]]]] = [
        (
            "accuracy_vs_shots",
            functools.partial(plot_accuracy_vs_shots, runs, out, args.backbone, args.dataset),
        )
    ]
    experts = [run for run in chosen if run.trainer == PROPOSED and run_checkpoint(run.path) is not None]
    for run in experts if args.all_experts else experts[:1]:
        jobs.append(
            (f"experts_{run.dataset}_{run.trainer}_seed{run.seed}", functools.partial(plot_experts, run, out))
        )
    if not experts:
        jobs.append(
            ("experts", functools.partial(skip, f"no {PROPOSED} run with a checkpoint in the selection"))
        )
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in chosen:
        if gate_history(run.path):
            groups.setdefault((run.dataset, run.trainer), []).append(run)
    for (dataset, trainer), group in groups.items():
        jobs.append((f"gate_{dataset}_{trainer}", functools.partial(plot_gate, group, out)))
    if not groups:
        jobs.append(("gate", functools.partial(skip, "no history.jsonl with gate values in the selection")))
    jobs.append(("reliability", functools.partial(plot_reliability, chosen, out)))
    if sensitivity_runs:
        jobs.append(("sensitivity", functools.partial(plot_sensitivity, sensitivity_runs, out, args.shots)))
    if args.tsne:
        folders = [Path(folder) for folder in args.tsne]
        run = parse_run_path(folders[0])
        name = f"tsne_{run.dataset if run else 'custom'}"
        jobs.append((name, functools.partial(plot_tsne, folders, out, name)))
    elif (pair := tsne_pair(chosen, args.dataset)) is not None:
        jobs.append((f"tsne_{pair[0]}", functools.partial(plot_tsne, pair[1], out, f"tsne_{pair[0]}")))
    else:
        reason = (
            f"no {' or '.join(TSNE_REFERENCES)} run and {PROPOSED} run of one dataset with embeddings.npz"
        )
        jobs.append(("tsne", functools.partial(skip, reason)))
    return jobs


def skip(reason: str) -> list[Path]:
    """A job for a figure that has nothing to draw."""
    raise SkipFigure(reason)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output_dir", help="the output tree (e.g. output/)")
    parser.add_argument("--out", default="figures", help="folder for the PNG and PDF files")
    parser.add_argument("--dataset", help="one dataset (lower-case folder name); default: all")
    parser.add_argument("--backbone", help="backbone folder name (default: vit_b16, else the one found)")
    parser.add_argument(
        "--shots", type=int, help="shots of the per-run figures (default: 16, else the largest)"
    )
    parser.add_argument(
        "--all-experts", action="store_true", help=f"draw the experts of every {PROPOSED} run"
    )
    parser.add_argument("--tsne", nargs=2, metavar="RUN_DIR", help="the two run folders of the t-SNE figure")
    args = parser.parse_args(argv)
    root = Path(args.output_dir)
    if not root.is_dir():
        parser.error(f"not a directory: {root}")
    runs, variant_runs = split_variant_runs(collect_runs(root), root)
    found = found_settings(runs, (FEW_SHOT,))  # the figures show few-shot runs
    if args.backbone is None:
        args.backbone = next(iter(found), "vit_b16")
    if args.shots is None:
        args.shots = default_shots(found.get(args.backbone, []))
    print(
        f"figures of backbone {args.backbone} at {args.shots} shots; finished runs exist for: "
        f"{describe_settings(found) or 'none'}",
        file=sys.stderr,
    )
    for name, job in figure_jobs(runs, args, variant_runs[SENSITIVITY_GRID]):
        try:
            paths = job()
        except SkipFigure as reason:
            print(f"skipped {name}: {str(reason).strip().splitlines()[0]}")
            continue
        print(f"wrote {', '.join(map(str, paths))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
