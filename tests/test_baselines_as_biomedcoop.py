"""Each baseline's training step and the BiomedCoOp behaviours our defaults follow, checked against
values computed here by hand (independent formulas), not against the code under test."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch.nn import functional as F
from yacs.config import CfgNode

from tests.conftest import REPO, requires_dassl
from tools.sweep_grid import plan
from trainers.mope import Scores


def default_cfg() -> CfgNode:
    from dassl.config import get_cfg_default

    from trainers.config import extend_cfg

    cfg = get_cfg_default()
    extend_cfg(cfg)
    return cfg


def bare_trainer(cls: type, cfg: CfgNode, **attributes):
    """A trainer object without Dassl's set-up: only the config and the attributes a loss reads."""
    trainer = cls.__new__(cls)
    trainer.cfg = cfg
    trainer.__dict__.update(attributes)
    return trainer


def kl(target_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """sum_c p_t (log p_t - log p): KL(target || model) per row."""
    p_target = target_logits.softmax(-1)
    return (p_target * (p_target.log() - logits.log_softmax(-1))).sum(-1)


# ----- glue of the training steps ----------------------------------------------------------------
@requires_dassl
def test_kgcoop_loss_is_ce_plus_w_times_the_distance():
    from trainers.prompt_learning import KgCoOp

    torch.manual_seed(0)
    cfg = default_cfg()
    cfg.TRAINER.KGCOOP.W = 3.0
    text, hand_crafted = F.normalize(torch.randn(3, 8), dim=-1), F.normalize(torch.randn(3, 8), dim=-1)
    logits, labels = torch.randn(4, 3), torch.tensor([0, 2, 1, 2])
    trainer = bare_trainer(KgCoOp, cfg, zero_shot_text=hand_crafted)
    loss, _ = trainer.compute_loss(Scores(logits, None, logits, None, text=text), labels)
    cosines = [float(text[c] @ hand_crafted[c]) for c in range(3)]
    ce = -sum(float(logits[b].log_softmax(-1)[labels[b]]) for b in range(4)) / 4
    assert float(loss) == pytest.approx(ce + 3.0 * (1 - sum(cosines) / 3), rel=1e-6)


@requires_dassl
def test_biomedcoop_loss_weights_its_terms_and_distils_from_the_kept_prompts_only():
    from trainers.prompt_learning import BiomedCoOp

    torch.manual_seed(1)
    cfg = default_cfg()
    node = cfg.TRAINER.BIOMEDCOOP
    node.SCCM_LAMBDA, node.KDSP_LAMBDA, node.TAU = 0.7, 2.5, 1.5
    classes, prompts, dim, tau = 3, 6, 8, 20.0
    image = F.normalize(torch.randn(5, dim), dim=-1)
    ensemble = F.normalize(torch.randn(classes, prompts, dim) * 0.1 + torch.randn(classes, 1, dim), dim=-1)
    ensemble[:, -1] = F.normalize(-image.mean(0), dim=-1)  # the last prompt scores far below the others
    text = F.normalize(torch.randn(classes, dim), dim=-1)
    logits, labels = tau * image @ text.t(), torch.tensor([0, 1, 2, 0, 1])
    trainer = bare_trainer(BiomedCoOp, cfg, ensemble=ensemble, model=SimpleNamespace(tau=tau))
    loss, parts = trainer.compute_loss(Scores(logits, None, logits, None, image, text), labels)

    scores = torch.tensor(
        [float((tau * image @ ensemble[:, p].t()).max(-1).values.mean()) for p in range(prompts)]
    )
    kept = ((scores - scores.mean()) / scores.std()).abs() <= 1.5  # the code's rule, standardized scores
    assert kept.tolist() == [True] * (prompts - 1) + [False]
    ce = F.cross_entropy(logits, labels)
    sccm = ((text - F.normalize(ensemble.mean(1), dim=-1)) ** 2).mean()
    teacher = tau * image @ F.normalize(ensemble[:, :-1].mean(1), dim=-1).t()
    kdsp = kl(teacher, logits).sum() / logits.numel()
    every_prompt = tau * image @ F.normalize(ensemble.mean(1), dim=-1).t()
    assert float(kl(every_prompt, logits).sum() / logits.numel()) != pytest.approx(float(kdsp), rel=1e-3)
    assert float(loss) == pytest.approx(float(ce + 0.7 * sccm + 2.5 * kdsp), rel=1e-5)
    assert parts["kept_prompts"] == prompts - 1


@requires_dassl
def test_prograd_kl_is_zero_shot_to_student_at_temperature_t_with_the_models_tau():
    from trainers.prompt_learning import ProGrad

    torch.manual_seed(2)
    cfg = default_cfg()
    cfg.TRAINER.PROGRAD.T = 2.0
    tau, temperature = 7.0, 2.0
    image, hand_crafted = F.normalize(torch.randn(4, 8), dim=-1), F.normalize(torch.randn(3, 8), dim=-1)
    logits, labels = torch.randn(4, 3) * 3, torch.tensor([0, 1, 2, 1])
    trainer = bare_trainer(ProGrad, cfg, zero_shot_text=hand_crafted, model=SimpleNamespace(tau=tau))
    trainer.compute_loss(Scores(logits, None, logits, None, image), labels)
    zero_shot = tau * image @ hand_crafted.t()
    expected = temperature**2 * kl(zero_shot / temperature, logits / temperature).mean()
    swapped = temperature**2 * kl(logits / temperature, zero_shot / temperature).mean()
    assert float(expected) != pytest.approx(float(swapped), rel=1e-3)
    assert float(trainer._kl) == pytest.approx(float(expected), rel=1e-5)


@requires_dassl
def test_prograd_with_biomedcoops_student_teacher_has_no_kl_gradient():
    from trainers.prompt_learning import ProGrad

    cfg = default_cfg()
    cfg.TRAINER.PROGRAD.TEACHER, cfg.TRAINER.PROGRAD.T = "student", 2.0
    logits = torch.randn(4, 3, requires_grad=True)
    trainer = bare_trainer(ProGrad, cfg, model=SimpleNamespace(tau=5.0))
    trainer.compute_loss(Scores(logits, None, logits, None, torch.randn(4, 8)), torch.tensor([0, 1, 2, 0]))
    (gradient,) = torch.autograd.grad(trainer._kl, logits)
    assert float(trainer._kl.detach()) == pytest.approx(0.0, abs=1e-6)
    assert gradient.abs().max() < 1e-6


@requires_dassl
def test_tip_adapter_head_holds_the_searched_alpha_and_beta():
    from trainers.cache_model import CacheHead, search_values
    from trainers.feature_baselines import TipCache

    torch.manual_seed(3)
    cfg = default_cfg()
    cfg.TRAINER.TIP_ADAPTER.SEARCH_SCALE, cfg.TRAINER.TIP_ADAPTER.SEARCH_STEP = [10.0, 4.0], [4, 4]
    keys = F.normalize(torch.randn(6, 8), dim=-1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    text = F.normalize(torch.randn(3, 8), dim=-1)
    head = CacheHead(keys, labels, 3, text, 2.0, 1.0, 1.0, trainable_keys=False)
    val = F.normalize(keys + 0.6 * torch.randn(6, 8), dim=-1), labels
    trainer = bare_trainer(TipCache, cfg, trainable=head, features=lambda split: val)
    result = trainer.search()
    betas, alphas = search_values(10.0, 4), search_values(4.0, 4)
    one_hot = F.one_hot(labels).float()

    def accuracy_of(beta: float, alpha: float) -> float:
        logits = 2.0 * val[0] @ text.t() + alpha * torch.exp(-beta * (1 - val[0] @ keys.t())) @ one_hot
        return float((logits.argmax(-1) == labels).float().mean() * 100)

    accuracy = {(beta, alpha): accuracy_of(beta, alpha) for beta in betas for alpha in alphas}
    first_best = next(pair for pair, acc in accuracy.items() if acc == max(accuracy.values()))
    assert (result.beta, result.alpha) == first_best and result.alpha != result.beta
    assert (float(head.alpha), float(head.beta)) == pytest.approx((result.alpha, result.beta))


def test_linear_probe_c_search_keeps_the_left_end_on_ties():
    from trainers.linear_probe import search_c

    # Every C ties: the grid's first C (100), then each halving keeps the left end 10^(2 - 1).
    assert search_c(lambda c: 50.0, [100.0, 1.0, 0.01], steps=3) == pytest.approx(10.0)


def test_classes_absent_from_the_training_labels_never_win():
    pytest.importorskip("sklearn")
    from trainers.linear_probe import logistic_regression

    torch.manual_seed(4)
    features = F.normalize(torch.randn(12, 6), dim=-1)
    labels = torch.tensor([0, 1, 3] * 4)  # class 2 of 4 has no training image
    weights = logistic_regression(features, labels, 4, c=1.0, max_iter=200)
    test = F.normalize(torch.randn(200, 6), dim=-1) * 10
    predictions = (test @ weights.weight.t() + weights.bias).argmax(-1)
    assert 2 not in predictions.tolist() and set(predictions.tolist()) <= {0, 1, 3}


def lpp_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(5)
    text = F.normalize(torch.randn(3, 6), dim=-1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    features = F.normalize(text[labels] * 3 + 0.3 * torch.randn(6, 6), dim=-1)
    return features, labels, text


def test_lp_plus_plus_two_steps_are_heavy_ball_with_the_accumulated_alpha_gradient():
    from trainers.linear_probe import LPPlusPlusHead, fit_lp_plus_plus

    x, y, text = lpp_data()
    head = LPPlusPlusHead(text)
    bias0 = head.linear.bias.detach().clone()  # PyTorch's initialisation, kept (BiomedCoOp's code)
    fit_lp_plus_plus(head, (x, y), None, epochs=2, alpha_every=1)

    n, scores = x.shape[0], x @ text.t()
    lr_w = 4 * n / float(torch.linalg.eigvalsh(x.double().t() @ x.double())[-1])
    lr_alpha = n / (4 * float((scores**2).sum(0).max()))
    weight = torch.stack([x[y == c].sum(0) for c in range(3)])
    own = torch.stack([scores[y == c, c].mean() for c in range(3)])
    alpha = torch.full((3,), 250.0 * float(own.mean()))
    bias, velocity, alpha_grad_sum = bias0.clone(), None, torch.zeros(3)
    for _ in range(2):
        params = [
            weight.clone().requires_grad_(),
            bias.clone().requires_grad_(),
            alpha.clone().requires_grad_(),
        ]
        loss = F.cross_entropy(x @ params[0].t() + params[1] + params[2] * scores, y)
        g_w, g_b, g_alpha = torch.autograd.grad(loss, params)
        step = (g_w, g_b) if velocity is None else (0.9 * velocity[0] + g_w, 0.9 * velocity[1] + g_b)
        velocity = step
        weight, bias = weight - lr_w * step[0], bias - lr_w * step[1]
        alpha_grad_sum = alpha_grad_sum + g_alpha
        alpha = alpha - lr_alpha * alpha_grad_sum
    assert torch.allclose(head.linear.weight, weight, atol=1e-5)
    assert torch.allclose(head.linear.bias, bias, atol=1e-5)
    assert torch.allclose(head.alpha, alpha, rtol=1e-5)


def test_lp_plus_plus_keeps_the_latest_of_tied_epochs():
    from trainers.linear_probe import LPPlusPlusHead, fit_lp_plus_plus

    x, y, text = lpp_data()
    result = fit_lp_plus_plus(LPPlusPlusHead(text), (x, y), (x, y), epochs=5, alpha_every=2)
    assert (result.epoch, result.val_accuracy) == (5, 100.0)  # every epoch classifies val perfectly


# ----- BiomedCoOp's behaviours as defaults --------------------------------------------------------
@requires_dassl
def test_a_trainer_file_without_prec_runs_the_prompt_learners_at_fp32(tmp_path):
    cfg = default_cfg()
    path = tmp_path / "coop.yaml"
    path.write_text("TRAINER:\n  COOP:\n    N_CTX: 4\n")  # as BiomedCoOp's CoOp files: no PREC
    cfg.merge_from_file(str(path))
    assert [cfg.TRAINER[n].PREC for n in ("COOP", "COCOOP", "KGCOOP", "PROGRAD", "BIOMEDCOOP")] == [
        "fp32"
    ] * 5


@requires_dassl
def test_biomedcoop_feature_defaults_follow_its_code():
    cfg = default_cfg()
    assert (cfg.TRAINER.LPPP.ACCUMULATE_ALPHA_GRAD, cfg.TRAINER.LPPP.ZERO_BIAS) == (True, False)
    assert (cfg.TRAINER.CLIP_ADAPTER.NORMALIZE, cfg.TRAINER.TIP_ADAPTER.AUGMENT_EPOCH) == (False, 1)
    assert (cfg.TRAINER.BIOMEDCOOP.PROMPTS, cfg.TRAINER.BIOMEDCOOP.PRUNING) == ("biomedcoop", "code")
    assert cfg.TRAINER.PROGRAD.TEACHER == "zero_shot"


def test_pruning_standardizes_the_signed_deviation_as_biomedcoops_code():
    from trainers.prompt_losses import keep_prompts

    # median 0 (the lower middle), median absolute deviation 1. Code: z = s, |z - 2/3| / 2.160 =
    # 0.15 0.77 0.62 0.31 1.54 1.23. Paper: z = |s|, |z - 5/3| / 1.366 = 0.49 0.49 0.24 1.22 1.71 0.24.
    scores = torch.tensor([1.0, -1.0, 2.0, 0.0, 4.0, -2.0])
    assert keep_prompts(scores, 1.0).tolist() == [True, True, True, True, False, False]
    assert keep_prompts(scores, 1.0, signed=False).tolist() == [True, True, True, False, False, True]


def test_clip_adapter_scores_the_blend_without_renormalizing():
    from trainers.adapters import AdapterHead

    torch.manual_seed(6)
    text, features = F.normalize(torch.randn(3, 8), dim=-1), F.normalize(torch.randn(2, 8), dim=-1)
    head = AdapterHead(text, 30.0, 0.5, 4)
    adapted = torch.relu(torch.relu(features @ head.adapter.down.weight.t()) @ head.adapter.up.weight.t())
    blend = 0.5 * adapted + 0.5 * features
    assert torch.allclose(head(features), 30.0 * blend @ text.t(), atol=1e-5)
    normalized = AdapterHead(text, 30.0, 0.5, 4, normalize=True)
    normalized.load_state_dict(head.state_dict())
    assert torch.allclose(normalized(features), 30.0 * F.normalize(blend, dim=-1) @ text.t(), atol=1e-5)


@requires_dassl
def test_clip_adapters_schedule_counts_batches_with_a_warmup_step_and_a_20_step_cosine():
    from trainers.schedule import build_scheduler

    cfg = default_cfg()
    cfg.merge_from_file(str(REPO / "configs" / "trainers" / "CLIP_Adapter" / "few_shot.yaml"))
    assert cfg.TRAINER.COMMON.LR_STEP == "dassl_batch"
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.OPTIM.LR)
    schedule = build_scheduler(optimizer, cfg.OPTIM)
    rates = []
    for _ in range(45):  # one scheduler step per batch, as BiomedCoOp's CLIP-Adapter
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    expected = [1e-5] + [0.01 * (1 + math.cos(math.pi * (k - 1) / 20)) / 2 for k in range(1, 45)]
    assert rates == pytest.approx(expected, abs=1e-12)
    assert rates[21] == pytest.approx(0.0, abs=1e-12) and rates[41] == pytest.approx(0.01)


def test_augmentation_without_flip_is_the_crop_alone():
    from trainers.fast_data import augment_batch, epoch_generator, random_resized_crop_box, resize_crop

    torch.manual_seed(7)
    images = [torch.randint(0, 256, (3, 40, 50), dtype=torch.uint8) for _ in range(6)]
    batch = augment_batch(images, 16, epoch_generator(1, 0), flip=False, scale=(0.5, 1.0))
    generator = epoch_generator(1, 0)
    boxes = [random_resized_crop_box(40, 50, generator, (0.5, 1.0)) for _ in images]
    crops = [
        resize_crop(im[:, i : i + h, j : j + w], 16, "bicubic")
        for im, (i, j, h, w) in zip(images, boxes, strict=True)
    ]
    assert all(h * w >= 0.5 * 40 * 50 * 0.99 for _, _, h, w in boxes)
    assert torch.equal(batch, torch.stack(crops).float() / 255)


@requires_dassl
def test_prompt_learners_follow_biomedcoops_transforms_and_reject_others():
    from trainers.fast_data import CROP_SCALE, Augmentation
    from trainers.loaders import train_augmentation
    from trainers.prompt_learning import CoOp

    cfg = default_cfg()
    cfg.TRAINER.NAME, cfg.INPUT.TRANSFORMS = "CoOp", ["random_resized_crop", "normalize"]
    assert train_augmentation(cfg) == Augmentation(crop=True, flip=False, scale=CROP_SCALE)
    cfg.INPUT.TRANSFORMS = ["random_resized_crop", "random_flip", "normalize"]
    assert train_augmentation(cfg) == Augmentation(crop=True, flip=True)
    cfg.TRAINER.NAME = "BioMedVR"  # a VR trainer keeps TRAINER.COMMON.AUGMENT's crop and flip
    cfg.INPUT.TRANSFORMS, cfg.TRAINER.COMMON.AUGMENT = ["random_resized_crop"], False
    assert train_augmentation(cfg) == Augmentation(crop=False, flip=False)
    cfg.INPUT.TRANSFORMS = ["colorjitter"]
    with pytest.raises(ValueError, match=r"INPUT.TRANSFORMS \['colorjitter'\]: prompt learners support"):
        CoOp.check_cfg(bare_trainer(CoOp, cfg, cfg_node="COOP"), cfg)


@requires_dassl
@pytest.mark.parametrize("name", ["CLIP_Adapter", "TipAdapter_F", "LPPlusPlus"])
def test_feature_baselines_crop_an_area_of_half_to_all_and_flip_as_biomedcoops_main(name):
    from trainers.fast_data import Augmentation
    from trainers.loaders import train_augmentation

    cfg = default_cfg()
    cfg.TRAINER.NAME = name
    assert train_augmentation(cfg) == Augmentation(crop=True, flip=True, scale=(0.5, 1.0))


@requires_dassl
def test_biomedcoops_trainer_names_resolve():
    from trainers.aliases import resolve_trainer_alias

    registered = {"ZeroshotCLIP", "CoOp"}.__contains__
    assert resolve_trainer_alias("ZeroshotBiomedCLIP", registered) == ("ZeroshotCLIP", "BiomedCLIP")
    assert resolve_trainer_alias("ZeroshotCLIP", registered) == ("ZeroshotCLIP", None)
    import train

    cfg = train.setup_cfg(train.parse_args(["--trainer", "ZeroshotBiomedCLIP"]))
    assert (cfg.TRAINER.NAME, cfg.MODEL.BACKBONE.NAME) == ("ZeroshotCLIP", "BiomedCLIP")


@requires_dassl
@pytest.mark.parametrize(
    ("method", "ours"),
    [("TIPAdapter", "TipAdapter_F"), ("ClipAdapter", "CLIP_Adapter"), ("LinearProbe_P2", "LPPlusPlus")],
)
def test_biomedcoops_feature_files_get_one_message_naming_ours(tmp_path, method, ours):
    import train

    path = tmp_path / "few_shot.yaml"
    path.write_text(f"root_path: '/mnt/data/'\nmethod: '{method}'\nshots: 1\nlr: 0.001\n")
    args = train.parse_args(["--trainer", ours, "--config-file", str(path)])
    with pytest.raises(SystemExit) as stop:
        train.setup_cfg(args)
    message = str(stop.value)
    assert "\n" not in message and "KeyError" not in message
    assert f"--trainer {ours} --config-file configs/trainers/{ours}/few_shot.yaml" in message
    assert (REPO / "configs" / "trainers" / ours / "few_shot.yaml").is_file()


def test_biomedcoops_prompt_table_is_downloaded_on_first_use(tmp_path, monkeypatch):
    import attributes.fetch as fetch
    import attributes.prompt_table as prompt_table

    table = tmp_path / "biomedcoop_prompts.json"
    monkeypatch.setattr(prompt_table, "BIOMEDCOOP_TABLE", table)
    urls = []
    source = "BIOMEDCOOP_TEMPLATES = {'glioma tumor': ['An irregular mass.', 'Edema around it.']}"
    monkeypatch.setattr(fetch, "fetch_url", lambda url: urls.append(url) or source.encode())
    assert prompt_table.table_path("biomedcoop") == table
    assert prompt_table.table_path("biomedcoop") == table  # cached: no second download
    assert len(urls) == 1 and urls[0].endswith("/trainers/prompt_templates.py")
    assert prompt_table.read_attribute_file(table) == {
        "glioma tumor": ["An irregular mass.", "Edema around it."]
    }


def test_an_offline_first_use_says_how_to_provide_the_table(tmp_path, monkeypatch):
    import attributes.fetch as fetch
    import attributes.prompt_table as prompt_table

    table = tmp_path / "biomedcoop_prompts.json"
    monkeypatch.setattr(prompt_table, "BIOMEDCOOP_TABLE", table)

    def offline(url: str) -> bytes:
        raise fetch.FetchError(f"{url}: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(fetch, "fetch_url", offline)
    with pytest.raises(prompt_table.AttributeSetError) as error:
        prompt_table.table_path("biomedcoop")
    message = str(error.value)
    assert "\n" not in message and "name resolution" in message
    assert "python -m attributes.fetch biomedcoop" in message and str(table) in message
    assert not table.exists()


@pytest.mark.parametrize(
    ("overrides", "folder"),
    [((), "BiomedCoOp"), (("TRAINER.BIOMEDCOOP.PROMPTS", "curated"), "BiomedCoOp_curated"),
     (("TRAINER.BIOMEDCOOP.PROMPTS", "/data/My-Prompts.json"), "BiomedCoOp_my_prompts")],
)  # fmt: skip
def test_another_prompt_ensemble_gets_its_own_results_folder(overrides, folder):
    for script, args in (("few_shot.sh", ["btmri", "4"]), ("base2new.sh", ["btmri"])):
        calls, _ = plan([f"scripts/biomedcoop/{script}", *args, "BiomedCLIP", *overrides], {"SEEDS": "1"})
        for call in calls:
            output = call[call.index("--output-dir") + 1]
            assert f"/{folder}/biomedclip/seed1" in output
