"""Training time and memory: the published BioMedVR pipeline against this project's fast path.

``python benchmarks/bench_training.py [--backbone tiny|vit_b16|both] [--device cpu|cuda] [--epochs N]
[--smoke] [--out FILE]`` generates a BUSI-sized dataset (3 classes, 16 training shots per class, 236
test images in BUSI's class proportions, about 500x500 pixels, half JPEG and half PNG; ViT-B/16 on a
CPU gets 8 training and 16 test images, batch 8) in a temporary folder and times, on the same data,
banks, model and SGD step:

- ``reference``: the published code's structure. A torch ``DataLoader`` (batch 64 as published, no
  persistent workers, 2 workers as one would set on a 2-core machine; the published
  ``build_loader`` leaves PyTorch's default of 0) over a Dataset that opens every image with PIL on
  every access; the torchvision train transforms (Resize, RandomResizedCrop, flip, ToTensor) every
  epoch; the encoder called once per expert (two calls per batch, fp16 autocast on CUDA as
  published); and a full test pass (Resize, CenterCrop, PIL again) after every epoch, in fp32 as
  published.
- ``fast``: this project's trainer path. Training images decoded once (``decode_all``) into
  ``FastTrainLoader``; all expert views through the encoder in one call
  (``MixtureOfPromptExperts``, bf16 autocast on CUDA, the trainer's default); the test set cached
  once on disk (``open_image_array``, timed separately) and evaluated once, at the end, with
  ``FastEvalLoader``.

Both minimise ``biomedvr_loss`` over curated BUSI attributes (20 per kind, top-3) with SGD (lr 40,
momentum 0.9, cosine schedule). A training epoch and a test pass are each timed as the median over
``--epochs`` epochs after one warm-up epoch. The projected 400-epoch run is
``400 x (train epoch + test pass)`` for the reference and
``decode + cache build + 400 x train epoch + 1 test pass`` for the fast path.

Memory: each pipeline runs in its own child process of this script (``--child``), and reports the
peak resident set size of that process alone: ``VmHWM`` of ``/proc/self/status``, which starts afresh
at ``exec`` (``ru_maxrss`` would carry over the spawning parent's pages), or ``ru_maxrss`` where
there is no ``/proc``. The reference's two loader workers are forked copies of its main process and
are not added. Nothing here asserts a timing; the targets are reported as met or not, and the last
line holds the ratios (reference / fast).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from datasets.catalog import CATALOG  # noqa: E402
from tools.paper import paper_seconds_per_epoch  # noqa: E402
from tools.synthetic_data import make_dataset  # noqa: E402
from trainers.attribute_bank import class_scores, load_attribute_bank  # noqa: E402
from trainers.backbones import load_backbone  # noqa: E402
from trainers.fast_data import (  # noqa: E402
    FastEvalLoader,
    FastTrainLoader,
    decode_all,
    decode_train_image,
    open_image_array,
    pil_transforms,
)
from trainers.losses import biomedvr_loss  # noqa: E402
from trainers.mope import (  # noqa: E402
    MixtureOfPromptExperts,
    PromptExperts,
    Scores,
    fuse,
    gate_weights,
    positive_scores,
)
from trainers.reprogram import PaddingPrompt  # noqa: E402

CLASSNAMES = CATALOG["busi"].classnames
BUSI_TEST_COUNTS = (132, 63, 41)  # BUSI's test split: 236 images
IMAGE_SIZE = (480, 520)  # height, width: about BUSI's 500x500
INPUT_SIZE = 192
INTERPOLATION = "bicubic"
NUM_ATTR, TOP_K = 20, 3
LR, MOMENTUM, CS_WEIGHT, CS_MARGIN = 40.0, 0.9, 0.3, 0.5
PROJECTED_EPOCHS = 400
REFERENCE_WORKERS = 2
THREAD_WORKERS = 2
SEED = 1
PAPER_SECONDS_PER_EPOCH = paper_seconds_per_epoch()  # the paper's Table 2 (tools/paper_numbers.yaml)
TARGETS = {("tiny", "train_epoch"): 10.0, ("vit_b16", "train_epoch"): 1.0, ("tiny", "projected"): 30.0}
BACKBONES = {
    "tiny": (str(REPO / "tests" / "fixtures" / "biomedvr-test-tiny.json"), ""),
    "vit_b16": ("ViT-B/16", "none"),
}


@dataclass(frozen=True)
class Regime:
    """One benchmark setting: backbone, image counts per class and batch sizes."""

    name: str
    train_counts: tuple[int, ...]
    test_counts: tuple[int, ...]
    train_batch: int
    fast_test_batch: int

    @property
    def reference_test_batch(self) -> int:
        """The published loader uses the training batch size for the test set too."""
        return self.train_batch


def regime(name: str, device: str, smoke: bool) -> Regime:
    """BUSI-sized settings; ViT-B/16 on a CPU gets batch 8 and few images to stay within minutes."""
    if smoke:
        return Regime(name, (4, 4, 4), (6, 6, 6), 64, 128)
    if name == "vit_b16" and device == "cpu":
        return Regime(name, (3, 3, 2), (6, 5, 5), 8, 8)
    return Regime(name, (16, 16, 16), BUSI_TEST_COUNTS, 64, 128)


def make_busi_like(root: str, spec: Regime) -> tuple[str, str]:
    """A BiomedCoOp-layout dataset, alternately JPEG and PNG; returns (image dir, split file)."""
    split: dict[str, list[list]] = {"train": [], "val": [], "test": []}
    for key, counts in (("train", spec.train_counts), ("test", spec.test_counts)):
        for label, (name, count) in enumerate(zip(CLASSNAMES, counts, strict=True)):
            for k in range(count):
                suffix = ".jpg" if k % 2 else ".png"
                split[key].append([f"{name.replace(' ', '_')}/{key}_{k}{suffix}", label, name])
    dataset_dir = make_dataset(root, "BUSI", CLASSNAMES, size=IMAGE_SIZE, split=split)
    return os.path.join(dataset_dir, "BUSI"), os.path.join(dataset_dir, "split_BUSI.json")


def read_split(image_dir: str, split_file: str, key: str) -> tuple[list[str], list[int]]:
    with open(split_file) as file:
        items = json.load(file)[key]
    return [os.path.join(image_dir, relative) for relative, _, _ in items], [
        int(label) for _, label, _ in items
    ]


# ----- shared model and step --------------------------------------------------------------------


def build_model(name: str, device: torch.device) -> MixtureOfPromptExperts:
    """BioMedVR: two padding experts, gate, curated BUSI des/dist/confuse banks."""
    backbone = load_backbone(*BACKBONES[name], device=device)
    encode = backbone.encode_text
    banks = {
        kind: load_attribute_bank("curated", "busi", kind, CLASSNAMES, encode, NUM_ATTR).to(device)
        for kind in ("des", "dist", "confuse")
    }
    prompt = PaddingPrompt(2, backbone.image_size, INPUT_SIZE, backbone.mean, backbone.std)
    experts = PromptExperts(prompt, gated=True).to(device)
    return MixtureOfPromptExperts(
        experts,
        backbone,
        [banks["des"], banks["dist"]],
        banks["confuse"],
        TOP_K,
        autocast_dtype=torch.bfloat16,
    )


def reference_scores(model: MixtureOfPromptExperts, images: torch.Tensor) -> Scores:
    """The published ``network()``: both experts' views, then one encoder call per expert.

    As published, training runs under fp16 autocast on CUDA and the test pass in fp32.
    """
    half = model.training and images.is_cuda
    with torch.autocast("cuda", dtype=torch.float16, enabled=half):
        views = model.experts.prompt(images)
        z = [F.normalize(model.backbone.encode_image(view).float(), dim=-1) for view in views]
        banks = model.positive_banks
        positive = positive_scores([class_scores(z[0], bank, model.tau, model.top_k) for bank in banks])
        negative = class_scores(z[1], model.negative_bank, model.tau, model.top_k)
        gate = gate_weights(model.experts.gate_logits)
        return Scores(positive, negative, fuse(positive, negative, gate), gate)


class Trainer:
    """The SGD step both pipelines share; ``forward`` is either scoring path."""

    def __init__(
        self, model: MixtureOfPromptExperts, forward: Callable[[torch.Tensor], Scores], batches_per_epoch: int
    ) -> None:
        self.forward = forward
        self.optim = torch.optim.SGD(model.experts.parameters(), lr=LR, momentum=MOMENTUM)
        total = PROJECTED_EPOCHS * batches_per_epoch
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.optim, T_max=total)

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        scores = self.forward(images)
        loss, _ = biomedvr_loss(scores.positive, scores.negative, scores.fused, labels, CS_WEIGHT, CS_MARGIN)
        self.optim.zero_grad()
        loss.backward()
        self.optim.step()
        self.sched.step()

    @torch.no_grad()
    def correct(self, images: torch.Tensor, labels: torch.Tensor) -> int:
        return int((self.forward(images).fused.argmax(dim=-1) == labels).sum())


# ----- the two pipelines ------------------------------------------------------------------------


class PilImages(Dataset):
    """The published ``SimpleImageDataset``: open the file with PIL on every access, then transform."""

    def __init__(self, paths: Sequence[str], labels: Sequence[int], transform: Callable) -> None:
        self.paths, self.labels, self.transform = list(paths), list(labels), transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.open(self.paths[index]).convert("RGB")), self.labels[index]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, work: Callable[[], object]) -> float:
    synchronize(device)
    start = time.perf_counter()
    work()
    synchronize(device)
    return time.perf_counter() - start


def run_reference(
    spec: Regime, image_dir: str, split_file: str, device: torch.device, epochs: int, warmup: int
) -> dict[str, float]:
    """Train with PIL loaders and two encoder calls; test after every epoch."""
    model = build_model(spec.name, device)
    train_paths, train_labels = read_split(image_dir, split_file, "train")
    test_paths, test_labels = read_split(image_dir, split_file, "test")
    train_loader = DataLoader(
        PilImages(train_paths, train_labels, pil_transforms(INPUT_SIZE, train=True)),
        batch_size=spec.train_batch,
        shuffle=True,
        num_workers=REFERENCE_WORKERS,
    )
    test_loader = DataLoader(
        PilImages(test_paths, test_labels, pil_transforms(INPUT_SIZE, train=False)),
        batch_size=spec.reference_test_batch,
        num_workers=REFERENCE_WORKERS,
    )
    trainer = Trainer(model, lambda images: reference_scores(model, images), len(train_loader))

    def train_epoch() -> None:
        model.train()
        for images, labels in train_loader:
            trainer.step(images.to(device), labels.to(device))

    def test_pass() -> None:
        model.eval()
        for images, labels in test_loader:
            trainer.correct(images.to(device), labels.to(device))

    train_times, test_times = [], []
    for epoch in range(warmup + epochs):
        train_s, test_s = timed(device, train_epoch), timed(device, test_pass)
        if epoch >= warmup:
            train_times.append(train_s)
            test_times.append(test_s)
    train_epoch_s, test_pass_s = statistics.median(train_times), statistics.median(test_times)
    return {
        "train_epoch_s": train_epoch_s,
        "test_pass_s": test_pass_s,
        "projected_s": PROJECTED_EPOCHS * (train_epoch_s + test_pass_s),
    }


def run_fast(
    spec: Regime, image_dir: str, split_file: str, device: torch.device, epochs: int, warmup: int
) -> dict[str, float]:
    """Decode once, augment tensors, one encoder call per batch; test once from the on-disk cache."""
    model = build_model(spec.name, device)
    train_paths, train_labels = read_split(image_dir, split_file, "train")
    test_paths, test_labels = read_split(image_dir, split_file, "test")
    images: list[torch.Tensor] = []

    def decode() -> None:
        decoded = decode_all(
            train_paths, decode_train_image, INPUT_SIZE, INTERPOLATION, THREAD_WORKERS, "Decoding"
        )
        images.extend(image.to(device) for image in decoded)

    decode_s = timed(device, decode)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(image_dir)) as cache_dir:
        start = time.perf_counter()
        array = open_image_array(
            cache_dir, "test", test_paths, test_labels, INPUT_SIZE, INTERPOLATION, split_file, THREAD_WORKERS
        )
        cache_s = time.perf_counter() - start
        train_loader = FastTrainLoader(images, train_labels, spec.train_batch, INPUT_SIZE, seed=SEED)
        test_loader = FastEvalLoader(array, test_labels, spec.fast_test_batch, pin=device.type == "cuda")
        trainer = Trainer(model, model, len(train_loader))

        def train_epoch() -> None:
            model.train()
            for batch in train_loader:
                trainer.step(batch["img"], batch["label"])

        def test_pass() -> None:
            model.eval()
            for batch in test_loader:
                pixels = batch["img"].to(device, non_blocking=True).float().div_(255)
                trainer.correct(pixels, batch["label"].to(device, non_blocking=True))

        train_times = []
        for epoch in range(warmup + epochs):
            train_loader.set_epoch(epoch)
            train_s = timed(device, train_epoch)
            if epoch >= warmup:
                train_times.append(train_s)
        test_times = [timed(device, test_pass) for _ in range(epochs)]
    train_epoch_s, test_pass_s = statistics.median(train_times), statistics.median(test_times)
    return {
        "train_epoch_s": train_epoch_s,
        "test_pass_s": test_pass_s,
        "decode_s": decode_s,
        "cache_build_s": cache_s,
        "projected_s": decode_s + cache_s + PROJECTED_EPOCHS * train_epoch_s + test_pass_s,
    }


def peak_rss_mib() -> float:
    """Peak resident set size of this process, in MiB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def child_main(args: argparse.Namespace) -> int:
    """Run one pipeline in this process and write its numbers, with this process's peak RSS, as JSON."""
    torch.manual_seed(SEED)
    spec = Regime(**json.loads(args.regime_json))
    run = run_reference if args.child == "reference" else run_fast
    result = run(spec, args.image_dir, args.split_file, torch.device(args.device), args.epochs, args.warmup)
    result["peak_rss_mib"] = peak_rss_mib()
    with open(args.child_out, "w") as file:
        json.dump(result, file)
    return 0


# ----- the parent: data, children, report --------------------------------------------------------


def run_child(kind: str, spec: Regime, image_dir: str, split_file: str, args: argparse.Namespace) -> dict:
    """Run one pipeline in a fresh child process and read back its numbers."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child", kind,
        "--regime-json", json.dumps(asdict(spec)),
        "--image-dir", image_dir,
        "--split-file", split_file,
        "--device", args.device,
        "--epochs", str(args.epochs),
        "--warmup", str(args.warmup),
        "--child-out", out,
    ]  # fmt: skip
    env = {**os.environ, "TQDM_DISABLE": "1"}
    finished = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    try:
        if finished.returncode != 0:
            sys.stderr.write(finished.stdout + finished.stderr)
            raise RuntimeError(f"the {kind} pipeline failed with exit status {finished.returncode}")
        with open(out) as file:
            return json.load(file)
    finally:
        os.remove(out)


def ratio(reference: float, fast: float) -> float:
    return reference / fast if fast > 0 else float("inf")


def report_regime(name: str, spec: Regime, reference: dict, fast: dict, device: str) -> dict:
    """Print one regime's table; return its ratios and whether each target was met."""
    ratios = {
        "train_epoch": ratio(reference["train_epoch_s"], fast["train_epoch_s"]),
        "test_pass": ratio(reference["test_pass_s"], fast["test_pass_s"]),
        "projected": ratio(reference["projected_s"], fast["projected_s"]),
        "peak_rss": ratio(reference["peak_rss_mib"], fast["peak_rss_mib"]),
    }
    targets = {}
    for (target_regime, key), minimum in TARGETS.items():
        if target_regime == name and device == "cpu":
            targets[key] = {"minimum": minimum, "met": ratios[key] >= minimum}

    def note(key: str) -> str:
        if key not in targets:
            return ""
        return f"  target >= {targets[key]['minimum']:g}x: {'met' if targets[key]['met'] else 'NOT met'}"

    print(
        f"\n== {name}: {sum(spec.train_counts)} train / {sum(spec.test_counts)} test images, "
        f"batch {spec.train_batch} (test: {spec.reference_test_batch} reference, "
        f"{spec.fast_test_batch} fast) =="
    )
    print(f"{'':34}{'reference':>12}{'fast':>12}{'ratio':>10}")
    rows = [
        ("train epoch (s, median)", "train_epoch_s", "train_epoch"),
        ("test pass (s, median)", "test_pass_s", "test_pass"),
        (f"projected {PROJECTED_EPOCHS}-epoch run (s)", "projected_s", "projected"),
        ("peak RSS, main process (MiB)", "peak_rss_mib", "peak_rss"),
    ]
    for label, key, ratio_key in rows:
        print(f"{label:34}{reference[key]:12.3f}{fast[key]:12.3f}{ratios[ratio_key]:9.2f}x{note(ratio_key)}")
    print(f"{'decode train images once (s)':34}{'-':>12}{fast['decode_s']:12.3f}")
    print(f"{'build the test-set cache once (s)':34}{'-':>12}{fast['cache_build_s']:12.3f}")
    if name == "vit_b16" and device == "cuda":
        print(
            f"ViT-B/16 on CUDA: {fast['train_epoch_s']:.3f} s per training epoch (fast), "
            f"{reference['train_epoch_s'] + reference['test_pass_s']:.3f} s per epoch with its test pass "
            f"(reference); projected {PROJECTED_EPOCHS} epochs: {fast['projected_s']:.1f} s (fast), "
            f"{reference['projected_s']:.1f} s (reference); the paper reports "
            f"{PAPER_SECONDS_PER_EPOCH:.2f} s/epoch on BUSI"
        )
    return {"ratios": ratios, "targets": targets}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backbone", choices=("tiny", "vit_b16", "both"), default="both")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up epoch")
    parser.add_argument("--smoke", action="store_true", help="1 epoch, no warm-up, tiny backbone, few images")
    parser.add_argument("--out", help="also write the numbers to this JSON file")
    child = parser.add_argument_group("internal: one pipeline in a child process")
    child.add_argument("--child", choices=("reference", "fast"), help=argparse.SUPPRESS)
    child.add_argument("--regime-json", help=argparse.SUPPRESS)
    child.add_argument("--image-dir", help=argparse.SUPPRESS)
    child.add_argument("--split-file", help=argparse.SUPPRESS)
    child.add_argument("--warmup", type=int, default=1, help=argparse.SUPPRESS)
    child.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    if args.smoke:
        args.backbone, args.epochs, args.warmup = "tiny", 1, 0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    names = ("tiny", "vit_b16") if args.backbone == "both" else (args.backbone,)
    print(
        f"BioMedVR training benchmark on {args.device} ({torch.get_num_threads()} threads): reference "
        f"(PIL DataLoader, {REFERENCE_WORKERS} workers, two encoder calls, test every epoch) vs fast "
        f"(decode once, one encoder call, test once from the cache); {args.epochs} timed epoch(s)"
        + (f" after {args.warmup} warm-up" if args.warmup else "")
    )
    results: dict = {"device": args.device, "epochs": args.epochs, "regimes": {}}
    with tempfile.TemporaryDirectory(prefix="bench-busi-") as root:
        for name in names:
            spec = regime(name, args.device, args.smoke)
            image_dir, split_file = make_busi_like(os.path.join(root, name), spec)
            reference = run_child("reference", spec, image_dir, split_file, args)
            fast = run_child("fast", spec, image_dir, split_file, args)
            summary = report_regime(name, spec, reference, fast, args.device)
            results["regimes"][name] = {
                "regime": asdict(spec),
                "reference": reference,
                "fast": fast,
                **summary,
            }
    if args.out:
        with open(args.out, "w") as file:
            json.dump(results, file, indent=2)
    parts = [
        f"{name} train epoch {entry['ratios']['train_epoch']:.2f}x, {PROJECTED_EPOCHS} epochs "
        f"{entry['ratios']['projected']:.2f}x, peak RSS {entry['ratios']['peak_rss']:.2f}x"
        for name, entry in results["regimes"].items()
    ]
    print("ratio (reference / fast): " + "; ".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
