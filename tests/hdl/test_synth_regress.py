"""The full synthesis sweep (``make rtl-regress``): every configuration of
:data:`hdl.synth_sweep.SWEEP` is synthesized, placed and routed again and compared with
the stored baseline of the installed tool versions, metric by metric
(:data:`hdl.synth_sweep.TOLERANCE`); without a baseline for these versions, with the
resource model instead. ``make synth-baseline`` re-records the baseline."""

from __future__ import annotations

from pathlib import Path

import pytest

from hdl.synth import synthesize
from hdl.synth_sweep import SWEEP
from test_synth import check_against_baseline, needs_yowasp


@pytest.mark.slow
@needs_yowasp
@pytest.mark.parametrize("cfg", SWEEP, ids=[c.name for c in SWEEP])
def test_sweep_matches_baseline(cfg, tmp_path: Path) -> None:  # noqa: ANN001
    rep = synthesize(cfg.accel(), cfg.target, tmp_path)
    check_against_baseline(cfg.name, rep.to_json())
