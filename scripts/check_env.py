"""Say which Python dependencies are missing: ``python scripts/check_env.py [requirements|dassl|all]``;
``--installed-at`` prints the checkout that this project's editable install points at."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import sys
from pathlib import Path

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


def installed_at() -> str:
    """The checkout this project's editable install points at ("" when not installed from a folder)."""
    try:
        direct = importlib.metadata.distribution("biomedvr-dassl").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return ""
    url = json.loads(direct).get("url", "") if direct else ""
    return str(Path(url.removeprefix("file://")).resolve()) if url.startswith("file://") else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("group", nargs="?", default="all", choices=["requirements", "dassl", "all"])
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--installed-at", action="store_true", help="print the editable install's checkout")
    args = parser.parse_args()
    if args.installed_at:
        print(installed_at())
        return 0
    absent = missing(args.group)
    if absent and not args.quiet:
        print("missing: " + ", ".join(absent))
    return 1 if absent else 0


if __name__ == "__main__":
    sys.exit(main())
