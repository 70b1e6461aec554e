"""The eleven benchmark datasets: every fact about a dataset's identity, in one table.

Folder (Dassl registry) name, config name, attribute-file aliases, imaging modality, class names in
label order, Google Drive id and table header. Scripts ask it from the shell:
``python -m datasets.catalog folder btmri`` prints ``BTMRI``; ``python -m datasets.catalog names``
lists the config names.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetEntry:
    """One benchmark dataset."""

    folder: str  # registry name, folder under the data root and split file suffix: BTMRI
    config_name: str  # configs/datasets/<config_name>.yaml and output folders: btmri
    modality: str
    classnames: tuple[str, ...]  # in label order, as in BiomedCoOp's split files
    drive_id: str
    display: str = ""  # table header; the folder name when empty
    aliases: tuple[str, ...] = ()  # other spellings of attribute-file names

    @property
    def label(self) -> str:
        return self.display or self.folder

    @property
    def class_folders(self) -> tuple[str, ...]:
        """Image sub-folders of the published archives: the class names with ``_`` for spaces."""
        return tuple(name.replace(" ", "_") for name in self.classnames)


class UnknownDatasetError(ValueError):
    """A dataset name that is no folder, config name or alias of the catalog."""


CATALOG: dict[str, DatasetEntry] = {
    entry.config_name: entry
    for entry in (
        DatasetEntry(
            "BTMRI",
            "btmri",
            "brain MRI",
            ("glioma tumor", "meningioma tumor", "pituitary tumor", "normal brain"),
            "1_lJLZRUmczqZqoN-dNqkAzGzmi4ONoU5",
        ),
        DatasetEntry(
            "BUSI",
            "busi",
            "breast ultrasound",
            ("benign tumor", "malignant tumor", "normal scan"),
            "1hB5M7wcAUTV9EtiYrijACoQ36R6VmQaa",
        ),
        DatasetEntry(
            "CHMNIST",
            "chmnist",
            "H&E colorectal histology",
            (
                "adipose tissue",
                "complex stroma",
                "debris",
                "empty background",
                "immune cells",
                "normal mucosal glands",
                "simple stroma",
                "tumour epithelium",
            ),
            "1tyQiYQmqAGNaY4SCK_8U5vEbbaa1AD-g",
        ),
        DatasetEntry(
            "COVID_19",
            "covid",
            "chest X-ray",
            ("covid lungs", "lung opacity lungs", "viral pneumonia lungs", "normal lungs"),
            "1zMLN5q5e_tmH-deSZQiY4Xq0M1EqCrML",
            display="COVID",
            aliases=("covid_19",),
        ),
        DatasetEntry(
            "CTKidney",
            "ctkidney",
            "kidney CT",
            ("cyst kidney", "kidney stone", "kidney tumor", "normal kidney"),
            "1PBZ299k--mZL8JU7nhC1Wy8yEmlqmVDh",
        ),
        DatasetEntry(
            "DermaMNIST",
            "dermamnist",
            "dermatoscopy",
            (
                "actinic keratosis",
                "basal cell carcinoma",
                "benign keratosis",
                "dermatofibroma",
                "melanoma",
                "melanocytic nevus",
                "vascular lesion",
            ),
            "1Jxd1-DWljunRDZ8fY80dl5zUMefriQXt",
        ),
        DatasetEntry(
            "KneeXray",
            "kneexray",
            "knee X-ray",
            (
                "healthy knee",
                "doubtful osteoarthritis",
                "minimal osteoarthritis",
                "moderate osteoarthritis",
                "severe osteoarthritis",
            ),
            "1DBVraYJmxy2UcQ_nGLYvTB2reITOm453",
            aliases=("knee_xray",),
        ),
        DatasetEntry(
            "Kvasir",
            "kvasir",
            "GI endoscopy",
            (
                "dyed lifted polyps",
                "dyed resection margins",
                "esophagitis",
                "normal cecum",
                "normal pylorus",
                "normal z line",
                "polyps",
                "ulcerative colitis",
            ),
            "1T_cqnNIjmGazNeg6gziarvCNWGsFEkRi",
        ),
        DatasetEntry(
            "LungColon",
            "lungcolon",
            "lung and colon histopathology",
            (
                "colon adenocarcinoma",
                "colon benign tissue",
                "lung adenocarcinoma",
                "lung benign tissue",
                "lung squamous cell carcinoma",
            ),
            "1YIu5fqMXgyemisiL1L1HCvES2nVpCtun",
            aliases=("lung_colon",),
        ),
        DatasetEntry(
            "OCTMNIST",
            "octmnist",
            "retinal OCT",
            ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal OCT scan"),
            "1mYZNWxbPxnnVvcwHQYybA8gdMzQAoOem",
        ),
        DatasetEntry(
            "RETINA",
            "retina",
            "colour fundus photograph",
            ("diabetic retinopathy", "glaucoma", "cataract", "normal retina"),
            "18U-Gc22h5QryomNNzY4r4Qfrq52yf5EO",
        ),
    )
}


def spellings(entry: DatasetEntry) -> tuple[str, ...]:
    """Every accepted spelling of a dataset, case-folded."""
    return tuple(name.casefold() for name in (entry.config_name, entry.folder, *entry.aliases))


def find_dataset(name: str) -> DatasetEntry:
    """The entry of a folder name, config name or alias (any case); unknown names list the valid ones."""
    key = name.strip().casefold()
    for entry in CATALOG.values():
        if key in spellings(entry):
            return entry
    known = {spelling: entry for entry in CATALOG.values() for spelling in spellings(entry)}
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" did you mean {known[close[0]].config_name!r}?" if close else ""
    valid = ", ".join(f"{entry.folder} ({entry.config_name})" for entry in CATALOG.values())
    raise UnknownDatasetError(f"unknown dataset {name!r};{hint} valid names: {valid}")


def main(argv: Sequence[str] | None = None) -> int:
    """``folder NAME`` prints the folder name, ``config NAME`` the config name, ``names`` all config names."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["names"]:
        print(" ".join(CATALOG))
        return 0
    if len(args) != 2 or args[0] not in ("folder", "config"):
        print("usage: python -m datasets.catalog {folder|config} NAME  |  names", file=sys.stderr)
        return 2
    try:
        entry = find_dataset(args[1])
    except UnknownDatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(entry.folder if args[0] == "folder" else entry.config_name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
