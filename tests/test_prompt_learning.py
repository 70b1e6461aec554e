HF_WIDTH = 48  # the text width of tests/hf_text_tower.py
HF_TRAINABLE = {"CoOp": N_CTX * HF_WIDTH, "KgCoOp": N_CTX * HF_WIDTH, "ProGrad": N_CTX * HF_WIDTH}
HF_TRAINABLE |= {"BiomedCoOp": N_CTX * HF_WIDTH}
HF_TRAINABLE["CoCoOp"] = N_CTX * HF_WIDTH + EMBED * 2 + 2 + 2 * HF_WIDTH + HF_WIDTH


@requires_dassl
@pytest.mark.parametrize("method", sorted(HF_TRAINABLE))
def test_trains_with_the_biomedclip_style_text_tower(data_root, tmp_path, monkeypatch, method):
    """Each method trains and tests in Dassl with the HF-style (BiomedCLIP) text tower, in process."""
    from dassl.engine import build_trainer
    from dassl.utils import set_random_seed

    import train as train_module
    import trainers.frozen_clip
    from trainers.backbones import load_backbone

    monkeypatch.setattr(
        trainers.frozen_clip,
        "load_backbone",
        lambda *args, **kwargs: tiny_biomedclip(load_backbone(TINY_BACKBONE)),
    )
    config = f"configs/trainers/{method}/few_shot.yaml"
    args = train_module.parse_args(
        [
            "--root", str(data_root), "--seed", "1", "--output-dir", str(tmp_path), "--trainer", method,
            "--dataset-config-file", "configs/datasets/btmri.yaml", "--config-file", config,
            "OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "2", "DATALOADER.NUM_WORKERS", "0",
        ]
    )  # fmt: skip
    set_random_seed(1)
    trainer = build_trainer(train_module.setup_cfg(args))
    assert trainer.num_trainable == HF_TRAINABLE[method]
    before = {key: value.clone() for key, value in trainer.trainable.state_dict().items()}
    trainer.train()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["trainer"] == method and metrics["num_samples"] == 16
    assert any(not torch.equal(before[key], value) for key, value in trainer.trainable.state_dict().items())
