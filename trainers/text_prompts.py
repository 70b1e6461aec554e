"""CoOp (Zhou et al., IJCV 2022) on open_clip: learned context words in front of each class name.

The prompt of class c is "[SOS] v_1 ... v_M <classname>. [EOS]" in token-embedding space; only the
context vectors v are trained (for CoCoOp also the meta-net that shifts them per image, Zhou et al.,
CVPR 2022), and the frozen text tower turns the prompts into class embeddings. Every
prompt-learning method here is this model plus its own loss.
Images go through the frozen image tower unchanged (normalization only). Two text towers are
supported: open_clip's CLIP transformer (OpenAI ViT-B/16 and friends) and a HuggingFace encoder
wrapped in ``open_clip.hf_model.HFTextEncoder`` (BiomedCLIP's PubMedBERT).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from open_clip.hf_model import HFTextEncoder
from open_clip.transformer import text_global_pool
from torch import nn
from torch.nn import functional as F
from yacs.config import CfgNode

from trainers.backbones import Backbone
from trainers.encoding import FrozenImageEncoder, Scores, autocast

CLASS_TOKEN_POSITIONS = ("end",)
PLACEHOLDER = "X"  # stands for one context vector when the context starts random


class ClipTextTower:
    """open_clip's CLIP text transformer, fed with token embeddings instead of token ids.

    ``encode`` repeats ``open_clip.model.CLIP.encode_text`` step by step after the embedding lookup.
    """

    pad_id = 0  # open_clip's CLIP tokenizer pads with zeros

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def token_embeddings(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.token_embedding(ids)

    def encode(self, embeddings: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        model = self.model
        cast_dtype = model.transformer.get_cast_dtype()
        x = embeddings.to(cast_dtype) + model.positional_embedding.to(cast_dtype)
        x = model.transformer(x, attn_mask=model.attn_mask)
        x = model.ln_final(x)
        x = text_global_pool(x, ids, model.text_pool_type, eos_token_id=getattr(model, "text_eos_id", None))
        projection = model.text_projection
        if projection is None:
            return x
        return projection(x) if isinstance(projection, nn.Linear) else x @ projection


class HFTextTower:
    """A HuggingFace text encoder in ``HFTextEncoder`` (BiomedCLIP), fed with ``inputs_embeds``.

    ``encode`` repeats ``HFTextEncoder.forward``: attention mask from the padding, transformer,
    pooler, projection.
    """

    def __init__(self, model: nn.Module) -> None:
        self.text = model.text

    @property
    def pad_id(self) -> int:
        return self.text.config.pad_token_id

    def token_embeddings(self, ids: torch.Tensor) -> torch.Tensor:
        return self.text.transformer.get_input_embeddings()(ids)

    def encode(self, embeddings: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != self.pad_id).long()
        out = self.text.transformer(inputs_embeds=embeddings, attention_mask=mask)
        return self.text.proj(self.text.pooler(out, mask))


TextTower = ClipTextTower | HFTextTower


def text_tower(model: nn.Module) -> TextTower:
    """The embedding-level view of an open_clip model's text tower."""
    if isinstance(getattr(model, "text", None), HFTextEncoder):
        return HFTextTower(model)
    if hasattr(model, "token_embedding"):
        return ClipTextTower(model)
    raise ValueError(
        f"prompt learning needs a CLIP text transformer or a HuggingFace text tower (BiomedCLIP); "
        f"{type(model).__name__} has neither"
    )


def meta_net(image_dim: int, width: int) -> nn.Sequential:
    """CoCoOp's meta-net: Linear(D, D/16) - ReLU - Linear(D/16, width), image embedding -> context shift."""
    hidden = max(1, image_dim // 16)
    return nn.Sequential(
        OrderedDict(
            linear1=nn.Linear(image_dim, hidden), relu=nn.ReLU(inplace=True), linear2=nn.Linear(hidden, width)
        )
    )


class PromptContext(nn.Module):
    """All that trains: the context vectors, [M, width] or [C, M, width] (class-specific), and for
    CoCoOp the meta-net that shifts them per image (``image_dim`` given)."""

    def __init__(self, ctx: torch.Tensor, image_dim: int | None = None) -> None:
        super().__init__()
        self.ctx = nn.Parameter(ctx)
        self.meta_net = None if image_dim is None else meta_net(image_dim, ctx.shape[-1]).to(ctx.device)


class PromptLearner(nn.Module):
    """CoOp prompts "[SOS] v_1 ... v_M <classname>. [EOS]" -> L2-normalized class embeddings [C, D].

    With ``ctx_init`` the context starts as the token embeddings of those words (and M is their
    token count, as in CoOp); otherwise M = ``n_ctx`` vectors are drawn from N(0, 0.02^2).
    ``csc`` gives every class its own context (the initial one repeated per class); ``conditional``
    adds CoCoOp's meta-net, which makes the prompts, and the class embeddings, image-specific.
    """

    def __init__(
        self,
        backbone: Backbone,
        classnames: list[str],
        n_ctx: int,
        ctx_init: str = "",
        csc: bool = False,
        conditional: bool = False,
    ) -> None:
        super().__init__()
        if csc and conditional:
            raise ValueError("CoCoOp's context is shared by all classes: set CSC False")
        self.tower = text_tower(backbone.model)
        tokenize, device = backbone.tokenizer, backbone.device
        init_words = ctx_init.replace("_", " ").strip()
        phrase = init_words or " ".join([PLACEHOLDER] * n_ctx)
        phrase_ids = tokenize([phrase]).to(device)
        length = int((phrase_ids != self.tower.pad_id).sum()) - 2  # without the start and end tokens
        if length < 1 or (not init_words and length != n_ctx):
            raise ValueError(f"the context {phrase!r} tokenizes to {length} tokens, expected {n_ctx}")
        prompts = [f"{phrase} {name.replace('_', ' ')}." for name in classnames]
        ids = tokenize(prompts).to(device)
        if not torch.equal(ids[:, 1 : 1 + length], phrase_ids[:, 1 : 1 + length].expand(len(prompts), -1)):
            raise ValueError(f"the context {phrase!r} tokenizes differently in front of a class name")
        with torch.no_grad():
            embeddings = self.tower.token_embeddings(ids).float()
            image_dim = self.tower.encode(embeddings[:1], ids[:1]).shape[-1] if conditional else None
        if init_words:
            ctx = embeddings[0, 1 : 1 + length].clone()
            ctx = ctx.expand(len(prompts), -1, -1).clone() if csc else ctx
        else:
            shape = (len(prompts), length, embeddings.shape[-1]) if csc else (length, embeddings.shape[-1])
            ctx = torch.empty(shape, device=device).normal_(std=0.02)
        print(f'Initial context: "{phrase}" ({length} tokens, {"class-specific" if csc else "shared"})')
        if length != n_ctx:
            print(f"Note: N_CTX {n_ctx} is replaced by the token count of the initial words ({length})")
        self.context = PromptContext(ctx, image_dim)
        self.register_buffer("token_prefix", embeddings[:, :1], persistent=False)
        self.register_buffer("token_suffix", embeddings[:, 1 + length :], persistent=False)
        self.register_buffer("token_ids", ids, persistent=False)

    @property
    def num_classes(self) -> int:
        return self.token_ids.shape[0]

    def prompt_embeddings(self, shift: torch.Tensor | None = None) -> torch.Tensor:
        """[C, L, width]: start token, context, class name, full stop, end token, padding.

        With per-image context shifts ``shift`` [B, width] (CoCoOp): [B, C, L, width].
        """
        ctx = self.context.ctx
        if ctx.dim() == 2:
            ctx = ctx.expand(self.num_classes, -1, -1)
        parts = [self.token_prefix, ctx, self.token_suffix]
        if shift is None:
            return torch.cat(parts, dim=1)
        parts = [part.expand(shift.shape[0], *part.shape) for part in parts]
        parts[1] = parts[1] + shift[:, None, None, :]
        return torch.cat(parts, dim=2)

    def forward(self, images: torch.Tensor | None = None) -> torch.Tensor:
        """Class embeddings [C, D]; with the meta-net, [B, C, D] for image embeddings ``images`` [B, D]."""
        net = self.context.meta_net
        if net is None:
            return F.normalize(self.tower.encode(self.prompt_embeddings(), self.token_ids).float(), dim=-1)
        if images is None:
            raise ValueError("CoCoOp's prompts depend on the image: pass the image embeddings")
        prompts = self.prompt_embeddings(net(images))
        batch = prompts.shape[0]
        features = self.tower.encode(prompts.flatten(0, 1), self.token_ids.repeat(batch, 1))
        return F.normalize(features.float(), dim=-1).view(batch, self.num_classes, -1)


class CoOpCLIP(nn.Module):
    """logits = tau * normalize(image) @ normalize(text(prompts)).T with frozen encoders.

    With CoCoOp's meta-net every image has its own class embeddings: logits_b = tau z_b . t_b,c.
    """

    def __init__(
        self, prompt_learner: PromptLearner, backbone: Backbone, autocast_dtype: torch.dtype | None = None
    ) -> None:
        super().__init__()
        self.encoder = FrozenImageEncoder(backbone, autocast_dtype)
        self.prompt_learner = prompt_learner
        self.backbone = backbone
        self.tau = backbone.logit_scale
        self.autocast_dtype = autocast_dtype

    def forward(self, images: torch.Tensor) -> Scores:
        z = self.encoder(images)
        with autocast(self.autocast_dtype, images.device):
            text = self.prompt_learner(z)
        if text.dim() == 3:
            logits = self.tau * torch.einsum("bd,bcd->bc", z, text)
        else:
            logits = self.tau * z @ text.t()
        return Scores(positive=logits, negative=None, fused=logits, gate=None, embedding=z, text=text)


def check_prompt_cfg(node: CfgNode, key: str) -> None:
    """Reject values of a prompt-learning node (``key``, e.g. TRAINER.COOP) that are not supported."""
    if node.CLASS_TOKEN_POSITION not in CLASS_TOKEN_POSITIONS:
        raise ValueError(
            f"{key}.CLASS_TOKEN_POSITION {node.CLASS_TOKEN_POSITION!r} is not supported; only "
            "'end' ('[context] <classname>.') is implemented"
        )
    if node.N_CTX < 1 and not node.CTX_INIT.strip():
        raise ValueError(f"{key}.N_CTX must be at least 1 without CTX_INIT, got {node.N_CTX}")
