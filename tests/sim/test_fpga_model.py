"""The FPGA resource and Fmax model (sim/fpga_model.py): its exact rules (geometry, pins,
DSP, block RAM) against the RTL generator and Yosys, its fit against the stored
calibration sweep, and its accuracy on the configurations held out of the fit."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from sim.fpga_model import (CALIBRATION, COEFFICIENTS, FEATURES, FpgaFitError, bram_blocks,
                            check_fit, dsps_needed, estimate, fit, geometry, get_target)
from sim.spec import Accelerator, Buffer, PEConfig

BASELINES = Path(__file__).resolve().parents[1] / "data" / "fpga_baselines"
#: Acceptance on held-out configurations (relative error).
ACCURACY = {"lut": 0.10, "ff": 0.10, "dsp": 0.10, "fmax_mhz": 0.15}


def _accel(df: str = "ws", r: int = 4, c: int = 4, bits: int = 8, acc: int = 32,
           pr: bool = False, kib: int = 16, double: bool = False) -> Accelerator:
    return Accelerator(name=f"t{r}x{c}", rows=r, cols=c, dataflow=df,
                       pe=PEConfig(bits, acc, pr), rf=Buffer("rf", capacity_bytes=8),
                       glb=(Buffer("glb", capacity_bytes=kib * 1024, word_bits=64,
                                   double_buffered=double),))


@pytest.mark.parametrize("accel", [
    _accel(), _accel("os", 3, 5, 4, 16, True, 8), _accel("ws", 8, 8, 8, 32, False, 64, True),
    _accel("ws", 2, 8, 16, 40, True, 32), _accel("os", 64, 1, 8, 32, False, 1024),
])
def test_geometry_and_pins_match_the_generator(accel: Accelerator) -> None:
    from hdl.params import HdlParams
    from hdl.synth_wrapper import bare_pins as hdl_bare, narrow_pins as hdl_narrow
    from sim.fpga_model import bare_pins, narrow_pins
    g, p = geometry(accel), HdlParams.from_accelerator(accel)
    assert (g.depth_a, g.depth_b, g.depth_o, g.dim_bits) == \
        (p.depth_a, p.depth_b, p.depth_o, p.dim_bits)
    assert (bare_pins(g), narrow_pins(g)) == (hdl_bare(p), hdl_narrow(p))


@pytest.mark.parametrize("shape, ecp5, ice40", [
    # (lanes, lane bits, depth): DP16KD / SB_RAM40_4K counts Yosys 0.70 chose for one
    # lane-granular RAM (measured on stand-alone buffers)
    ((4, 8, 4096), 8, None), ((8, 8, 1365), 6, None), ((8, 32, 341), 8, None),
    ((4, 32, 1024), 8, None), ((8, 8, 512), 2, None), ((2, 8, 1024), 1, 4),
    ((4, 4, 4096), 4, None), ((4, 16, 2048), 8, None), ((8, 24, 300), 6, None),
    ((8, 40, 200), 10, None), ((2, 16, 100), 1, None), ((8, 8, 2730), 12, None),
    ((4, 8, 512), None, 4), ((8, 8, 256), None, 4), ((4, 32, 128), None, 8),
    ((4, 4, 1024), None, 4), ((2, 8, 200), None, 1), ((8, 24, 64), None, 12),
])
def test_block_ram_rule(shape: tuple[int, int, int], ecp5: int | None,
                        ice40: int | None) -> None:
    for family, want in (("ecp5", ecp5), ("ice40", ice40)):
        if want is not None:
            assert bram_blocks(*shape, family)[0] == want, (shape, family)


def test_dsp_rule() -> None:
    assert dsps_needed(geometry(_accel(bits=4)), get_target("ecp5-85k")) == 16
    up5k = get_target("ice40-up5k")
    assert dsps_needed(geometry(_accel(r=2, c=4)), up5k) == 8            # all 8 SB_MAC16
    assert dsps_needed(geometry(_accel(r=3, c=3)), up5k) == 0            # 9 > 8: LUTs
    assert dsps_needed(geometry(_accel(r=2, c=2, bits=4, acc=16)), up5k) == 0  # int4


def _plan_error(accel: Accelerator, target: object) -> str:
    with pytest.raises(FpgaFitError) as exc:
        check_fit(accel, target)     # type: ignore[arg-type]
    return str(exc.value)


def test_fit_errors_carry_the_numbers() -> None:
    assert "needs 81 MULT18X18D (one per 16x16-bit multiplier), the part has 72" in \
        _plan_error(_accel(r=9, c=9, bits=16, acc=40), "ecp5-45k")
    small = dataclasses.replace(get_target("ice40-up5k"), io_pins=25)
    assert "needs 30 I/O pins even behind the pin-reducing wrapper; the sg48 package " \
           "has 25" in _plan_error(_accel(r=2, c=2, kib=4), small)
    msg = _plan_error(_accel(r=2, c=2, kib=64), "ice40-up5k")
    assert "need 130 SB_RAM40_4K, the part has 30; shrink the glb" in msg
    assert "target must be one of ['ecp5-45k', 'ecp5-85k', 'ice40-up5k'], not 'xc7'" in \
        _plan_error(_accel(), "xc7")
    assert "dataflow must be one of ['ws', 'os'] for RTL, not 'is'" in \
        _plan_error(_accel("is"), "ecp5-85k")
    plan = check_fit(_accel(r=2, c=2, kib=4), "ice40-up5k")
    assert plan.top == "narrow" and plan.io_pins == 30 and plan.dsp_multipliers


def _calibration(family: str) -> list:
    from hdl.synth_sweep import load_baseline, measurements
    path = BASELINES / CALIBRATION[family] / "sweep.json"
    rows = load_baseline(path)
    return [(cfg, m) for cfg, m in rows if get_target(cfg.target).family == family], \
        measurements([(cfg, m) for cfg, m in rows
                      if get_target(cfg.target).family == family], "train")


@pytest.mark.parametrize("family", ["ecp5", "ice40"])
def test_shipped_coefficients_are_the_fit_of_the_training_split(family: str) -> None:
    _, train = _calibration(family)
    assert len(train) >= 6
    refit = fit(train)[family]
    for metric in FEATURES:
        assert refit[metric] == pytest.approx(COEFFICIENTS[family][metric], rel=1e-4), metric


@pytest.mark.parametrize("family", ["ecp5", "ice40"])
def test_held_out_predictions(family: str) -> None:
    rows, _ = _calibration(family)
    # the dense engine's; the other kinds' held-out checks: tests/sim/test_fpga_model_engines.py
    held_out = [(cfg, m) for cfg, m in rows if cfg.split == "test" and cfg.engine == "dense"]
    assert len(held_out) >= 3
    report, worst = [], {k: 0.0 for k in ACCURACY}
    for cfg, m in held_out:
        est = estimate(cfg.accel(), cfg.target)
        pred = {"lut": est.lut, "ff": est.ff, "dsp": est.dsp, "fmax_mhz": est.fmax_mhz}
        errs = {k: abs(pred[k] - m[k]) / max(abs(m[k]), 1) for k in ACCURACY}
        assert est.bram >= m["bram"] and est.bram - m["bram"] <= max(1, m["bram"] // 20)
        for k, e in errs.items():
            worst[k] = max(worst[k], e)
        report.append(f"{cfg.name}: " + ", ".join(f"{k} {pred[k]} vs {m[k]} ({e:+.1%})"
                                                   for k, e in errs.items()))
    bad = [k for k, e in worst.items() if e > ACCURACY[k]]
    assert not bad, f"{family} held-out errors over {ACCURACY}: {bad}\n" + "\n".join(report)


def test_estimate_is_a_pure_record() -> None:
    a = _accel("ws", 8, 8, 8, 32, True, 64)
    e1, e2 = estimate(a, "ecp5-85k"), estimate(a, get_target("ecp5-85k"))
    assert e1 == e2 and e1.dsp == 64 and e1.top == "bare" and e1.io_pins > 100
    with pytest.raises(dataclasses.FrozenInstanceError):
        e1.lut = 0      # type: ignore[misc]
    assert json.dumps({k: v for k, v in dataclasses.asdict(e1).items()})
