"""Say which Python dependencies are missing: ``python scripts/check_env.py [requirements|dassl|all]``."""

from __future__ import annotations

import argparse
import importlib.util
import sys

MODULES = {
    "requirements": {
        "torch": "torch",
        "torchvision": "torchvision",
        "open_clip": "open_clip_torch",
        "transformers": "transformers",
        "yacs": "yacs",
        "numpy": "numpy",
        "PIL": "pillow",
        "sklearn": "scikit-learn",
        "tqdm": "tqdm",
        "matplotlib": "matplotlib",
        "openai": "openai",
        "gdown": "gdown",
        "submitit": "submitit",
        "pytest": "pytest",
        "clip": "openai-clip",
    },
    "dassl": {"dassl": "Dassl (scripts/setup.sh)", "wilds": "wilds", "tensorboard": "tensorboard"},
}


def missing(group: str) -> list[str]:
    groups = MODULES if group == "all" else {group: MODULES[group]}
    return [
        package
        for modules in groups.values()
        for module, package in modules.items()
        if importlib.util.find_spec(module) is None
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("group", nargs="?", default="all", choices=["requirements", "dassl", "all"])
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    absent = missing(args.group)
    if absent and not args.quiet:
        print("missing: " + ", ".join(absent))
    return 1 if absent else 0


if __name__ == "__main__":
    sys.exit(main())
