"""Calibration of the FPGA resource/Fmax model: the fitted coefficients per family (and
engine kind), the baseline they come from, and the least-squares fits that reproduce
them from the training split of ``tests/data/fpga_baselines/<key>/sweep.json``
(``python -m hdl.synth_sweep --fit``). LUT/FF coefficients are per feature bit, the
period's in ns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sim.fpga_features import FEATURES, engine_features_of, features, features_of
from sim.fpga_geometry import FpgaTarget, engine_kind, geometry, get_target
from sim.spec import Accelerator

#: Calibration: tests/data/fpga_baselines/<CALIBRATION[family]>/sweep.json, train split.
COEFFICIENTS: dict[str, dict[str, tuple[float, ...]]] = {
    "ecp5": {
        "ff": (0.919975, 0.778626, 22.702, 162.519),
        "lut": (1.11071, 0.566478, 48.7718, 1109.21),
        "period_ns": (5.9087, 1.7805, 0.846808),
    },
    "ice40": {
        "ff": (0.395222, 1.27981, -27.6758, 903.368),
        "lut": (1.33426, 1.51411, -3.45404, 1350.66),
        "period_ns": (29.3619,),
    },
}

#: Fitted extra coefficients per family, engine kind and metric, in
#: ``engine_features_of(family, kind)`` order (see :func:`fit_engines`); a kind missing
#: here has no calibrated model on that family.
ENGINE_COEFFICIENTS: dict[str, dict[str, dict[str, tuple[float, ...]]]] = {
    "ecp5": {
        "bitfusion": {
            "ff": (0.931595, 17.6621),
            "lut": (6.20273, -418.611),
            "period_ns": (-6.5846, 4.52804, 2.26459),
        },
        "bitserial": {
            "ff": (0.62429, 25.5947),
            "lut": (4.57909, 0.938021, -0.197086, -377.769),
            "period_ns": (-0.406998, 2.15543),
        },
        "sparse_nm": {
            "ff": (0.434377, 11.572),
            "lut": (1.29544, -165.948),
            "period_ns": (-0.545789,),
        },
    },
    # UP5K, 3-4 training engines per kind (FAMILY_ENGINE_FEATURES: fewer terms than ECP5)
    "ice40": {
        "bitfusion": {
            "ff": (0.80889, 69.8066),
            "lut": (4.87986, 65.1871),
            "period_ns": (-4.11566, 7.90915),
        },
        "bitserial": {
            "ff": (0.67271, 60.3498),
            "lut": (6.41968, 3.70221, -212.122),
            "period_ns": (1.96045,),
        },
        "sparse_nm": {
            "ff": (0.397626, 69.8479),
            "lut": (2.49906, -171.261),
            "period_ns": (-0.37589,),
        },
    },
}

_SWEEP_KEY = "yosys-0.70.0.0.post1259_nextpnr-0.11.1.0.post826"
CALIBRATION: dict[str, str] = {"ecp5": _SWEEP_KEY, "ice40": _SWEEP_KEY}


# -- fitting ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measurement:
    """One synthesized configuration: its spec and what the tools reported."""

    accel: Accelerator
    target: str
    lut: int
    ff: int
    dsp: int
    bram: int
    fmax_mhz: float


def _targets_of(rows: Sequence[Measurement]) -> list[FpgaTarget]:
    return [get_target(r.target) for r in rows]


def fit(rows: Iterable[Measurement]) -> dict[str, dict[str, tuple[float, ...]]]:
    """Least-squares coefficients per family and metric from measured configurations.

    LUT and FF are fitted in relative terms (each row weighted by 1/measured), so small
    and large configurations count alike -- the acceptance test is a relative error.
    """
    rows = [r for r in rows if engine_kind(r.accel) == "dense"]   # other kinds: fit_engines
    out: dict[str, dict[str, tuple[float, ...]]] = {}
    for family in sorted({get_target(r.target).family for r in rows}):
        mine = [r for r in rows if get_target(r.target).family == family]
        feats = [features(geometry(r.accel), t) for r, t in zip(mine, _targets_of(mine))]
        out[family] = {}
        for metric in FEATURES:
            x = np.array([[f[n] for n in features_of(family, metric)] for f in feats],
                         dtype=float)
            if metric == "period_ns":
                meas = np.array([1000.0 / r.fmax_mhz for r in mine])
            else:
                meas = np.array([float(getattr(r, metric)) for r in mine])
            y = meas.copy()
            if metric == "lut":           # the exact LUT-multiplier term is not fitted
                y -= np.array([f["lut_multiplier_luts"] for f in feats])
            w = 1.0 / meas
            coef, *_ = np.linalg.lstsq(x * w[:, None], y * w, rcond=None)
            out[family][metric] = tuple(float(f"{c:.6g}") for c in coef)
    return out


def fit_engines(rows: Iterable[Measurement],
                base: Mapping[str, Mapping[str, tuple[float, ...]]] | None = None,
                ) -> dict[str, dict[str, dict[str, tuple[float, ...]]]]:
    """Least-squares extra coefficients (:func:`engine_features_of`) per family and
    non-dense kind: what the dense model (``base``, default :data:`COEFFICIENTS`) leaves
    of each measurement of that kind, weighted like :func:`fit` (LUT/FF relative)."""
    base = COEFFICIENTS if base is None else base
    out: dict[str, dict[str, dict[str, tuple[float, ...]]]] = {}
    groups: dict[tuple[str, str], list[Measurement]] = {}
    for r in rows:
        kind = engine_kind(r.accel)
        if kind != "dense":
            groups.setdefault((get_target(r.target).family, kind), []).append(r)
    for (family, kind), mine in sorted(groups.items()):
        feats = [features(geometry(r.accel), t) for r, t in zip(mine, _targets_of(mine))]
        coefs: dict[str, tuple[float, ...]] = {}
        for metric, names in engine_features_of(family, kind).items():
            if metric == "period_ns":
                meas = np.array([1000.0 / r.fmax_mhz for r in mine])
            else:
                meas = np.array([float(getattr(r, metric)) for r in mine])
            fixed = np.array([f["lut_multiplier_luts"] if metric == "lut" else 0.0
                              for f in feats])
            dense = np.array([sum(c * f[n] for c, n in
                                  zip(base[family][metric], features_of(family, metric)))
                              for f in feats])
            x = np.array([[f[n] for n in names] for f in feats], dtype=float)
            w = 1.0 / meas
            coef, *_ = np.linalg.lstsq(x * w[:, None], (meas - fixed - dense) * w, rcond=None)
            coefs[metric] = tuple(float(f"{c:.6g}") for c in coef)
        out.setdefault(family, {})[kind] = coefs
    return out


__all__ = ["CALIBRATION", "COEFFICIENTS", "ENGINE_COEFFICIENTS", "Measurement", "fit",
           "fit_engines"]
