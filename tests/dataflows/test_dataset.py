"""Loading labelled .npz data: the shipped digits split and each bad-input error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from dataflows.dataset import Dataset, DatasetError, from_arrays, load_npz, shipped
from dataflows.onnx_model import load_model


@pytest.fixture(scope="module")
def cnn():
    return load_model(shipped("digits_cnn.onnx"))


def test_shipped_digits_split(cnn) -> None:
    test = load_npz(shipped("digits_test.npz"), cnn)
    calib = load_npz(shipped("digits_calib.npz"), cnn)
    assert (len(test), len(calib)) == (540, 200)
    assert test.x.dtype == np.float32 and test.y.dtype == np.int64
    assert test.x.shape == (540, 1, 8, 8)
    assert set(test.y.tolist()) == set(range(10)) == set(calib.y.tolist())
    assert not test.x.flags.writeable
    # independent source: every sample is a scikit-learn digit / 16 with its label, and
    # the test images are disjoint from the calibration (train) images
    digits = load_digits()
    index = {img.tobytes(): lab for img, lab in
             zip((digits.images / 16.0).astype(np.float32), digits.target)}
    for ds in (test, calib):
        assert all(index[img[0].tobytes()] == lab for img, lab in zip(ds.x, ds.y))
    assert not {img.tobytes() for img in test.x} & {img.tobytes() for img in calib.x}
    assert 0.0 <= test.x.min() and test.x.max() <= 1.0


def _npz(tmp_path: Path, **arrays: np.ndarray) -> Path:
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return path


def _error(path: Path, match: str, model=None) -> None:
    with pytest.raises(DatasetError, match=match) as info:
        load_npz(path, model)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(str(path))


GOOD_X = np.zeros((4, 1, 8, 8), np.float32)
GOOD_Y = np.array([0, 1, 2, 9])


def test_good_arrays_load(tmp_path: Path, cnn) -> None:
    ds = load_npz(_npz(tmp_path, x=GOOD_X, y=GOOD_Y), cnn)
    assert isinstance(ds, Dataset) and ds.y.dtype == np.int64 and len(ds) == 4
    # integral float labels are accepted as class indices
    assert load_npz(_npz(tmp_path, x=GOOD_X, y=GOOD_Y.astype(np.float64))).y.tolist() == \
        [0, 1, 2, 9]


def test_missing_empty_and_foreign_files(tmp_path: Path) -> None:
    _error(tmp_path / "absent.npz", r"no such data file")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    _error(empty, r"empty file; save the data with np.savez")
    text = tmp_path / "text.npz"
    text.write_text("x,y\n1,2\n")
    _error(text, r"not an .npz \(zip\) archive")
    single = tmp_path / "single.npy"
    np.save(single, GOOD_X)
    _error(single, r"not an .npz \(zip\) archive")


def test_missing_array(tmp_path: Path) -> None:
    _error(_npz(tmp_path, x=GOOD_X, labels=GOOD_Y), r"array 'y' is missing \(arrays: x, labels\)")
    _error(_npz(tmp_path, y=GOOD_Y), r"array 'x' is missing")


def test_pickled_array_is_refused(tmp_path: Path) -> None:
    _error(_npz(tmp_path, x=GOOD_X, y=np.array([0, "a", None, 1], dtype=object)),
           r"an array needs pickle to load")


def test_nan_in_x(tmp_path: Path) -> None:
    x = GOOD_X.copy()
    x[2, 0, 3, 4] = np.nan
    x[3, 0, 0, 0] = np.inf
    _error(_npz(tmp_path, x=x, y=GOOD_Y),
           r"array 'x' has 2 non-finite values \(first at \[2, 0, 3, 4\]: nan\)")


def test_labels_out_of_range(tmp_path: Path, cnn) -> None:
    _error(_npz(tmp_path, x=GOOD_X, y=np.array([0, 1, 10, 3])),
           r"array 'y' has label 10 but model .*digits_cnn.onnx has 10 classes; labels must "
           r"be in \[0, 10\)", cnn)
    _error(_npz(tmp_path, x=GOOD_X, y=np.array([0, -1, 2, 3])), r"array 'y' has label -1")


def test_wrong_shape_for_the_model(tmp_path: Path, cnn) -> None:
    _error(_npz(tmp_path, x=np.zeros((4, 64), np.float32), y=GOOD_Y),
           r"array 'x' has shape \[4, 64\] but model .* takes N x 1 x 8 x 8; reshape x to "
           r"\[4, 1, 8, 8\]", cnn)


def test_length_mismatch_empty_and_types(tmp_path: Path) -> None:
    _error(_npz(tmp_path, x=GOOD_X, y=GOOD_Y[:3]), r"'x' has 4 samples but 'y' has 3")
    _error(_npz(tmp_path, x=np.zeros((0, 1, 8, 8), np.float32), y=np.zeros(0, np.int64)),
           r"array 'x' is empty")
    _error(_npz(tmp_path, x=GOOD_X.astype(np.uint8), y=GOOD_Y), r"'x' has dtype uint8")
    _error(_npz(tmp_path, x=GOOD_X, y=np.eye(4)), r"'y' has shape \[4, 4\].*not one-hot")
    _error(_npz(tmp_path, x=GOOD_X, y=np.array([0.5, 1, 2, 3])),
           r"'y' has dtype float64 with non-integer values")


def test_from_arrays_validates_in_memory_data(cnn) -> None:
    with pytest.raises(DatasetError, match=r"<arrays>: array 'y' has label 12"):
        from_arrays(GOOD_X, np.array([0, 1, 12, 3]), cnn)
