"""Progress text (n/N, ETA) of dse/validate/verify."""

from __future__ import annotations

import re

import pytest

from mapper.progress import Progress, format_seconds


@pytest.mark.parametrize("s,text", [(9.4, "9s"), (75.2, "1m15s"), (3725, "1h02m"), (-1, "0s")])
def test_format_seconds(s: float, text: str) -> None:
    assert format_seconds(s) == text


def test_eta_is_the_mean_rate_times_what_is_left(monkeypatch) -> None:
    clock = iter([100.0, 110.0, 120.0])          # t0, then one item every 10 s
    monkeypatch.setattr("mapper.progress.time.perf_counter", lambda: next(clock))
    p = Progress(total=5, start=1)                # one resumed from the store
    assert p.tick() == "2/5, ETA 30s"             # 3 left x 10 s
    assert p.tick() == "3/5, ETA 20s"


def test_dse_lines_carry_n_of_n(tmp_path, capsys) -> None:
    from mapper.cli import main
    space = tmp_path / "s.yaml"
    space.write_text("base: edge_8x8_ws\nparameters: {rows: [4, 8]}\n")
    assert main(["dse", "--network", "alexnet", "--space", str(space), "--strategy", "grid",
                 "--max-designs", "2", "--map-evals", "20", "--workers", "1",
                 "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\[1/2, ETA \d+s\] ", out, re.M) and re.search(r"^\[2/2\] ", out, re.M)
