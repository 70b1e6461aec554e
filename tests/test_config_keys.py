"""README's key table against trainers/config.py: every key this project adds is documented, once."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO, requires_dassl

ROW = re.compile(r"^\| (`[^|]+) \|", re.MULTILINE)
PROMPT_NODES = ("COOP", "COCOOP", "BIOMEDCOOP", "KGCOOP", "PROGRAD")  # the README's TRAINER.<M>


def documented_keys(text: str) -> list[str]:
    """The keys of the table's first column: ``A.B.C``, ``C2`` (same node), ``B2.C3`` (under TRAINER)."""
    section = text[text.index("## Configuration keys") :]
    section = section[: section.index("\n## ", 1)]
    keys = []
    for cell in ROW.findall(section):
        node = ""
        for item in re.findall(r"`([^`]+)`", cell):
            if item.count(".") >= 2 or item.startswith(("DATASET.", "MODEL.", "TEST.")):
                key = item
            elif "." in item:
                key = f"TRAINER.{item}"
            else:
                key = f"{node}.{item}"
            node = key.rpartition(".")[0]
            expanded = [key.replace("<M>", name) for name in PROMPT_NODES] if "<M>" in key else [key]
            keys.extend(expanded)
    return keys


def flat(cfg, prefix: str = "") -> dict[str, object]:
    values = {}
    for name, value in cfg.items():
        if isinstance(value, dict):
            values |= flat(value, f"{prefix}{name}.")
        else:
            values[prefix + name] = value
    return values


def test_documented_keys_parse_the_table_forms():
    rows = "| `TRAINER.A.B`, `C` | 1 |\n| `TRAINER.<M>.N` | 2 |\n| `X.Y.Z`, `W.V` | 3 |"
    text = f"## Configuration keys\n{rows}\n## Next"
    assert documented_keys(text) == [
        "TRAINER.A.B", "TRAINER.A.C", *(f"TRAINER.{m}.N" for m in PROMPT_NODES), "X.Y.Z", "TRAINER.W.V",
    ]  # fmt: skip


@requires_dassl
def test_the_readme_documents_every_added_key_once():
    from dassl.config import get_cfg_default

    from trainers.config import extend_cfg

    cfg = get_cfg_default()
    dassl = flat(cfg)
    extend_cfg(cfg)
    # the keys it adds, and Dassl's keys it gives another meaning (MODEL.BACKBONE.PRETRAINED)
    added = {key for key, value in flat(cfg).items() if key not in dassl or dassl[key] != value}
    documented = documented_keys((REPO / "README.md").read_text())
    assert sorted(key for key in set(documented) if documented.count(key) > 1) == []
    assert sorted(added - set(documented)) == [], "keys of trainers/config.py missing from README's table"
    assert sorted(set(documented) - added) == [], "README's table names keys trainers/config.py lacks"


@requires_dassl
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("TRAINER.BIOMEDVR.CS_MARGIN", -0.5),
        ("TRAINER.BIOMEDVR.ZS_LAMBDA", -1.0),
        ("TRAINER.BIOMEDVR.INPUT_SIZE", 0),
        ("DATASET.NUM_SHOTS", -2),
        ("OPTIM.MOMENTUM", -0.9),
        ("TRAINER.CLIP_ADAPTER.ALPHA", -0.1),
        ("TRAINER.TIP_ADAPTER.INIT_BETA", -1.0),
    ],
)
def test_a_value_below_its_range_is_named_before_any_work(key: str, value: float):
    from dassl.config import get_cfg_default

    from trainers.config import ConfigError, check_ranges, extend_cfg

    cfg = get_cfg_default()
    extend_cfg(cfg)
    check_ranges(cfg)  # the defaults are in range
    node, _, leaf = key.rpartition(".")
    target = cfg
    for part in node.split("."):
        target = target[part]
    target[leaf] = value
    message = rf"^{re.escape(key)} must be at least .*, got {re.escape(str(value))}$"
    with pytest.raises(ConfigError, match=message):
        check_ranges(cfg)
