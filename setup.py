"""BioMedVR for Dassl: confusion-aware mixture-of-prompt experts for biomedical visual reprogramming."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
REQUIREMENTS = [
    line.strip()
    for line in (HERE / "requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]

setup(
    name="biomedvr-dassl",
    version="0.1.0",
    description=__doc__,
    long_description=(HERE / "README.md").read_text(encoding="utf-8")
    if (HERE / "README.md").exists()
    else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["trainers*", "datasets*", "attributes*", "tools*"]),
    package_data={"attributes": ["*/*.json"], "trainers": ["model_configs/*.json"]},
    install_requires=REQUIREMENTS,
    extras_require={
        # Dassl itself comes from its git repository (scripts/setup.sh); these are its run-time needs.
        "dassl": ["tensorboard", "wilds>=1.2", "tabulate", "scipy", "ftfy", "regex", "future"],
        "test": ["pytest>=7", "ruff>=0.5", "openai-clip"],
    },
)
