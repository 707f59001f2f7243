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
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataflows.dataflow import MAP_DIMS
from mapper.cli import main
from mapper.hier_store import STORE_NAME
from store_stops import sigterm_once_stored

DATA = Path(__file__).resolve().parents[1] / "data"
FIVE = DATA / "hierarchy" / "edge_2core_4cluster_8x8.yaml"
COFORGE = Path(sys.executable).parent / "coforge"
MAP_Q = MAP_DIMS.index("Q")


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
    assert json.loads(lines[-1]) == {"done": True}          # a finished run says so
    shapes = [json.loads(x)["shape"] for x in lines[1:-1]]
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
    assert (tmp_path / STORE_NAME).read_text().count("\n") == 14   # settings, 12, done


def test_sigterm_stops_with_one_line_and_resume_finishes(tmp_path: Path) -> None:
    """A real ``coforge map`` process gets SIGTERM once it has stored a shape: exit 143,
    one stderr line naming the store and --resume; the resumed run's result.json equals
    an uninterrupted in-process run's."""
    out = tmp_path / "stopped"
    store = out / STORE_NAME
    sigterm_once_stored(["map", "--network", "mobilenet_v2", "--arch", str(FIVE),
                         "--max-evals", "6000", "--out", str(out)], store, 3)
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


def test_resume_needs_a_store(full: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert _map(tmp_path, "--resume") == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / STORE_NAME} does not exist; run without --resume first" in err
    assert main(["map", "--network", "resnet18", "--arch", str(FIVE), "--resume"]) == 2
    assert "--resume continues the run stored in --out; give --out DIR" in \
        capsys.readouterr().err
    (tmp_path / STORE_NAME).write_text((full / STORE_NAME).read_text())
    assert main(["map", "--network", "resnet18", "--arch", "edge_8x8_ws", "--out",
                 str(tmp_path), "--resume"]) == 2     # a 3-level run: not this store's kind
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "(it is a store of: coforge map, hierarchy" in err[0], err


def _store_with(full: Path, tmp_path: Path, line: int, edit) -> Path:  # noqa: ANN001
    """A copy of the finished store whose line ``line`` (1-based) is ``edit(text)``, the
    done line dropped (an unfinished run)."""
    lines = (full / STORE_NAME).read_text().splitlines()[:-1]
    lines[line - 1] = edit(lines[line - 1])
    (tmp_path / STORE_NAME).write_text("\n".join(lines) + "\n")
    return tmp_path


def _drop(key: str):  # noqa: ANN202
    return lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != key})


def _set(key: str, value: object):  # noqa: ANN202
    return lambda text: json.dumps(json.loads(text) | {key: value})


@pytest.mark.parametrize("edit", [_drop("bypassed"), _drop("temporal"),
                                  _set("temporal", "abc"), _set("evaluations", "x"),
                                  _set("bypassed", []), _set("order", [["K"]]),
                                  lambda text: "[1, 2]"],
                         ids=["no_bypassed", "no_temporal", "temporal_text", "evals_text",
                              "bypassed_list", "short_order", "a_list"])
def test_a_malformed_stored_shape_is_one_line(full: Path, tmp_path: Path, edit,
                                              capsys) -> None:  # noqa: ANN001
    """Valid JSON that is not a stored shape (found by review: each raised a KeyError,
    ValueError or AttributeError traceback)."""
    _store_with(full, tmp_path, 4, edit)
    assert _map(tmp_path, "--resume") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{tmp_path / STORE_NAME}: line 4 is not a stored layer " \
        f"shape; drop --resume" in err[0], err


def test_an_illegal_stored_mapping_names_the_store(full: Path, tmp_path: Path,
                                                   capsys) -> None:  # noqa: ANN001
    """A stored mapping whose innermost level loops Q 112 times over-fills it: the error
    names the store and --resume, not the spec's buffers."""
    def edit(text: str) -> str:
        rec = json.loads(text)
        rec["temporal"][-1][MAP_Q] = 112
        return json.dumps(rec)
    _store_with(full, tmp_path, 2, edit)
    assert _map(tmp_path, "--resume") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / STORE_NAME) in err[0] and "is not legal" in \
        err[0] and "drop --resume" in err[0], err


def test_unreadable_and_other_stores_are_one_line(full: Path, tmp_path: Path,
                                                  capsys) -> None:  # noqa: ANN001
    store = tmp_path / STORE_NAME
    store.write_bytes(b"\xff\xfe\n")
    assert _map(tmp_path, "--resume") == 2
    assert "not UTF-8 text" in capsys.readouterr().err
    head = json.loads((full / STORE_NAME).read_text().splitlines()[0])
    store.write_text(json.dumps(head | {"code_sha256": "0" * 64}) + "\n")
    assert _map(tmp_path, "--resume") == 2
    assert "the stored run has code_sha256 '0000" in capsys.readouterr().err
    store.write_text(json.dumps(head))         # settings only, no newline: resumes
    assert _map(tmp_path, "--resume") == 0
    assert _result(tmp_path) == _result(full)
    capsys.readouterr()
    store.unlink()
    store.mkdir()
    assert _map(tmp_path) == 2
    assert f"{store}: is a directory" in capsys.readouterr().err


def test_an_unfinished_store_is_kept_without_resume(full: Path, tmp_path: Path,
                                                    capsys) -> None:  # noqa: ANN001
    """Forgetting --resume must not wipe a stopped run's shapes; a finished run's store is
    replaced by a new run."""
    _store_with(full, tmp_path, 3, lambda text: text)
    before = (tmp_path / STORE_NAME).read_text()
    assert _map(tmp_path) == 2
    err = capsys.readouterr().err
    assert "holds an unfinished run (12 layer shapes stored); pass --resume" in err
    assert (tmp_path / STORE_NAME).read_text() == before
    (tmp_path / STORE_NAME).write_text((full / STORE_NAME).read_text())
    assert _map(tmp_path) == 0                   # finished: replaced
    assert _result(tmp_path) == _result(full)


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid``, from every ``/proc/N/stat``'s parent field."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:                     # the process ended meanwhile
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def test_a_killed_worker_is_one_line(tmp_path: Path) -> None:
    """A search worker killed by the system (SIGKILL, as the OOM killer does) ends the run
    with one line naming --resume, not a BrokenProcessPool traceback; the parent leaves
    no worker behind."""
    out = tmp_path / "k"
    proc = subprocess.Popen([str(COFORGE), "map", "--network", "mobilenet_v2", "--arch",
                             str(FIVE), "--max-evals", "20000", "--workers", "2", "--out",
                             str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    children: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not children:
        children = _children(proc.pid)
        time.sleep(0.02)
    assert children and proc.poll() is None, "no worker seen before the run ended"
    os.kill(children[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    lines = err.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, lines
    assert "a search worker process died" in lines[0] and "--resume" in lines[0]
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or \
            "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
