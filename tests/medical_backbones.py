"""PubMedCLIP and PMC-CLIP weights laid out as their authors publish them, with random values.

PubMedCLIP: one file, ``PubMedCLIP_ViT32.pth``, OpenAI's state dict under ``state_dict``. PMC-CLIP:
three files in one folder (the image encoder's state dict, the BERT model's state dict, the projection
matrix); here with a tiny BERT model whose config and tokenizer files lie in the same folder, so that
nothing is downloaded. Building a BERT model needs the transformers package.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from trainers.backbones import PMC_CLIP_FILES

WORDS = ["a", "an", "brain", "mri", "with", "glioma", "normal", "chest", "x", "-", "ray", ".", "photo", "of"]
BERT_WIDTH = 32


def pubmedclip_file(folder: Path, state: dict[str, torch.Tensor]) -> Path:
    """``state`` saved as PubMedCLIP's file: a checkpoint holding it under ``state_dict``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "PubMedCLIP_ViT32.pth"
    torch.save({"state_dict": state}, path)
    return path


def tiny_bert(folder: Path, seed: int = 0) -> nn.Module:
    """A one-layer BertModel with random weights; its config and a word-level vocabulary in ``folder``."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertTokenizer(str(vocab)).save_pretrained(str(folder))
    config = BertConfig(
        vocab_size=5 + len(WORDS), hidden_size=BERT_WIDTH, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=2 * BERT_WIDTH, max_position_embeddings=80,
    )  # fmt: skip
    config.save_pretrained(str(folder))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BertModel(config).eval()


def pmc_clip_folder(
    folder: Path, image_state: dict[str, torch.Tensor], embed_dim: int, seed: int = 0
) -> tuple[nn.Module, torch.Tensor]:
    """PMC-CLIP's three files in ``folder`` around ``image_state``; returns the BERT model and projection.

    The text encoder's file also holds BERT's position ids, as files saved by older transformers do.
    """
    bert = tiny_bert(folder, seed)
    projection = torch.randn(BERT_WIDTH, embed_dim, generator=torch.Generator().manual_seed(seed)) * 0.2
    text_state = bert.state_dict()
    text_state["embeddings.position_ids"] = torch.arange(80).unsqueeze(0)
    image_file, text_file, projection_file = PMC_CLIP_FILES
    torch.save(image_state, folder / image_file)
    torch.save(text_state, folder / text_file)
    torch.save(projection, folder / projection_file)
    return bert, projection
