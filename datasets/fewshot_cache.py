"""BiomedCoOp's few-shot cache files (shot_<K>-seed_<S>.pkl), read with a restricted unpickler.

A cache is a pickled ``{"train": [Datum, ...], "val": [Datum, ...]}``. Pickles in a shared data
folder can run arbitrary code when loaded, so only Dassl's ``Datum`` and plain containers load.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
from collections.abc import Callable, Sequence

from datasets.splits import Item

DATUM = ("dassl.data.datasets.base_dataset", "Datum")
# Older pickle protocols rebuild plain objects through these two; they can only build an allowed class.
RECONSTRUCTORS = {("copyreg", "_reconstructor"), ("builtins", "object")}


class UnsafeCacheError(pickle.UnpicklingError):
    """A cache file that holds something other than Datum objects and containers."""


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
    with open(path, "rb") as file:
        try:
            data = _DatumUnpickler(file, path).load()
        except UnsafeCacheError:
            raise
        except Exception as error:
            raise UnsafeCacheError(f"few-shot cache {path} is unreadable ({error}); delete it") from error
    if not isinstance(data, dict) or not {"train", "val"} <= set(data):
        raise UnsafeCacheError(f"few-shot cache {path} is not a dict with 'train' and 'val'; delete it")
    return {
        key: [Item(datum.impath, int(datum.label), datum.classname) for datum in data[key]]
        for key in ("train", "val")
    }


def write_cache(path: str, train: Sequence[Item], val: Sequence[Item]) -> None:
    """Write the picks as BiomedCoOp does (Dassl Datum objects, highest protocol), atomically."""
    from dassl.data.datasets.base_dataset import Datum

    data = {
        key: [Datum(impath=item.impath, label=item.label, classname=item.classname) for item in items]
        for key, items in (("train", train), ("val", val))
    }
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            pickle.dump(data, file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
