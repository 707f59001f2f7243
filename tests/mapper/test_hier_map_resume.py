"""``coforge map --arch H.yaml --out D`` stores each layer shape as it is mapped
(``D/map_shapes.jsonl``, mapper.hier_store) and ``--resume`` continues a stopped run.

The expected result is the uninterrupted run's own ``result.json``: a resumed run must
give the same mappings, figures and evaluation counts (only ``elapsed_s`` and
``resumed_shapes`` may differ), because every shape's search is seeded with the run's
seed alone. Stops are real: SIGTERM to a ``coforge`` process, and a store cut in the
middle of a line (what ``kill -9`` during a write leaves).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mapper.cli import main
from mapper.hier_store import STORE_NAME

DATA = Path(__file__).resolve().parents[1] / "data"
FIVE = DATA / "hierarchy" / "edge_2core_4cluster_8x8.yaml"
COFORGE = Path(sys.executable).parent / "coforge"


def _result(out: Path) -> dict:
    doc = json.loads((out / "result.json").read_text())
    doc["run"].pop("elapsed_s")
    doc["run"].pop("resumed_shapes")
    return doc


def _map(out: Path, *extra: str, net: str = "resnet18", evals: str = "2000") -> int:
    return main(["map", "--network", net, "--arch", str(FIVE), "--max-evals", evals,
                 "--out", str(out), *extra])


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("full")
    assert _map(out) == 0
    return out


def test_the_store_holds_every_shape_once(full: Path) -> None:
    lines = (full / STORE_NAME).read_text().splitlines()
    head = json.loads(lines[0])
    assert head["network"] == "resnet18" and head["max_evals"] == 2000
    shapes = [json.loads(x)["shape"] for x in lines[1:]]
    assert len(shapes) == len(set(shapes)) == _result(full)["run"]["distinct_shapes"] == 12


def test_resuming_a_cut_store_gives_the_uninterrupted_result(full: Path, tmp_path: Path,
                                                            capsys) -> None:  # noqa: ANN001
    """Four shapes stored and a fifth cut mid-line: the cut line is dropped, the four are
    read, the other eight searched; result.json equals the uninterrupted run's."""
    lines = (full / STORE_NAME).read_text().splitlines(keepends=True)
    (tmp_path / STORE_NAME).write_text("".join(lines[:5]) + lines[5][:40])
    assert _map(tmp_path, "--resume") == 0
    assert "(4 shapes read from the store" in capsys.readouterr().out
    assert _result(tmp_path) == _result(full)
    assert json.loads((tmp_path / "result.json").read_text())["run"]["resumed_shapes"] == 4
    assert (tmp_path / STORE_NAME).read_text().count("\n") == 13


def test_sigterm_stops_with_one_line_and_resume_finishes(tmp_path: Path) -> None:
    """A real ``coforge map`` process gets SIGTERM once it has stored a shape: exit 143,
    one stderr line naming the store and --resume; the resumed run's result.json equals
    an uninterrupted in-process run's."""
    out = tmp_path / "stopped"
    argv = [str(COFORGE), "map", "--network", "mobilenet_v2", "--arch", str(FIVE),
            "--max-evals", "6000", "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    store = out / STORE_NAME
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if store.exists() and store.read_text().count("\n") >= 3:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "stopped by SIGTERM" in lines[0] and str(store) in lines[0] \
        and "--resume" in lines[0]
    assert not (out / "result.json").exists()
    stored = store.read_text().count("\n") - 1
    assert _map(out, "--resume", net="mobilenet_v2", evals="6000") == 0
    ref = tmp_path / "ref"
    assert _map(ref, net="mobilenet_v2", evals="6000") == 0
    assert 2 <= stored < _result(ref)["run"]["distinct_shapes"]
    assert _result(out) == _result(ref)
    assert json.loads((out / "result.json").read_text())["run"]["resumed_shapes"] == stored


@pytest.mark.parametrize("extra, match", [
    (["--seed", "1"], "the stored run has seed 0, this one 1"),
    (["--max-evals", "2500"], "the stored run has max_evals 2000, this one 2500"),
    (["--objective", "energy"], "the stored run has objective 'edp', this one 'energy'"),
], ids=["seed", "max_evals", "objective"])
def test_resume_with_other_settings_is_refused(full: Path, tmp_path: Path, extra: list[str],
                                               match: str, capsys) -> None:  # noqa: ANN001
    (tmp_path / STORE_NAME).write_text((full / STORE_NAME).read_text())
    argv = ["map", "--network", "resnet18", "--arch", str(FIVE), "--max-evals", "2000",
            "--out", str(tmp_path), "--resume"]
    for i in range(0, len(extra), 2):       # a later option overrides the earlier one
        argv += extra[i:i + 2]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0] and "drop --resume" in err[0]


def test_resume_needs_a_store(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert _map(tmp_path, "--resume") == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / STORE_NAME} does not exist; run without --resume first" in err
    assert main(["map", "--network", "resnet18", "--arch", str(FIVE), "--resume"]) == 2
    assert "--resume continues the run stored in --out; give --out DIR" in \
        capsys.readouterr().err
    assert main(["map", "--network", "resnet18", "--arch", "edge_8x8_ws", "--out",
                 str(tmp_path), "--resume"]) == 2
    assert "--resume applies to a hierarchy --arch" in capsys.readouterr().err
