"""The FPGA model (sim/fpga_model.py) for the engine kinds beyond dense -- bit-serial,
bit-fusion, N:M sparse: pins against the generated tops, DSP and block-RAM rules against
every stored measurement of the kind, the fit per kind against its training split, and
the held-out configurations within the acceptance bounds; a kind without calibration
refuses an estimate (with the reason) but still passes the fit check that synthesis runs.

Measured values are the stored synthesis baseline (tests/data/fpga_baselines, written by
``python -m hdl.synth_sweep --update-baseline``); hand-counted pins are the port widths
of the tops the generators build."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from amaranth.hdl import Fragment, Value
from amaranth.sim import Simulator

import sim.fpga_model as fm
from hdl.engines import build_top
from hdl.params import HdlParams
from hdl.synth_sweep import SweepConfig, load_baseline, measurements
from hdl.synth_wrapper import NarrowTop
from sim.fpga_model import (CALIBRATION, ENGINE_COEFFICIENTS, FpgaFitError, bare_pins,
                            brams_needed, check_fit, dsps_needed, engine_features_of, estimate,
                            fit_engines, geometry, get_target, narrow_pins)
from sim.spec_io import load_accelerator

BASELINES = Path(__file__).resolve().parents[1] / "data" / "fpga_baselines"
SPECS = Path(__file__).resolve().parents[2] / "sim" / "specs"
#: Acceptance on held-out configurations (relative error; DSP exact).
ACCURACY = {"lut": 0.10, "ff": 0.10, "fmax_mhz": 0.15}
KINDS = ("bitserial", "bitfusion", "sparse_nm")
CALIBRATED = sorted(ENGINE_COEFFICIENTS.get("ecp5", {}))
#: (family, kind) of every calibrated non-dense engine model.
FAMILY_KINDS = sorted((f, k) for f, kinds in ENGINE_COEFFICIENTS.items() for k in kinds)


def _rows(kind: str, family: str = "ecp5") -> list[tuple[SweepConfig, dict]]:
    rows = load_baseline(BASELINES / CALIBRATION[family] / "sweep.json")
    return [(cfg, m) for cfg, m in rows if cfg.engine == kind
            and get_target(cfg.target).family == family]


def _params(kind: str, df: str = "ws", r: int = 2, c: int = 2, pr: bool = False
            ) -> HdlParams:
    nm = (2, 4) if kind == "sparse_nm" else (0, 0)
    return HdlParams(df, r, c, 8, 32, pr, 64, 64, 64, engine=kind, nm_n=nm[0], nm_m=nm[1])


def _ports(top: object) -> int:
    Fragment.get(top, None)                          # elaborates (and marks it used)
    return 2 + sum(len(Value.cast(v)) for _, _, v in top.signature.flatten(top))


@pytest.mark.parametrize("kind", ("dense",) + KINDS)
def test_pins_are_the_generated_tops(kind: str) -> None:
    p = _params(kind)
    assert bare_pins(p) == _ports(build_top(p))
    narrow = NarrowTop(p)
    assert narrow_pins(p) == _ports(narrow) == 8 + 22 + (2 if kind == "sparse_nm" else 0)
    # bit-serial: abits (4 bits); bit-fusion: abits + wbits; the rest: none
    extra = {"bitserial": 4, "bitfusion": 8}.get(kind, 0)
    assert narrow.cfg_bits == 3 * p.dim_bits + 1 + extra


#: Block RAMs the rule may count above the measurement, per kind: the sweep tolerance
#: (one block or 5 %), except the N:M engine, whose wide input buffer Yosys packs tighter
#: than one write enable per lane (the rule is an upper bound there). Regression pin of
#: the largest measured gap per family: ECP5 5 (ws-2x8 int8 32k: 31 counted, 26 used),
#: iCE40 6 (ws-2x4 int4 pr 4k: 16 counted, 10 used).
BRAM_SLACK = {("ecp5", "sparse_nm"): 5, ("ice40", "sparse_nm"): 6}


@pytest.mark.parametrize("family, kind", FAMILY_KINDS)
def test_dsp_and_block_ram_rules_match_every_measurement(family: str, kind: str) -> None:
    rows = _rows(kind, family)
    assert rows, f"no stored {kind} measurement"
    for cfg, m in rows:
        g, tgt = geometry(cfg.accel()), get_target(cfg.target)
        assert dsps_needed(g, tgt) == m["dsp"], cfg.name
        over = brams_needed(g, tgt) - m["bram"]
        slack = BRAM_SLACK.get((family, kind), 0)
        assert 0 <= over <= max(1, m["bram"] // 20, slack), (cfg.name, over)


@pytest.mark.parametrize("family, kind", FAMILY_KINDS)
def test_engine_coefficients_are_the_fit_of_the_training_split(family: str, kind: str) -> None:
    train = [r for r in measurements(_rows(kind, family), "train")]
    assert len(train) >= 3
    refit = fit_engines(train)[family][kind]
    for metric in engine_features_of(family, kind):
        assert refit[metric] == pytest.approx(ENGINE_COEFFICIENTS[family][kind][metric],
                                              rel=1e-4, abs=1e-9), metric


#: Held-out figures outside :data:`ACCURACY`, pinned with their measured error (a
#: regression pin, not a bound). Empty. The bit-fusion ws-4x4 int8 engine missed LUT/FF
#: by +10.5/+11.1 % while the training split had one WS int8 bit-fusion engine (2x2;
#: per brick bit it costs less than the OS one); a second (ws-2x4 int8) brought it to
#: +6.4/+5.5 % with the same terms. The bit-serial OS 2x2 int8 pr miss went away once
#: two product-register bit-serial engines joined the training split.
KNOWN_MISSES: dict[tuple[str, str], float] = {}


@pytest.mark.parametrize("family, kind", FAMILY_KINDS)
def test_engine_held_out_predictions(family: str, kind: str) -> None:
    held_out = [(cfg, m) for cfg, m in _rows(kind, family) if cfg.split == "test"]
    assert len(held_out) >= 1
    report, bad = [], []
    for cfg, m in held_out:
        est = estimate(cfg.accel(), cfg.target)
        assert est.dsp == m["dsp"], cfg.name
        for k, default in ACCURACY.items():
            bound = KNOWN_MISSES.get((cfg.name, k), default)
            err = abs(getattr(est, k) - m[k]) / m[k]
            report.append(f"{cfg.name} {k}: {getattr(est, k)} vs {m[k]} ({err:+.1%})")
            if err > bound:
                bad.append(report[-1])
    assert not bad, "\n".join(report)


def test_calibrated_kinds() -> None:
    """Regression pin of the kinds this version calibrates (update with the baseline)."""
    assert CALIBRATED == ["bitfusion", "bitserial", "sparse_nm"]
    assert sorted(ENGINE_COEFFICIENTS["ice40"]) == ["bitfusion", "bitserial", "sparse_nm"]


@pytest.mark.parametrize("kind", KINDS)
def test_ice40_kind_has_its_own_training_and_held_out_records(kind: str) -> None:
    """Every iCE40 kind model rests on >= 3 UP5K syntheses of that kind and is checked on
    >= 1 held-out one (the dense iCE40 records and coefficients are untouched by them)."""
    rows = _rows(kind, "ice40")
    assert sum(cfg.split == "train" for cfg, _ in rows) >= 3
    assert sum(cfg.split == "test" for cfg, _ in rows) >= 1
    assert all(m["top"] == "narrow" for _, m in rows)      # 39 pins: behind the wrapper


def test_bitfusion_int8_2x2_does_not_fit_the_up5k(tmp_path: Path) -> None:
    """Measured (UP5K, the shipped edge_4x4_ws_bitfusion shrunk to 2x2 with a 4 KiB
    scratchpad and a 2 KiB accumulator): nextpnr packs the engine into 6361 logic cells,
    the part has 5280. The model now rejects it before any tool runs, with its estimate
    (within the LUT bound of that measurement) and the reason (no multiplier: all LUT
    logic), instead of letting nextpnr find it."""
    spec = yaml.safe_load((SPECS / "edge_4x4_ws_bitfusion.yaml").read_text())
    spec["array"] = {"rows": 2, "cols": 2}
    spec["glb"][0]["capacity_bytes"], spec["glb"][1]["capacity_bytes"] = 4096, 2048
    path = tmp_path / "bf2x2.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(FpgaFitError) as exc:
        check_fit(load_accelerator(str(path)), "ice40-up5k")
    msg = str(exc.value)
    assert len(msg.splitlines()) == 1
    assert "the bitfusion engine's 4 PEs are all LUT logic), the part has 5280" in msg, msg
    predicted = int(msg.split("predicted ")[1].split()[0])
    assert abs(predicted - 6361) / 6361 <= ACCURACY["lut"], predicted


def test_uncalibrated_kind_refuses_estimate_but_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    accel = SweepConfig("ecp5-85k", "ws", 4, 4, 8, False, 16, engine="bitserial").accel()
    monkeypatch.setitem(fm.ENGINE_COEFFICIENTS, "ecp5",
                        {k: v for k, v in ENGINE_COEFFICIENTS.get("ecp5", {}).items()
                         if k != "bitserial"})
    with pytest.raises(FpgaFitError, match=r"has no calibrated 'bitserial' engine for ecp5 "
                                           r"yet \(only \['dense'"):
        estimate(accel, "ecp5-85k")
    plan = check_fit(accel, "ecp5-85k")        # what `coforge synth` checks: still fits
    assert plan.lut_predicted == 0 and plan.dsps == 0 and not plan.dsp_multipliers
    assert plan.lut_model_missing == ("the FPGA model has no 'bitserial' LUT/FF/Fmax "
                                      "estimate for ecp5: its bitserial terms are calibrated "
                                      "for ice40 only")


def _narrow_run(params: HdlParams, a: np.ndarray, b: np.ndarray, ports: dict[str, int]
                ) -> tuple[list[int], int]:
    """One GEMM through a NarrowTop whose configuration register carries ``ports``."""
    dut = NarrowTop(params)
    m, k = a.shape
    n = b.shape[1]
    dw = params.dim_bits
    cfg = m | (k << dw) | (n << 2 * dw)
    at = 3 * dw + 1
    for width_port in ports.values():
        cfg |= width_port << at
        at += 4
    beats = [(int(x), 0) for x in a.flat] + [(int(x), 1) for x in b.flat]
    got: list[int] = []
    cycles = [0]

    async def tb(ctx) -> None:  # noqa: ANN001 - amaranth SimulatorContext
        ctx.set(dut.cfg_shift, 1)
        for i in range(dut.cfg_bits):
            ctx.set(dut.cfg_sdi, (cfg >> i) & 1)
            await ctx.tick()
        ctx.set(dut.cfg_shift, 0)
        for value, to_b in beats:
            ctx.set(dut.inp.payload, {"value": value, "to_b": to_b})
            ctx.set(dut.inp.valid, 1)
            await ctx.tick().until(dut.inp.ready)
        ctx.set(dut.inp.valid, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await ctx.tick().until(dut.done)
        await ctx.tick()
        ctx.set(dut.cyc_shift, 1)
        for i in range(32):
            cycles[0] |= ctx.get(dut.cyc_sdo) << i
            await ctx.tick()
        ctx.set(dut.cyc_shift, 0)
        word, count = 0, 0
        ctx.set(dut.o.ready, 1)
        while len(got) < m * n:
            valid, byte = ctx.get(dut.o.valid), ctx.get(dut.o.payload)
            await ctx.tick()
            if valid:
                word |= byte << (8 * count)
                count += 1
                if count == dut.out_bytes:
                    bits = 8 * dut.out_bytes
                    got.append(word - (1 << bits) if word >> (bits - 1) else word)
                    word, count = 0, 0

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return got, cycles[0]


def test_narrow_top_sets_the_bitserial_input_width() -> None:
    """iCE40's wrapper shifts ``abits`` in with the sizes: a 3x5x2 GEMM at 2-bit inputs
    on a 2x2 WS bit-serial engine takes ceil(5/2) * 1 tiles x (3 + 2*2 + 2 - 1) steps x
    2 cycles = 48, and equals numpy with A read as 2-bit values."""
    params = _params("bitserial")
    rng = np.random.default_rng(3)
    a = rng.integers(-2, 2, (3, 5))
    b = rng.integers(-128, 128, (5, 2))
    a[0, 0], b[0, 0] = -2, -128
    got, cycles = _narrow_run(params, a, b, {"abits": 2})
    assert got == [int(x) for x in (a @ b).flat]
    assert cycles == 3 * 8 * 2
