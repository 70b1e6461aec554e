"""PubMedCLIP and PMC-CLIP: equal to independent implementations on identical random weights, their
published files' layout, their downloads and errors, and a tiny end-to-end run of three methods on each.

References: OpenAI's own CLIP code (``pip install openai-clip``: ``clip/model.py`` with ``CLIP`` and
``ModifiedResNet``, ``clip/simple_tokenizer.py``) and transformers' ``BertModel``; tests that need one
skip without it.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import ModuleType

import open_clip
import pytest
import torch

from tests.conftest import REPO, TINY_BACKBONE, requires_dassl
from tests.medical_backbones import pmc_clip_folder, pubmedclip_file
from tools.synthetic_data import make_dataset
from trainers.backbones import (
    PMC_CLIP_FILES,
    BackboneError,
    download_published,
    fetch_weights,
    load_backbone,
    resolve_backbone,
)

TEXTS = ["a brain mri with a glioma.", "a normal chest x - ray."]
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
PMC_CLIP_TINY = str(REPO / "tests" / "fixtures" / "pmc-clip-tiny.json")


def openai_clip(module: str) -> ModuleType:
    """A module of OpenAI's CLIP package, loaded from its file: the package's ``__init__`` imports
    ``pkg_resources``, which recent setuptools no longer has, and these two modules need nothing of it."""
    package = importlib.util.find_spec("clip")
    if package is None or package.origin is None:
        pytest.skip("OpenAI's CLIP code: pip install openai-clip")
    spec = importlib.util.spec_from_file_location(
        f"openai_clip_{module}", Path(package.origin).parent / f"{module}.py"
    )
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def openai_tokenize(texts: list[str], context_length: int = 77) -> torch.Tensor:
    """OpenAI's tokenization: start token, BPE ids, end token, zero padding."""
    tokenizer = openai_clip("simple_tokenizer").SimpleTokenizer()
    start, end = tokenizer.encoder["<|startoftext|>"], tokenizer.encoder["<|endoftext|>"]
    tokens = torch.zeros(len(texts), context_length, dtype=torch.long)
    for row, text in enumerate(texts):
        ids = [start, *tokenizer.encode(text), end]
        tokens[row, : len(ids)] = torch.tensor(ids)
    return tokens


def images(size: int = 224) -> torch.Tensor:
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))


def with_random_batch_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """BatchNorm statistics and affine parameters drawn at random, so that the test sees them."""
    generator = torch.Generator().manual_seed(3)
    out = dict(state)
    for key, value in state.items():
        if key.endswith("running_var"):
            out[key] = 0.5 + torch.rand(value.shape, generator=generator)
        elif key.endswith("running_mean") or (
            key.rsplit(".", 2)[-2].startswith("bn") and "weight" not in key
        ):
            out[key] = 0.1 * torch.randn(value.shape, generator=generator)
        elif key.rsplit(".", 2)[-2].startswith("bn"):
            out[key] = 1.0 + 0.1 * torch.randn(value.shape, generator=generator)
    return out


def test_pubmedclip_runs_as_openai_clip_code_does(tmp_path):
    """OpenAI's ViT-B/32 (QuickGELU) from OpenAI's code, its state dict saved as PubMedCLIP's file."""
    model = openai_clip("model")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        reference = model.CLIP(512, 224, 12, 768, 32, 77, 49408, 512, 8, 12).eval()
    backbone = load_backbone("PubMedCLIP", str(pubmedclip_file(tmp_path, reference.state_dict())))

    tokens = openai_tokenize(TEXTS)
    assert torch.equal(backbone.tokenizer(TEXTS), tokens)
    with torch.no_grad():
        torch.testing.assert_close(
            backbone.encode_image(images()), reference.encode_image(images()), atol=1e-5, rtol=0
        )
        torch.testing.assert_close(
            backbone.model.encode_text(tokens), reference.encode_text(tokens), atol=1e-5, rtol=0
        )
    assert (backbone.mean, backbone.std, backbone.image_size) == (OPENAI_MEAN, OPENAI_STD, 224)
    assert backbone.logit_scale == pytest.approx(1 / 0.07)  # the file's own temperature


def test_pmc_clip_equals_bert_pooled_output_times_projection_and_a_modified_resnet(tmp_path):
    """The published layout: ModifiedResNet-50 (768-d, 8 heads), BertModel, projection; BiomedCoOp's
    tokenization (padding to 77, truncation) and temperature exp(4.4292); OpenAI's mean/std."""
    model = openai_clip("model")
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        resnet = model.ModifiedResNet((3, 4, 6, 3), 768, heads=8, input_resolution=224, width=64)
    resnet.load_state_dict(with_random_batch_norm(resnet.state_dict()))
    resnet.eval()
    bert, projection = pmc_clip_folder(tmp_path, resnet.state_dict(), embed_dim=768)
    backbone = load_backbone("PMC-CLIP", str(tmp_path))

    tokens = AutoTokenizer.from_pretrained(str(tmp_path))(
        TEXTS, padding="max_length", truncation=True, max_length=77, return_tensors="pt"
    )
    assert torch.equal(backbone.tokenizer(TEXTS), tokens["input_ids"])
    with torch.no_grad():
        pooled = bert(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).pooler_output
        torch.testing.assert_close(
            backbone.model.encode_text(tokens["input_ids"]), pooled @ projection, atol=1e-5, rtol=0
        )
        torch.testing.assert_close(backbone.encode_image(images()), resnet(images()), atol=1e-5, rtol=1e-5)
    assert backbone.logit_scale == pytest.approx(math.exp(4.4292))
    assert (backbone.mean, backbone.std, backbone.image_size) == (OPENAI_MEAN, OPENAI_STD, 224)


def test_a_pmc_clip_folder_must_hold_the_three_published_files(tmp_path):
    (tmp_path / PMC_CLIP_FILES[1]).write_bytes(b"")
    message = (
        rf"MODEL\.BACKBONE\.PRETRAINED: folder {tmp_path} lacks image_encoder\(resnet50\)\.pth, "
        r"text_projection_layer\.pth; a weights folder holds PMC-CLIP's published files"
    )
    with pytest.raises(BackboneError, match=message):
        resolve_backbone("PMC-CLIP", str(tmp_path))


def test_names_tags_and_default_weights():
    assert resolve_backbone("PubMedCLIP") == ("ViT-B-32", "published")
    assert resolve_backbone("PMC-CLIP") == ("PMC-CLIP", "published")
    assert resolve_backbone("PMC-CLIP", "none") == ("PMC-CLIP", None)


@pytest.mark.parametrize(
    ("name", "repo", "repo_type", "files"),
    [
        ("PubMedCLIP", "sarahESL/PubMedCLIP", "model", ["PubMedCLIP_ViT32.pth"]),
        ("PMC-CLIP", "axiong/pmc_oa", "dataset", list(PMC_CLIP_FILES)),
    ],
)
def test_published_files_come_from_where_biomedcoop_downloads_them(
    name, repo, repo_type, files, tmp_path, monkeypatch
):
    import huggingface_hub

    calls = []

    def download(repo_id: str, filename: str, repo_type: str = "model") -> str:
        calls.append((repo_id, filename, repo_type))
        return str(tmp_path / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    path = download_published(name)
    assert calls == [(repo, file, repo_type) for file in files]
    assert path == str(tmp_path / files[0]) if len(files) == 1 else path == str(tmp_path)


def test_a_download_that_cannot_happen_fails_in_one_message(monkeypatch):
    import huggingface_hub

    def offline(*args, **kwargs):
        raise OSError("no route to huggingface.co\nmore detail")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    message = (
        r"^cannot get the weights of backbone PubMedCLIP \(OSError: no route to huggingface\.co\)\. "
        r"Without internet, fetch the weights on another machine and set MODEL\.BACKBONE\.PRETRAINED"
    )
    with pytest.raises(BackboneError, match=message):
        fetch_weights("PubMedCLIP")


def test_a_bert_text_tower_without_transformers_is_named(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "transformers" else find_spec(name, *a)
    )
    with pytest.raises(BackboneError, match=r"backbone PMC-CLIP has .* needs the transformers package: pip"):
        fetch_weights("PMC-CLIP")


# ----- tiny stand-ins end to end: BioMedVR, CoOp and Tip-Adapter through Dassl ---------------------------
def pubmedclip_stand_in(folder: Path) -> tuple[str, str]:
    """The tiny OpenAI-architecture model with its weights in PubMedCLIP's file layout."""
    state = load_backbone(TINY_BACKBONE, "none").model.state_dict()
    return TINY_BACKBONE, str(pubmedclip_file(folder, {k: v + 0.01 for k, v in state.items()}))


def pmc_clip_stand_in(folder: Path) -> tuple[str, str]:
    """A tiny ModifiedResNet and BERT model in PMC-CLIP's three-file layout (``pmc-clip-tiny.json``)."""
    pytest.importorskip("transformers")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        resnet = open_clip.modified_resnet.ModifiedResNet([1, 1, 1, 1], 32, heads=8, image_size=224, width=8)
    pmc_clip_folder(folder, resnet.state_dict(), embed_dim=32)
    return PMC_CLIP_TINY, str(folder)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    make_dataset(str(root), "BTMRI", counts=(2, 1, 2))
    return root


@requires_dassl
@pytest.mark.parametrize("stand_in", [pubmedclip_stand_in, pmc_clip_stand_in], ids=["PubMedCLIP", "PMC-CLIP"])
@pytest.mark.parametrize("method", ["BioMedVR", "CoOp", "TipAdapter"])
def test_methods_train_and_test_on_the_stand_in(data_root, tmp_path, stand_in, method):
    from dassl.engine import build_trainer
    from dassl.utils import set_random_seed

    import train as train_module

    name, weights = stand_in(tmp_path / "weights")
    args = train_module.parse_args(
        [
            "--root", str(data_root), "--seed", "1", "--output-dir", str(tmp_path / "out"),
            "--trainer", method, "--dataset-config-file", "configs/datasets/btmri.yaml",
            "--config-file", f"configs/trainers/{method}/few_shot.yaml",
            "MODEL.BACKBONE.NAME", name, "MODEL.BACKBONE.PRETRAINED", weights, "OPTIM.MAX_EPOCH", "1",
            "DATASET.NUM_SHOTS", "2", "DATALOADER.NUM_WORKERS", "0",
            "TRAINER.TIP_ADAPTER.SEARCH_STEP", "[5, 5]",
        ]
    )  # fmt: skip
    set_random_seed(1)
    trainer = build_trainer(train_module.setup_cfg(args))
    expected = load_backbone(name, weights).model.state_dict()
    assert all(
        torch.equal(value, expected[key]) for key, value in trainer.backbone.model.state_dict().items()
    )
    trainer.train()
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["trainer"] == method and metrics["num_samples"] == 2 * 4


def test_frame_patterns_through_the_split_resnet_stem_of_pmc_clip(tmp_path):
    """The VR family's frame goes through the first convolution of PMC-CLIP's ResNet stem apart."""
    from tests.test_backbones import assert_patterns_through_the_split_first_conv_equal_the_summed_images

    backbone = load_backbone(*pmc_clip_stand_in(tmp_path))
    assert backbone.patch_embedding is backbone.model.visual.conv1
    assert_patterns_through_the_split_first_conv_equal_the_summed_images(backbone)
