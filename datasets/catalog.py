"""The benchmark datasets: every fact about a dataset's identity, in one table.

Eleven biomedical datasets on BiomedCoOp's splits (Table 1) and seven natural-image datasets on CoOp's
splits (Table 3). Per dataset: Dassl registry name, config name, attribute-file aliases, domain and
modality, class names in label order (as the published split files hold them), folder layout and split
file, where the data come from and under which licence, the class-name prompt template and the minimum
number of curated attribute sentences per class. Scripts ask it from the shell:
``python -m datasets.catalog folder btmri`` prints ``BTMRI``, ``python -m datasets.catalog split
oxford_pets`` prints ``oxford_pets/split_zhou_OxfordPets.json``; ``python -m datasets.catalog names``
lists the config names (``names natural`` or ``names biomedical``: one domain's).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from dataclasses import dataclass

BIOMEDICAL, NATURAL = "biomedical", "natural"
DOMAINS = (BIOMEDICAL, NATURAL)
# The fewest curated attribute sentences per class and kind (attributes.check on the curated set).
MIN_SENTENCES = {
    BIOMEDICAL: {"des": 20, "dist": 20, "confuse": 12},
    NATURAL: {"des": 6, "dist": 6, "confuse": 6},
}
DEFAULT_TEMPLATE = "a photo of a {}."


@dataclass(frozen=True)
class Download:
    """One file of a natural dataset's sources: a URL or a Google Drive id, unpacked when an archive.

    ``member`` is what the file adds to the dataset folder: the folder an archive holds (found at its
    top or one folder down), or the file's own name for a plain file.
    """

    filename: str
    member: str
    url: str = ""
    drive_id: str = ""

    @property
    def is_archive(self) -> bool:
        return self.filename.endswith((".zip", ".tar", ".tar.gz", ".tgz"))


@dataclass(frozen=True)
class DatasetEntry:
    """One benchmark dataset."""

    folder: str  # Dassl registry name (DATASET.NAME); BiomedCoOp's sets: also its folder and split suffix
    config_name: str  # configs/datasets/<config_name>.yaml and output folders: btmri
    modality: str
    classnames: tuple[str, ...]  # in label order, exactly as in the published split files
    drive_id: str  # Google Drive id of BiomedCoOp's archive, or of CoOp's split file
    display: str = ""  # table header; the folder name when empty
    aliases: tuple[str, ...] = ()  # other spellings of attribute-file names
    domain: str = BIOMEDICAL
    directory: str = ""  # folder under the data root (CoOp's dataset_dir); the folder name when empty
    image_subdir: str = ""  # image folder inside it; the folder name when empty (BiomedCoOp's layout)
    template: str = DEFAULT_TEMPLATE  # class-name prompt of zero-shot CLIP (CoOp's CUSTOM_TEMPLATES)
    sizes: tuple[int, int, int] = (0, 0, 0)  # train, val, test images of the published split
    source: str = ""  # where the images are published
    licence: str = ""  # as published by the dataset's authors
    downloads: tuple[Download, ...] = ()  # natural sets: the files that make the dataset folder

    @property
    def label(self) -> str:
        return self.display or self.folder

    @property
    def dataset_dir(self) -> str:
        """Folder under the data root: ``BTMRI``, ``oxford_pets``."""
        return self.directory or self.folder

    @property
    def image_dir(self) -> str:
        """Image folder inside the dataset folder: ``BTMRI``, ``images``."""
        return self.image_subdir or self.folder

    @property
    def split_file(self) -> str:
        """Split file name: BiomedCoOp's ``split_<folder>.json``, CoOp's ``split_zhou_<folder>.json``."""
        return f"split_zhou_{self.folder}.json" if self.domain == NATURAL else f"split_{self.folder}.json"

    @property
    def min_sentences(self) -> dict[str, int]:
        """The fewest curated attribute sentences per class, per kind."""
        return MIN_SENTENCES[self.domain]

    @property
    def class_folders(self) -> tuple[str, ...]:
        """Image sub-folders of BiomedCoOp's archives: the class names with ``_`` for spaces."""
        return tuple(name.replace(" ", "_") for name in self.classnames)


def _names(text: str, separator: str | None = None) -> tuple[str, ...]:
    """Class names written as one string (whitespace-separated unless they hold spaces)."""
    return tuple(name.strip() for name in text.split(separator))


VGG = "https://www.robots.ox.ac.uk/~vgg/data"


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
        DatasetEntry(
            "UCF101",
            "ucf101",
            "video frame",
            _names(
                "Apply_Eye_Makeup Apply_Lipstick Archery Baby_Crawling Balance_Beam Band_Marching "
                "Baseball_Pitch Basketball Basketball_Dunk Bench_Press Biking Billiards Blow_Dry_Hair "
                "Blowing_Candles Body_Weight_Squats Bowling Boxing_Punching_Bag Boxing_Speed_Bag "
                "Breast_Stroke Brushing_Teeth Clean_And_Jerk Cliff_Diving Cricket_Bowling Cricket_Shot "
                "Cutting_In_Kitchen Diving Drumming Fencing Field_Hockey_Penalty Floor_Gymnastics "
                "Frisbee_Catch Front_Crawl Golf_Swing Haircut Hammering Hammer_Throw Handstand_Pushups "
                "Handstand_Walking Head_Massage High_Jump Horse_Race Horse_Riding Hula_Hoop Ice_Dancing "
                "Javelin_Throw Juggling_Balls Jumping_Jack Jump_Rope Kayaking Knitting Long_Jump Lunges "
                "Military_Parade Mixing Mopping_Floor Nunchucks Parallel_Bars Pizza_Tossing Playing_Cello "
                "Playing_Daf Playing_Dhol Playing_Flute Playing_Guitar Playing_Piano Playing_Sitar "
                "Playing_Tabla Playing_Violin Pole_Vault Pommel_Horse Pull_Ups Punch Push_Ups Rafting "
                "Rock_Climbing_Indoor Rope_Climbing Rowing Salsa_Spin Shaving_Beard Shotput Skate_Boarding "
                "Skiing Skijet Sky_Diving Soccer_Juggling Soccer_Penalty Still_Rings Sumo_Wrestling Surfing "
                "Swing Table_Tennis_Shot Tai_Chi Tennis_Swing Throw_Discus Trampoline_Jumping Typing "
                "Uneven_Bars Volleyball_Spiking Walking_With_Dog Wall_Pushups Writing_On_Board Yo_Yo"
            ),
            "1I0S0q91hJfsV9Gf4xDIjgDq4AqBNJb1y",
            domain=NATURAL,
            directory="ucf101",
            image_subdir="UCF-101-midframes",
            template="a photo of a person doing {}.",
            sizes=(7639, 1898, 3783),
            source="https://www.crcv.ucf.edu/data/UCF101.php (middle frames by CoOp)",
            licence="none stated by its authors (research use)",
            downloads=(
                Download(
                    "UCF-101-midframes.zip", "UCF-101-midframes", drive_id="10Jqome3vtUA2keJkNanAiFpgbyC9Hc2O"
                ),
            ),
        ),
        DatasetEntry(
            "Caltech101",
            "caltech101",
            "object photograph",
            _names(
                "face leopard motorbike accordion airplane anchor ant barrel bass beaver binocular bonsai "
                "brain brontosaurus buddha butterfly camera cannon car_side ceiling_fan cellphone chair "
                "chandelier cougar_body cougar_face crab crayfish crocodile crocodile_head cup dalmatian "
                "dollar_bill dolphin dragonfly electric_guitar elephant emu euphonium ewer ferry flamingo "
                "flamingo_head garfield gerenuk gramophone grand_piano hawksbill headphone hedgehog "
                "helicopter ibis inline_skate joshua_tree kangaroo ketch lamp laptop llama lobster lotus "
                "mandolin mayfly menorah metronome minaret nautilus octopus okapi pagoda panda pigeon pizza "
                "platypus pyramid revolver rhino rooster saxophone schooner scissors scorpion sea_horse "
                "snoopy soccer_ball stapler starfish stegosaurus stop_sign strawberry sunflower tick "
                "trilobite umbrella watch water_lilly wheelchair wild_cat windsor_chair wrench yin_yang"
            ),
            "1hyarUivQE36mY6jSomru6Fjd-JzwcCzN",
            domain=NATURAL,
            directory="caltech-101",
            image_subdir="101_ObjectCategories",
            sizes=(4128, 1649, 2465),
            source="https://data.caltech.edu/records/mzrjq-6wc02",
            licence="CC BY 4.0",
            downloads=(
                Download(
                    "caltech-101.zip",  # holds 101_ObjectCategories.tar.gz
                    "101_ObjectCategories",
                    url="https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip",
                ),
            ),
        ),
        DatasetEntry(
            "Food101",
            "food101",
            "food photograph",
            _names(
                "apple_pie baby_back_ribs baklava beef_carpaccio beef_tartare beet_salad beignets bibimbap "
                "bread_pudding breakfast_burrito bruschetta caesar_salad cannoli caprese_salad carrot_cake "
                "ceviche cheese_plate cheesecake chicken_curry chicken_quesadilla chicken_wings "
                "chocolate_cake chocolate_mousse churros clam_chowder club_sandwich crab_cakes creme_brulee "
                "croque_madame cup_cakes deviled_eggs donuts dumplings edamame eggs_benedict escargots "
                "falafel filet_mignon fish_and_chips foie_gras french_fries french_onion_soup french_toast "
                "fried_calamari fried_rice frozen_yogurt garlic_bread gnocchi greek_salad "
                "grilled_cheese_sandwich grilled_salmon guacamole gyoza hamburger hot_and_sour_soup hot_dog "
                "huevos_rancheros hummus ice_cream lasagna lobster_bisque lobster_roll_sandwich "
                "macaroni_and_cheese macarons miso_soup mussels nachos omelette onion_rings oysters "
                "pad_thai paella pancakes panna_cotta peking_duck pho pizza pork_chop poutine prime_rib "
                "pulled_pork_sandwich ramen ravioli red_velvet_cake risotto samosa sashimi scallops "
                "seaweed_salad shrimp_and_grits spaghetti_bolognese spaghetti_carbonara spring_rolls steak "
                "strawberry_shortcake sushi tacos takoyaki tiramisu tuna_tartare waffles"
            ),
            "1QK0tGi096I0Ba6kggatX1ee6dJFIcEJl",
            domain=NATURAL,
            directory="food-101",
            image_subdir="images",
            template="a photo of {}, a type of food.",
            sizes=(50500, 20200, 30300),
            source="https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/",
            licence="scientific fair use; beyond it, Foodspotting's terms of use (license_agreement.txt)",
            downloads=(
                Download(
                    "food-101.tar.gz", "images", url="http://data.vision.ee.ethz.ch/cvl/food-101.tar.gz"
                ),
            ),
        ),
        DatasetEntry(
            "DescribableTextures",
            "dtd",
            "texture photograph",
            _names(
                "banded blotchy braided bubbly bumpy chequered cobwebbed cracked crosshatched crystalline "
                "dotted fibrous flecked freckled frilly gauzy grid grooved honeycombed interlaced knitted "
                "lacelike lined marbled matted meshed paisley perforated pitted pleated polka-dotted porous "
                "potholed scaly smeared spiralled sprinkled stained stratified striped studded swirly "
                "veined waffled woven wrinkled zigzagged"
            ),
            "1u3_QfB467jqHgNXC00UIzbLZRQCg2S7x",
            display="DTD",
            domain=NATURAL,
            directory="dtd",
            image_subdir="images",
            template="{} texture.",
            sizes=(2820, 1128, 1692),
            source="https://www.robots.ox.ac.uk/~vgg/data/dtd/",
            licence="research use only",
            downloads=(Download("dtd-r1.0.1.tar.gz", "images", url=f"{VGG}/dtd/download/dtd-r1.0.1.tar.gz"),),
        ),
        DatasetEntry(
            "EuroSAT",
            "eurosat",
            "Sentinel-2 satellite",
            _names(
                "Annual Crop Land;Forest;Herbaceous Vegetation Land;Highway or Road;Industrial Buildings;"
                "Pasture Land;Permanent Crop Land;Residential Buildings;River;Sea or Lake",
                ";",
            ),
            "1Ip7yaCWFi0eaOFUGga0lUdVi_DDQth1o",
            domain=NATURAL,
            directory="eurosat",
            image_subdir="2750",
            template="a centered satellite photo of {}.",
            sizes=(13500, 5400, 8100),
            source="https://github.com/phelber/EuroSAT",
            licence="MIT",
            downloads=(
                Download("EuroSAT.zip", "2750", url="http://madm.dfki.de/files/sentinel/EuroSAT.zip"),
            ),
        ),
        DatasetEntry(
            "OxfordPets",
            "oxford_pets",
            "pet photograph",
            _names(
                "abyssinian american_bulldog american_pit_bull_terrier basset_hound beagle bengal birman "
                "bombay boxer british_shorthair chihuahua egyptian_mau english_cocker_spaniel "
                "english_setter german_shorthaired great_pyrenees havanese japanese_chin keeshond "
                "leonberger maine_coon miniature_pinscher newfoundland persian pomeranian pug ragdoll "
                "russian_blue saint_bernard samoyed scottish_terrier shiba_inu siamese sphynx "
                "staffordshire_bull_terrier wheaten_terrier yorkshire_terrier"
            ),
            "1501r8Ber4nNKvmlFVQZ8SeUHTcdTTEqs",
            display="Pets",
            domain=NATURAL,
            directory="oxford_pets",
            image_subdir="images",
            template="a photo of a {}, a type of pet.",
            sizes=(2944, 736, 3669),
            source="https://www.robots.ox.ac.uk/~vgg/data/pets/",
            licence="CC BY-SA 4.0 (image copyright stays with the owners)",
            downloads=(
                Download("images.tar.gz", "images", url=f"{VGG}/pets/data/images.tar.gz"),
                Download("annotations.tar.gz", "annotations", url=f"{VGG}/pets/data/annotations.tar.gz"),
            ),
        ),
        DatasetEntry(
            "OxfordFlowers",
            "oxford_flowers",
            "flower photograph",
            _names(
                "pink primrose;hard-leaved pocket orchid;canterbury bells;sweet pea;english marigold;"
                "tiger lily;moon orchid;bird of paradise;monkshood;globe thistle;snapdragon;colt's foot;"
                "king protea;spear thistle;yellow iris;globe-flower;purple coneflower;peruvian lily;"
                "balloon flower;giant white arum lily;fire lily;pincushion flower;fritillary;red ginger;"
                "grape hyacinth;corn poppy;prince of wales feathers;stemless gentian;artichoke;"
                "sweet william;carnation;garden phlox;love in the mist;mexican aster;alpine sea holly;"
                "ruby-lipped cattleya;cape flower;great masterwort;siam tulip;lenten rose;barbeton daisy;"
                "daffodil;sword lily;poinsettia;bolero deep blue;wallflower;marigold;buttercup;oxeye daisy;"
                "common dandelion;petunia;wild pansy;primula;sunflower;pelargonium;bishop of llandaff;gaura;"
                "geranium;orange dahlia;pink-yellow dahlia;cautleya spicata;japanese anemone;"
                "black-eyed susan;silverbush;californian poppy;osteospermum;spring crocus;bearded iris;"
                "windflower;tree poppy;gazania;azalea;water lily;rose;thorn apple;morning glory;"
                "passion flower;lotus;toad lily;anthurium;frangipani;clematis;hibiscus;columbine;"
                "desert-rose;tree mallow;magnolia;cyclamen;watercress;canna lily;hippeastrum;bee balm;"
                "ball moss;foxglove;bougainvillea;camellia;mallow;mexican petunia;bromelia;blanket flower;"
                "trumpet creeper;blackberry lily",
                ";",
            ),
            "1Pp0sRXzZFZq15zVOzKjKBu4A9i01nozT",
            display="Flowers",
            domain=NATURAL,
            directory="oxford_flowers",
            image_subdir="jpg",
            template="a photo of a {}, a type of flower.",
            sizes=(4093, 1633, 2463),
            source="https://www.robots.ox.ac.uk/~vgg/data/flowers/102/",
            licence="none stated by its authors (research use)",
            downloads=(
                Download("102flowers.tgz", "jpg", url=f"{VGG}/flowers/102/102flowers.tgz"),
                Download("imagelabels.mat", "imagelabels.mat", url=f"{VGG}/flowers/102/imagelabels.mat"),
                Download(
                    "cat_to_name.json", "cat_to_name.json", drive_id="1AkcxCXeK_RCGCEC_GvmWxjcjaNhu-at0"
                ),
            ),
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


def prompt_templates(dataset: str, configured: Sequence[str] = ()) -> list[str]:
    """Class-name prompt templates: the configured ones (TRAINER.COMMON.TEMPLATES), else the dataset's
    (``a photo of a {}.`` for a dataset outside the catalog)."""
    if configured:
        return list(configured)
    try:
        return [find_dataset(dataset).template]
    except UnknownDatasetError:
        return [DEFAULT_TEMPLATE]


def in_domain(domain: str) -> tuple[DatasetEntry, ...]:
    """The entries of one domain (``biomedical`` or ``natural``), in catalog order."""
    if domain not in DOMAINS:
        raise UnknownDatasetError(f"unknown domain {domain!r}; valid domains: {', '.join(DOMAINS)}")
    return tuple(entry for entry in CATALOG.values() if entry.domain == domain)


def main(argv: Sequence[str] | None = None) -> int:
    """``folder|config|split NAME`` print one name; ``names [DOMAIN]`` the config names."""
    args = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m datasets.catalog {folder|config|split} NAME  |  names [biomedical|natural]"
    try:
        if args[:1] == ["names"] and len(args) <= 2:
            entries = in_domain(args[1]) if len(args) == 2 else tuple(CATALOG.values())
            print(" ".join(entry.config_name for entry in entries))
            return 0
        if len(args) != 2 or args[0] not in ("folder", "config", "split"):
            print(usage, file=sys.stderr)
            return 2
        entry = find_dataset(args[1])
    except UnknownDatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    answers = {
        "folder": entry.folder,
        "config": entry.config_name,
        "split": f"{entry.dataset_dir}/{entry.split_file}",
    }
    print(answers[args[0]])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
