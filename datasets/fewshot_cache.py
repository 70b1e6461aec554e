"""BiomedCoOp's few-shot cache files (shot_<K>-seed_<S>.pkl), read with a restricted unpickler.

A cache is a pickled ``{"train": [Datum, ...], "val": [Datum, ...]}``. Pickles in a shared data
folder can run arbitrary code when loaded, so only Dassl's ``Datum`` and plain containers load.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Callable, Sequence

from datasets.atomic import atomic_write
from datasets.splits import Item

DATUM = ("dassl.data.datasets.base_dataset", "Datum")
# Older pickle protocols rebuild plain objects through these two; they can only build an allowed class.
RECONSTRUCTORS = {("copyreg", "_reconstructor"), ("builtins", "object")}


class UnsafeCacheError(pickle.UnpicklingError):
    """A cache file that holds something other than Datum objects and containers."""


class CorruptCacheError(pickle.UnpicklingError):
    """A cache file that is truncated, damaged or not shaped like a cache: stale, to be drawn again."""


def cache_path(fewshot_dir: str, num_shots: int, seed: int) -> str:
    """Where BiomedCoOp keeps the few-shot picks of one (shots, seed)."""
    return os.path.join(fewshot_dir, f"shot_{num_shots}-seed_{seed}.pkl")


class _DatumUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedReader, path: str) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> type | Callable:
        if (module, name) == DATUM:
            from dassl.data.datasets.base_dataset import Datum

            return Datum
        if (module, name) in RECONSTRUCTORS:
            return super().find_class(module, name)
        raise UnsafeCacheError(
            f"refusing to load few-shot cache {self.path}: it contains {module}.{name}, and only "
            "Dassl Datum objects are allowed. Delete the file to have it drawn again."
        )


def read_cache(path: str) -> dict[str, list[Item]]:
    """Load a cache as plain items; refuses anything but Datum objects, lists and dicts."""
    try:
        with open(path, "rb") as file:
            data = _DatumUnpickler(file, path).load()
        return {
            key: [Item(str(datum.impath), int(datum.label), str(datum.classname)) for datum in data[key]]
            for key in ("train", "val")
        }
    except UnsafeCacheError:
        raise
    except Exception as error:
        raise CorruptCacheError(
            f"few-shot cache {path} is unreadable or not a {{'train', 'val'}} dict of Datum "
            f"({type(error).__name__}: {error}); delete it to have the picks drawn again"
        ) from error


def write_cache(path: str, train: Sequence[Item], val: Sequence[Item]) -> None:
    """Write the picks as BiomedCoOp does (Dassl Datum objects, highest protocol), atomically."""
    from dassl.data.datasets.base_dataset import Datum

    data = {
        key: [Datum(impath=item.impath, label=item.label, classname=item.classname) for item in items]
        for key, items in (("train", train), ("val", val))
    }
    with atomic_write(path, "wb") as file:
        pickle.dump(data, file, protocol=pickle.HIGHEST_PROTOCOL)
