"""The fast data path against the torchvision/PIL pipeline: pixels, logits, augmentation, cache, memory."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F
from torchvision import transforms as T

import trainers.fast_data as fast_data
from datasets import atomic
from datasets.images import ImageReadError
from tools.synthetic_data import synthetic_image
from trainers.attribute_bank import AttributeBank, build_bank
from trainers.fast_data import (
    FastEvalLoader,
    FastTrainLoader,
    augment_batch,
    decode_eval_image,
    decode_train_image,
    epoch_generator,
    open_image_array,
    pil_transforms,
    random_resized_crop_box,
)
from trainers.mope import MixtureOfPromptExperts, PromptExperts
from trainers.reprogram import PaddingPrompt

INPUT = 192
TOP_K = 2
BICUBIC = T.InterpolationMode.BICUBIC
# (file name, height, width, PIL mode): aspect ratios on both sides of 1, up- and downsampling, grayscale.
IMAGES = (
    ("wide.png", 230, 300, "RGB"),
    ("tall.jpg", 310, 200, "RGB"),
    ("gray.png", 200, 250, "L"),
    ("small.jpg", 150, 170, "RGB"),
)
SQUARE_IMAGES = (("big.png", 256, 256, "RGB"), ("exact.jpg", 192, 192, "RGB"), ("up.png", 160, 160, "L"))


def write_images(folder, specs) -> list[str]:
    """Generated images (stripes and noise) saved in the given sizes, modes and formats."""
    rng = np.random.default_rng(0)
    paths = []
    for index, (name, height, width, mode) in enumerate(specs):
        path = os.path.join(folder, name)
        Image.fromarray(synthetic_image(index % 3, index, (height, width), rng)).convert(mode).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def image_paths(tmp_path_factory) -> list[str]:
    return write_images(tmp_path_factory.mktemp("images"), IMAGES)


@pytest.fixture(scope="module")
def square_paths(tmp_path_factory) -> list[str]:
    return write_images(tmp_path_factory.mktemp("square"), SQUARE_IMAGES)


def torchvision_pixels(path: str, steps: list) -> torch.Tensor:
    """The reference: PIL image -> torchvision transforms -> ToTensor, scaled back to 0-255."""
    with Image.open(path) as image:
        return T.Compose([*steps, T.ToTensor()])(image.convert("RGB")) * 255


def pil_batch(paths: list[str], transform) -> torch.Tensor:
    images = []
    for path in paths:
        with Image.open(path) as image:
            images.append(transform(image.convert("RGB")))
    return torch.stack(images)


# ----- resizing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [192, 224])
@pytest.mark.parametrize("index", range(len(IMAGES)))
def test_decoded_images_equal_pil_bicubic_resize(image_paths, index, size):
    path = image_paths[index]
    expected_eval = torchvision_pixels(path, [T.Resize(size, interpolation=BICUBIC), T.CenterCrop(size)])
    expected_train = torchvision_pixels(path, [T.Resize(size, interpolation=BICUBIC)])
    for got, expected in (
        (decode_eval_image(path, size), expected_eval),
        (decode_train_image(path, size), expected_train),
    ):
        assert got.dtype == torch.uint8
        assert got.shape == expected.shape
        assert (got.float() - expected).abs().max() <= 1


def test_cached_array_equals_pil_bicubic_resize(image_paths, tmp_path):
    split = tmp_path / "split.json"
    split.write_text("{}")
    labels = [0] * len(image_paths)
    array = open_image_array(
        str(tmp_path / "cache"), "test", image_paths, labels, INPUT, "bicubic", str(split)
    )
    steps = [T.Resize(INPUT, interpolation=BICUBIC), T.CenterCrop(INPUT)]
    expected = torch.stack([torchvision_pixels(path, steps) for path in image_paths])
    assert array.dtype == np.uint8 and array.shape == (len(image_paths), 3, INPUT, INPUT)
    assert (torch.from_numpy(np.array(array)).float() - expected).abs().max() <= 1


# ----- logits of the fast path against the straightforward one --------------------------------------


@pytest.fixture(scope="module")
def mixture(tiny_backbone) -> MixtureOfPromptExperts:
    """BioMedVR on the tiny backbone with non-zero, different expert patterns and an uneven gate."""
    banks = {
        kind: build_bank(
            [[f"a {kind} attribute number {k} of class {c}" for k in range(4)] for c in range(3)],
            tiny_backbone.encode_text,
        )
        for kind in ("des", "dist", "confuse")
    }
    prompt = PaddingPrompt(2, tiny_backbone.image_size, INPUT, tiny_backbone.mean, tiny_backbone.std)
    with torch.no_grad():
        prompt.delta.copy_(torch.randn(prompt.delta.shape, generator=torch.Generator().manual_seed(0)) * 2)
    experts = PromptExperts(prompt, gated=True, gate_init=(0.7, -0.4))
    model = MixtureOfPromptExperts(
        experts, tiny_backbone, [banks["des"], banks["dist"]], banks["confuse"], TOP_K
    )
    return model.eval()


def reference_top_k(z: torch.Tensor, bank: AttributeBank, tau: float) -> torch.Tensor:
    """The published getLogits: per class, the mean of the k largest tau * z.t."""
    sims = tau * torch.einsum("bd,cad->bca", z, bank.embeddings)
    return sims.sort(dim=-1, descending=True).values[..., :TOP_K].mean(dim=-1)


@torch.no_grad()
def straightforward_logits(model: MixtureOfPromptExperts, images: torch.Tensor) -> torch.Tensor:
    """The reference structure: pad, sigmoid(delta_e) on the frame, normalize; one encoder call per expert."""
    backbone, delta = model.backbone, model.experts.prompt.delta
    size, inner = backbone.image_size, images.shape[-1]
    before, after = (size - inner + 1) // 2, (size - inner) // 2
    frame = torch.ones(3, size, size)
    frame[:, before : before + inner, before : before + inner] = 0
    normalize = T.Normalize(backbone.mean, backbone.std)
    z = []
    for expert in range(2):
        view = normalize(F.pad(images, (before, after, before, after)) + torch.sigmoid(delta[expert]) * frame)
        z.append(F.normalize(backbone.encode_image(view), dim=-1))
    tau = backbone.logit_scale
    des, dist = model.positive_banks
    positive = 0.5 * (reference_top_k(z[0], des, tau) + reference_top_k(z[0], dist, tau))
    negative = reference_top_k(z[1], model.negative_bank, tau)
    gate = torch.softmax(model.experts.gate_logits, dim=0)
    return gate[0] * positive + gate[1] * negative


def assert_relative(got: torch.Tensor, expected: torch.Tensor, tolerance: float = 1e-5) -> None:
    scale = expected.abs().max().item()
    torch.testing.assert_close(got, expected, rtol=tolerance, atol=tolerance * scale)


def test_fast_eval_logits_equal_the_straightforward_path(mixture, image_paths, tmp_path):
    split = tmp_path / "split.json"
    split.write_text("{}")
    labels = [0, 1, 2, 0]
    array = open_image_array(
        str(tmp_path / "cache"), "test", image_paths, labels, INPUT, "bicubic", str(split)
    )
    with torch.no_grad():
        fast = torch.cat(
            [
                mixture(batch["img"].float().div(255)).fused
                for batch in FastEvalLoader(array, labels, 3, pin=False)
            ]
        )
    slow = straightforward_logits(mixture, pil_batch(image_paths, pil_transforms(INPUT, train=False)))
    assert fast.shape == (len(image_paths), 3)
    assert_relative(fast, slow)


def test_fast_train_batches_without_augmentation_equal_the_pil_path(mixture, square_paths):
    images = [decode_train_image(path, INPUT) for path in square_paths]
    indices = list(range(len(images)))
    loader = FastTrainLoader(images, indices, batch_size=len(images), size=INPUT, seed=3, augment=False)
    batch = next(iter(loader))
    order = [square_paths[k] for k in batch["label"].tolist()]
    expected = pil_batch(order, pil_transforms(INPUT, train=True, augment=False))
    assert batch["img"].dtype == torch.float32
    torch.testing.assert_close(batch["img"], expected, rtol=0, atol=1e-6)
    with torch.no_grad():
        assert_relative(mixture(batch["img"]).fused, straightforward_logits(mixture, expected))


# ----- augmentation ---------------------------------------------------------------------------------


def within_crop_ranges(height: int, width: int, area: int) -> bool:
    """Area fraction in [0.08, 1] and aspect ratio in [3/4, 4/3] up to the rounding of h and w."""
    ratio_fits = (width + 0.5) / (height - 0.5) >= 3 / 4 and (width - 0.5) / (height + 0.5) <= 4 / 3
    return ratio_fits and (height + 0.5) * (width + 0.5) >= 0.08 * area


@pytest.mark.parametrize(("height", "width"), [(192, 192), (192, 300), (400, 192), (17, 23)])
def test_random_resized_crop_boxes_lie_inside_with_torchvision_ranges(height, width):
    generator = epoch_generator(5, 0)
    for _ in range(500):
        i, j, h, w = random_resized_crop_box(height, width, generator)
        assert h > 0 and w > 0 and 0 <= i <= height - h and 0 <= j <= width - w
        assert within_crop_ranges(h, w, height * width)


def test_random_resized_crop_falls_back_to_a_centred_crop():
    """No 4/3 box of 8 % area fits a 20x400 strip: the fallback is the centred 20x27 box."""
    assert random_resized_crop_box(20, 400, epoch_generator(0, 0)) == (0, (400 - 27) // 2, 20, 27)


def test_crop_boxes_depend_on_seed_and_epoch_only():
    def boxes(seed: int, epoch: int) -> list[tuple[int, int, int, int]]:
        generator = epoch_generator(seed, epoch)
        return [random_resized_crop_box(192, 256, generator) for _ in range(20)]

    assert boxes(1, 0) == boxes(1, 0)
    assert boxes(1, 0) != boxes(1, 1)
    assert boxes(1, 0) != boxes(2, 0)


def test_augmented_batches_are_reproducible_per_epoch_and_in_range():
    images = [torch.randint(0, 256, (3, 40 + k, 50), dtype=torch.uint8) for k in range(6)]
    loader = FastTrainLoader(images, range(6), batch_size=4, size=32, seed=7)
    first = [batch["img"] for batch in loader]
    again = [batch["img"] for batch in FastTrainLoader(images, range(6), batch_size=4, size=32, seed=7)]
    loader.set_epoch(1)
    later = [batch["img"] for batch in loader]
    assert [batch.shape[0] for batch in first] == [4, 2]  # the last, incomplete batch is kept
    assert first[0].shape == (4, 3, 32, 32) and first[0].dtype == torch.float32
    dassl_rule = FastTrainLoader(images, range(6), batch_size=4, size=32, seed=7, drop_last=True)
    assert len(dassl_rule) == 1 and [batch["img"].shape[0] for batch in dassl_rule] == [4]
    assert first[0].min() >= 0 and first[0].max() <= 1
    torch.testing.assert_close(first[0], again[0], rtol=0, atol=0)
    assert not torch.equal(first[0], later[0])


@pytest.mark.parametrize("augment", [True, False], ids=["augmented", "centre-cropped"])
def test_white_and_black_pixels_become_exactly_one_and_zero(augment):
    """ToTensor's scale: uint8 255 is 1.0 and 0 is 0.0, whatever the crop and resize (up or down)."""
    sizes = [(40, 50), (96, 40), (64, 33), (32, 32)]
    images = [torch.full((3, h, w), 255 * (k % 2), dtype=torch.uint8) for k, (h, w) in enumerate(sizes)]
    loader = FastTrainLoader(images, range(len(images)), batch_size=4, size=32, seed=0, augment=augment)
    (batch,) = list(loader)
    expected = (batch["label"] % 2).float().view(-1, 1, 1, 1).expand(-1, 3, 32, 32)
    torch.testing.assert_close(batch["img"], expected, rtol=0, atol=0)


def test_about_half_of_the_crops_are_flipped():
    """On a left-to-right ramp, a flipped crop is brighter on its left half."""
    ramp = torch.linspace(0, 255, 60).round().to(torch.uint8).expand(3, 40, 60).contiguous()
    batch = augment_batch([ramp] * 400, 24, epoch_generator(0, 0))
    flipped = batch[..., :12].mean(dim=(1, 2, 3)) > batch[..., 12:].mean(dim=(1, 2, 3))
    assert 0.4 < flipped.float().mean().item() < 0.6


# ----- the eval cache ----------------------------------------------------------------------------------


class CountingDecoder:
    """Stands in for ``decode_eval_image`` and counts the images it decodes."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, path: str, size: int, interpolation: str = "bicubic") -> torch.Tensor:
        self.calls += 1
        return decode_eval_image(path, size, interpolation)


@pytest.fixture
def cache(image_paths, tmp_path, monkeypatch):
    """Open the eval cache of the test images (64 px), counting decodes; returns (open, decoder, split)."""
    decoder = CountingDecoder()
    monkeypatch.setattr(fast_data, "decode_eval_image", decoder)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"test": [[path, 0, "a"] for path in image_paths]}))
    labels = [0] * len(image_paths)

    def open_cache() -> np.ndarray:
        return open_image_array(
            str(tmp_path / "cache"), "test", image_paths, labels, 64, "bicubic", str(split), 1
        )

    return open_cache, decoder, split


def data_offset(path: str) -> int:
    """Where the array's bytes start in a .npy file."""
    with open(path, "rb") as file:
        major, _ = np.lib.format.read_magic(file)
        read_header = (
            np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        )
        read_header(file)
        return file.tell()


def first_cache_file(split) -> str:
    (path,) = [p for p in (split.parent / "cache").iterdir() if p.suffix == ".npy"]
    return str(path)


def test_cache_is_reused_until_the_split_file_changes(cache, capsys):
    open_cache, decoder, split = cache
    first = np.array(open_cache())
    built = decoder.calls
    assert built == len(IMAGES)
    mtime = os.path.getmtime(first_cache_file(split))
    np.testing.assert_array_equal(open_cache(), first)
    assert decoder.calls == built
    assert os.path.getmtime(first_cache_file(split)) == mtime
    split.write_text(split.read_text() + "\n")
    np.testing.assert_array_equal(open_cache(), first)
    assert decoder.calls == 2 * built
    assert "out of date" in capsys.readouterr().out


def test_cache_of_other_images_with_the_same_count_and_labels_is_rebuilt(image_paths, square_paths, tmp_path):
    """Base-to-novel: the ``new`` test images must not be served from the ``base`` images' cache."""
    split = tmp_path / "split.json"
    split.write_text("{}")
    labels = [0, 1, 2]

    def open_cache(paths: list[str]) -> np.ndarray:
        return np.array(
            open_image_array(str(tmp_path / "cache"), "test", paths, labels, 64, "bicubic", str(split))
        )

    first, second = open_cache(image_paths[:3]), open_cache(square_paths)
    expected = np.stack([decode_eval_image(path, 64).numpy() for path in square_paths])
    np.testing.assert_array_equal(second, expected)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(open_cache(image_paths[:3]), first)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_cache_is_detected_and_rebuilt(cache, capsys, damage):
    open_cache, decoder, split = cache
    first = np.array(open_cache())
    path = first_cache_file(split)
    offset = data_offset(path)
    with open(path, "r+b") as file:
        if damage == "flip":
            file.seek(offset + 1000)
            byte = file.read(1)[0]
            file.seek(offset + 1000)
            file.write(bytes([byte ^ 0xFF]))
        else:
            file.truncate(offset + first.nbytes // 2)
    capsys.readouterr()
    np.testing.assert_array_equal(open_cache(), first)
    assert "corrupted" in capsys.readouterr().out
    assert decoder.calls == 2 * len(IMAGES)
    open_cache()
    assert decoder.calls == 2 * len(IMAGES)


def test_cache_is_rebuilt_when_pixels_change_with_the_same_size_and_mtime(tmp_path):
    paths = [str(tmp_path / "image.bmp")]  # uncompressed: other pixels, same file size
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 80, 3), dtype=np.uint8)).save(paths[0])
    split = tmp_path / "split.json"
    split.write_text("{}")
    cache = str(tmp_path / "cache")
    first = np.array(open_image_array(cache, "test", paths, [0], 64, "bicubic", str(split)))
    info = os.stat(paths[0])
    time.sleep(0.05)  # file times advance in ticks of a few milliseconds
    with Image.open(paths[0]) as image:
        pixels = 255 - np.asarray(image)
    Image.fromarray(pixels).save(paths[0])
    assert os.path.getsize(paths[0]) == info.st_size
    os.utime(paths[0], ns=(info.st_atime_ns, info.st_mtime_ns))
    second = np.array(
        open_image_array(str(tmp_path / "cache"), "test", paths, [0], 64, "bicubic", str(split))
    )
    np.testing.assert_array_equal(second, 255 - first)


def test_a_cache_that_does_not_fit_on_its_disk_is_refused_before_writing(image_paths, tmp_path, monkeypatch):
    free = 10_000
    monkeypatch.setattr(
        shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - free, free)
    )
    split = tmp_path / "split.json"
    split.write_text("{}")
    cache = tmp_path / "cache"
    needed = len(IMAGES) * 3 * 64 * 64 + fast_data.CACHE_HEADER_BYTES
    mount = atomic.mount_point(str(tmp_path))
    message = f"no space left on {mount} (needed {-(-needed // 2**20)} MB) to write {cache}"
    with pytest.raises(atomic.NoSpaceError, match=re.escape(message)):
        open_image_array(str(cache), "test", image_paths, [0] * len(IMAGES), 64, "bicubic", str(split))
    assert not cache.exists() or list(cache.iterdir()) == []


def test_a_disk_that_fills_while_writing_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "out" / "file.bin"
    full = pytest.raises(atomic.NoSpaceError, match=r"no space left on .* \(needed more than 1 MB\)")
    with full, atomic.atomic_path(target) as temporary:
        Path(temporary).write_bytes(b"x" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")
    assert list(target.parent.iterdir()) == []


def test_a_checkpoint_that_does_not_fit_is_refused_and_leaves_nothing(tmp_path, monkeypatch):
    from trainers.checkpoints import save_state

    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 100))
    path = tmp_path / "prompt_learner" / "model.pth.tar-1"
    with pytest.raises(atomic.NoSpaceError, match=r"no space left on .* \(needed 1 MB\) to write .*tar-1"):
        save_state(str(path), {"state_dict": {"w": torch.zeros(1000)}})
    assert not path.parent.exists() or list(path.parent.iterdir()) == []


def peak_traced_bytes_of_a_pass(folder, count: int) -> tuple[int, int]:
    """Traced peak of one FastEvalLoader pass over a memory-mapped array of ``count`` images, and its size."""
    path = os.path.join(folder, f"images-{count}.npy")
    written = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(count, 3, 96, 96))
    written[:] = np.arange(count, dtype=np.uint8)[:, None, None, None]
    written.flush()
    del written
    images = np.load(path, mmap_mode="r")
    loader = FastEvalLoader(images, [0] * count, batch_size=32, pin=False)
    seen = 0
    tracemalloc.start()
    try:
        for batch in loader:
            seen += batch["img"].shape[0]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count
    return peak, images.nbytes


def test_test_pass_memory_does_not_grow_with_the_test_set(tmp_path):
    small_peak, _ = peak_traced_bytes_of_a_pass(tmp_path, 64)
    large_peak, large_size = peak_traced_bytes_of_a_pass(tmp_path, 640)
    assert large_peak <= 2 * small_peak
    assert large_peak < large_size / 4


# ----- loader length and coverage, as Dassl's ---------------------------------------------------------


def flat_images(count: int) -> list[torch.Tensor]:
    return [torch.full((3, 8, 8), k, dtype=torch.uint8) for k in range(count)]


def test_train_loader_keeps_the_last_partial_batch_unless_told_to_drop_it():
    loader = FastTrainLoader(flat_images(50), range(50), batch_size=16, size=8, seed=0)
    batches = list(loader)
    assert len(loader) == len(batches) == 4
    assert [batch["img"].shape[0] for batch in batches] == [16, 16, 16, 2]
    assert sorted(torch.cat([batch["label"] for batch in batches]).tolist()) == list(range(50))
    dassl = FastTrainLoader(flat_images(50), range(50), batch_size=16, size=8, seed=0, drop_last=True)
    batches = list(dassl)
    assert len(dassl) == len(batches) == 3
    assert all(batch["img"].shape == (16, 3, 8, 8) for batch in batches)
    assert torch.cat([batch["label"] for batch in batches]).unique().numel() == 48


def test_train_loader_yields_every_image_once_when_smaller_than_a_batch():
    loader = FastTrainLoader(flat_images(10), range(10), batch_size=16, size=8, seed=0)
    batches = list(loader)
    assert len(loader) == len(batches) == 1
    assert sorted(batches[0]["label"].tolist()) == list(range(10))


def test_a_crop_resized_on_tensors_matches_pil_within_two_grey_levels(image_paths):
    """The fast augmentation resizes each crop as torchvision's RandomResizedCrop does on PIL images."""
    from trainers.fast_data import resize_crop

    image = Image.open(image_paths[0]).convert("RGB")
    tensor = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)
    i, j, h, w = 10, 20, 90, 120
    ours = resize_crop(tensor[:, i : i + h, j : j + w], 192, "bicubic").int()
    pil = image.crop((j, i, j + w, i + h)).resize((192, 192), Image.BICUBIC)
    theirs = torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1).int()
    assert (ours - theirs).abs().max() <= 2


def test_an_undecodable_training_image_is_named(tmp_path):
    from datasets.images import ImageReadError
    from trainers.fast_data import decode_all, decode_train_image

    broken = tmp_path / "broken_scan.png"
    broken.write_bytes(b"\x89PNG but not really")
    with pytest.raises(ImageReadError, match=r"broken_scan\.png"):
        decode_all([str(broken)], decode_train_image, 192, "bicubic", 2, "Decoding train")


def test_an_image_replaced_in_place_rebuilds_the_cache(tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    path = folder / "a.png"
    Image.fromarray(np.full((40, 40, 3), 10, np.uint8)).save(path)
    split = tmp_path / "split.json"
    split.write_text("{}")

    def open_cache() -> np.ndarray:
        return open_image_array(
            str(tmp_path / "cache"), "test", [str(path)], [0], 32, "bicubic", str(split), 1
        )

    assert int(open_cache()[0].max()) == 10
    Image.fromarray(np.full((40, 40, 3), 200, np.uint8)).save(path)  # same path and size, new pixels
    assert int(open_cache()[0].min()) == 200
    assert "out of date" in capsys.readouterr().out


@pytest.mark.parametrize("damage", [b"", b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_a_damaged_cache_record_is_stale_not_fatal(cache, capsys, damage):
    open_cache, decoder, split = cache
    first = np.array(open_cache())
    meta = first_cache_file(split) + ".json"
    with open(meta, "wb") as file:
        file.write(damage)
    np.testing.assert_array_equal(open_cache(), first)
    assert decoder.calls == 2 * len(IMAGES)
    open_cache()
    assert decoder.calls == 2 * len(IMAGES)


def test_a_failed_cache_build_names_the_image_and_leaves_no_temporary_file(image_paths, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    split = tmp_path / "split.json"
    split.write_text("{}")
    paths = [*image_paths, str(broken)]
    with pytest.raises(ImageReadError, match=re.escape(str(broken))):
        open_image_array(
            str(tmp_path / "cache"), "test", paths, [0] * len(paths), 32, "bicubic", str(split), 1
        )
    assert list((tmp_path / "cache").iterdir()) == []
