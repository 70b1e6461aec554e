"""A tiny BiomedCLIP-shaped backbone for tests: the tiny open_clip image tower and a HuggingFace-style
text tower inside open_clip's ``HFTextEncoder`` (BERT-like: [CLS] words [SEP], padding id 0, CLS
pooling, linear projection), built without the transformers package or any download.

``HFTextEncoder.forward`` (token ids -> embedding, what ``encode_text`` runs) is open_clip's own code;
only the transformer inside it is ours, and it embeds ``input_ids`` and ``inputs_embeds`` the way a
BERT model does, so prompt embeddings fed through ``inputs_embeds`` can be checked against it.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from types import SimpleNamespace

import torch
from open_clip.hf_model import ClsLastHiddenStatePooler, HFTextEncoder
from torch import nn

from trainers.backbones import Backbone

PAD, CLS, SEP = 0, 1, 2
VOCAB = 1000
CONTEXT = 24


def tokenize(texts: Sequence[str]) -> torch.Tensor:
    """Word-level ids: [CLS] one id per word (the full stop apart) [SEP], padded with 0."""
    rows = []
    for text in texts:
        words = text.replace(".", " .").lower().split()
        ids = [CLS, *(3 + zlib.crc32(word.encode()) % (VOCAB - 3) for word in words), SEP]
        rows.append((ids + [PAD] * CONTEXT)[:CONTEXT])
    return torch.tensor(rows, dtype=torch.long)


class TinyBert(nn.Module):
    """Token + position embeddings, one encoder layer with a padding mask; BERT's call signature."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(VOCAB, width)
        self.position_embeddings = nn.Parameter(torch.randn(CONTEXT, width) * 0.02)
        self.layer = nn.TransformerEncoderLayer(width, 2, 2 * width, dropout=0.0, batch_first=True)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.word_embeddings

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None) -> SimpleNamespace:
        x = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        x = x + self.position_embeddings[: x.shape[1]]
        hidden = self.layer(x, src_key_padding_mask=attention_mask == 0)
        return SimpleNamespace(last_hidden_state=hidden)


def hf_text_encoder(width: int, output_dim: int) -> HFTextEncoder:
    """An ``HFTextEncoder`` holding ``TinyBert`` (its constructor would need transformers)."""
    encoder = HFTextEncoder.__new__(HFTextEncoder)
    nn.Module.__init__(encoder)
    encoder.output_tokens = False
    encoder.output_dim = output_dim
    encoder.config = SimpleNamespace(pad_token_id=PAD)
    encoder.transformer = TinyBert(width)
    encoder.pooler = ClsLastHiddenStatePooler()
    encoder.proj = nn.Linear(width, output_dim, bias=False)
    return encoder


class TinyBiomedCLIP(nn.Module):
    """open_clip's CustomTextCLIP in miniature: ``visual``, ``text`` (HFTextEncoder), ``logit_scale``."""

    def __init__(self, visual: nn.Module, text: HFTextEncoder, logit_scale: torch.Tensor) -> None:
        super().__init__()
        self.visual = visual
        self.text = text
        self.logit_scale = nn.Parameter(logit_scale.clone())

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual(images)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.text(tokens)


def tiny_biomedclip(clip: Backbone, width: int = 48) -> Backbone:
    """The tiny CLIP backbone's image tower with a frozen HF-style text tower, seeded."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        output_dim = clip.model.text_projection.shape[1]
        model = TinyBiomedCLIP(clip.model.visual, hf_text_encoder(width, output_dim), clip.model.logit_scale)
    model.eval().requires_grad_(False)
    return Backbone("tiny-biomedclip", model, tokenize, clip.mean, clip.std, clip.image_size)
