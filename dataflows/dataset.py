"""Labelled evaluation / calibration data from an ``.npz`` file (arrays ``x`` and ``y``).

``x`` holds the model inputs exactly as the model takes them (already normalised),
``N x <model input shape>``; ``y`` holds ``N`` integer class labels. Files are read
without pickle. The shipped digits data (see ``dataflows/models/README.md``) is
``shipped("digits_test.npz")`` and ``shipped("digits_calib.npz")``.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from dataflows.errors import CoforgeError
from dataflows.onnx_model import Model

__all__ = ["MODELS_DIR", "Dataset", "DatasetError", "from_arrays", "load_npz", "shipped"]

#: Where the example models and data ship (package data of ``dataflows``).
MODELS_DIR: Path = Path(__file__).parent / "models"


class DatasetError(CoforgeError):
    """A data file is missing or its arrays break a rule; the message names file and array."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Inputs ``x`` (N x ..., float32 or float64) and labels ``y`` (N, int64); read-only."""

    x: np.ndarray
    y: np.ndarray
    source: str = "<arrays>"

    def __len__(self) -> int:
        return len(self.y)


def shipped(name: str) -> Path:
    """Path of a file shipped in ``dataflows/models`` (e.g. ``"digits_cnn.onnx"``)."""
    path = MODELS_DIR / name
    if not path.is_file():
        known = ", ".join(sorted(p.name for p in MODELS_DIR.iterdir()
                                 if p.suffix in (".onnx", ".npz")))
        raise DatasetError(f"{name}: no such shipped file; shipped: {known}")
    return path


def load_npz(path: str | PathLike[str], model: Model | None = None) -> Dataset:
    """Read and validate ``x``/``y`` from ``path``; with ``model``, against its input.

    Raises :class:`DatasetError` (one line naming the file, the array and the fix) for a
    missing/unreadable file, a missing array, an empty set, non-finite or non-float
    ``x``, non-integer ``y``, ``len(x) != len(y)``, an ``x`` shape other than
    ``N x model.input_shape`` and a label outside ``[0, model.num_classes)``.
    """
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"{p}: no such data file; give an .npz with arrays x and y")
    if p.stat().st_size == 0 or not zipfile.is_zipfile(p):
        what = "empty file" if p.stat().st_size == 0 else "not an .npz (zip) archive"
        raise DatasetError(f"{p}: {what}; save the data with np.savez(path, x=inputs, "
                           "y=labels)")
    try:
        with np.load(p, allow_pickle=False) as npz:
            missing = [k for k in ("x", "y") if k not in npz.files]
            if missing:
                raise DatasetError(f"{p}: array {missing[0]!r} is missing (arrays: "
                                   f"{', '.join(npz.files) or 'none'}); save with "
                                   "np.savez(path, x=inputs, y=labels)")
            x, y = npz["x"], npz["y"]
    except DatasetError:
        raise
    except ValueError as err:  # object arrays need pickle
        raise DatasetError(f"{p}: an array needs pickle to load ({err}); store x and y as "
                           "plain numeric arrays") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise DatasetError(f"{p}: not a readable .npz file ({type(err).__name__}); save it "
                           "with np.savez(path, x=inputs, y=labels)") from None
    return from_arrays(x, y, model, str(p))


def from_arrays(x: np.ndarray, y: np.ndarray, model: Model | None = None,
                source: str = "<arrays>") -> Dataset:
    """Validate in-memory arrays the same way :func:`load_npz` validates a file's."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 1 or len(x) == 0:
        raise DatasetError(f"{source}: array 'x' is empty (shape {list(x.shape)}); give at "
                           "least one sample")
    if not np.issubdtype(x.dtype, np.floating):
        raise DatasetError(f"{source}: array 'x' has dtype {x.dtype}; give the model inputs "
                           "as float32 (normalised as the model expects)")
    if y.ndim != 1:
        raise DatasetError(f"{source}: array 'y' has shape {list(y.shape)}; give one class "
                           "index per sample (a 1-D array, not one-hot)")
    if len(x) != len(y):
        raise DatasetError(f"{source}: array 'x' has {len(x)} samples but 'y' has {len(y)}; "
                           "give one label per sample")
    bad = ~np.isfinite(x)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DatasetError(f"{source}: array 'x' has {int(bad.sum())} non-finite values "
                           f"(first at {list(where)}: {x[where]}); remove or fix those samples")
    if not np.issubdtype(y.dtype, np.integer) and not (
            np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all()
            and np.all(y == np.round(y))):
        raise DatasetError(f"{source}: array 'y' has dtype {y.dtype} with non-integer "
                           "values; give integer class indices")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise DatasetError(f"{source}: array 'y' has label {int(y.min())}; labels are class "
                           "indices >= 0")
    if model is not None:
        if tuple(x.shape[1:]) != model.input_shape:
            raise DatasetError(
                f"{source}: array 'x' has shape {list(x.shape)} but model {model.source} "
                f"takes N x {' x '.join(map(str, model.input_shape))}; reshape x to "
                f"{[len(x), *model.input_shape]}")
        classes = model.num_classes
        if y.max() >= classes:
            raise DatasetError(f"{source}: array 'y' has label {int(y.max())} but model "
                               f"{model.source} has {classes} classes; labels must be in "
                               f"[0, {classes})")
    x = np.ascontiguousarray(x)
    x.setflags(write=False)
    y.setflags(write=False)
    return Dataset(x=x, y=y, source=source)
