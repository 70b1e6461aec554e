"""What a benchmark image shows at the size the model sees it: the standard attribute sentences are held to.

Every image reaches the encoder at 224×224 pixels (192×192 inside BioMedVR's frame), often reduced from
a larger original. A sentence helps only when it names something visible there. The generator's prompt
carries the dataset's note, and `attributes.check` flags the words of the most common invisible claims.
"""

from __future__ import annotations

import re

# Per dataset (catalog key): what one image is, and what it does and does not show at that size.
VISIBLE: dict[str, tuple[str, str, str]] = {
    "btmri": (
        "one brain MRI slice of one sequence (T1, contrast-enhanced T1 or T2)",
        "where a mass lies (within the brain, on the dura, in the sella), its margins and shape, its "
        "signal against the brain on that slice, enhancement on a contrast slice, edema, mass effect",
        "how a lesion looks on another sequence or phase, spectroscopy or perfusion",
    ),
    "busi": (
        "one grey-scale breast ultrasound frame",
        "a lesion's shape, margins, orientation, echo level and texture, shadowing or enhancement "
        "behind it, the skin, fat, glandular and muscle layers",
        "Doppler flow, stiffness, palpation findings",
    ),
    "chmnist": (
        "one 150×150-pixel H&E tile covering 74×74 micrometres of colorectal tissue",
        "the tissue type, colour and texture, fat vacuoles, fibres, glands, crypts, cell density, "
        "nuclei as dots of a given size, shape and darkness",
        "nucleoli, mitoses, chromatin patterns, single organelles",
    ),
    "covid": (
        "one frontal chest radiograph, PA or AP, of an adult or a child",
        "the density, texture and distribution of opacities, lung volumes, heart and mediastinal "
        "outlines, diaphragm and costophrenic angles",
        "CT signs, laboratory results, how or where the film was taken as a sign of disease",
    ),
    "ctkidney": (
        "one CT slice through the kidneys, with or without contrast, at one phase",
        "dark fluid, bright stones or calcium, enhancing or non-enhancing tissue, the kidney's shape, "
        "position and outline",
        "a comparison with another phase, density values in Hounsfield units",
    ),
    "dermamnist": (
        "one dermoscopic image of a skin lesion, reduced from a small original",
        "the lesion's colours, shape, border, symmetry and overall pattern; fine structures only "
        "where they are large",
        "fine dermoscopic dots, globules and network detail of small lesions, palpation, evolution",
    ),
    "kneexray": (
        "one anteroposterior radiograph cropped to a single knee joint",
        "the medial and lateral joint space, osteophytes at the joint margins, subchondral density, "
        "the shape of the bone ends",
        "the leg axis beyond the crop, cartilage itself, symptoms",
    ),
    "kvasir": (
        "one endoscopic video frame",
        "the mucosa's colour, surface and vessels, folds, openings, lesions, blue dye, instruments",
        "histology, the depth of invasion",
    ),
    "lungcolon": (
        "one H&E image of lung or colon tissue, reduced from 768×768 pixels",
        "the architecture (glands, crypts, alveoli, solid nests, keratin pearls), colour, mucin, "
        "necrosis, crowding, the shape and darkness of nuclei",
        "nucleoli, mitoses, chromatin patterns, intercellular bridges, cilia",
    ),
    "octmnist": (
        "one grey-scale retinal OCT B-scan through the macula",
        "the retinal layers, the curve of the bright outer band, dark fluid pockets, elevations and "
        "breaks of that band, the foveal pit",
        "single cells, thickness in micrometres",
    ),
    "retina": (
        "one colour fundus photograph",
        "the optic disc, cup and rim, the vessels, haemorrhages, exudates, pigment, overall clarity",
        "microaneurysms as single dots, nerve-fibre striations, lamina cribrosa pores",
    ),
}

# What no benchmark image shows at that size, with the words that give such a claim away.
NEVER_VISIBLE = (
    "detail below the image's resolution, comparisons with other images, sequences or phases, "
    "absolute sizes, the patient's history, symptoms or treatment"
)
INVISIBLE = re.compile(
    r"\b(?:nucleol\w*|mitos[ie]s|mitotic|chromatin|intercellular bridges?|cilia|ciliated"
    r"|microaneurysms?|nerve[- ]fib(?:re|er)s?|\d+(?:\.\d+)?\s?(?:mm|cm|µm)"
    r"|millimet\w*|centimet\w*|(?:patient'?s )?history|(?:on|across) (?:both|all|every|any|several)"
    r" (?:sequences?|phases?)|T1 and T2)\b",
    re.IGNORECASE,
)


def visibility_issue(sentence: str) -> str | None:
    """Why `sentence` names something the benchmark's images cannot show, or None."""
    found = INVISIBLE.search(sentence)
    return f"names what the images cannot show at their size ({found.group(0)!r})" if found else None


def visibility_note(dataset: str) -> str:
    """The standard for one dataset's sentences (its catalog key), as the generator and checker say it."""
    entry = VISIBLE.get(dataset)
    if entry is None:
        return f"Describe only what the image shows at 224×224 pixels: no {NEVER_VISIBLE}."
    image, shows, hides = entry
    return (
        f"Each image is {image}, seen at 224×224 pixels. It shows {shows}. It does not show {hides}, "
        f"nor {NEVER_VISIBLE}: describe only what is visible."
    )
