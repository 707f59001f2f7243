"""``coforge map --out D`` on a 3-level spec stores each distinct layer shape's search and
cycle-model run as they end (``D/map_shapes.jsonl``, mapper.map_store) and ``--resume``
continues a stopped run.

The expected result is the uninterrupted run's own ``result.json``: a resumed run must
give the same mappings and figures, because every search is seeded with the run's seed
alone and the cycle model is deterministic. Stops are real: SIGTERM to a ``coforge``
process, and stores cut in the middle of a line (what ``kill -9`` during a write leaves).
That stored records are read, not recomputed, is checked by making the search and the
cycle model fail if called.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import mapper.network_map as network_map
from mapper.cli import main
from mapper.line_store import STORE_NAME
from store_stops import sigterm_once_stored

COFORGE = Path(sys.executable).parent / "coforge"
SHAPES = 12                                 # distinct layer shapes of resnet18


def _map(out: Path, *extra: str, net: str = "resnet18") -> int:
    return main(["map", "--network", net, "--max-evals", "2000", "--workers", "1",
                 "--out", str(out), *extra])


def _result(out: Path) -> dict:
    return json.loads((out / "result.json").read_text())


def _lines(out: Path) -> list[str]:
    return (out / STORE_NAME).read_text().splitlines()


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("full")
    assert _map(out) == 0
    return out


@pytest.fixture(scope="module")
def reranked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reranked")
    assert _map(out, "--rerank", "cycle", "--top", "2", net="alexnet") == 0
    return out


def _cut(full: Path, tmp_path: Path, keep: int) -> None:
    """The first ``keep`` lines of the finished store, then half of the next one."""
    lines = _lines(full)
    (tmp_path / STORE_NAME).write_text("\n".join(lines[:keep]) + "\n" +
                                       lines[keep][:len(lines[keep]) // 2])


def test_the_store_holds_a_search_and_a_cycle_run_per_shape(full: Path) -> None:
    lines = _lines(full)
    head = json.loads(lines[0])
    assert head["kind"].startswith("coforge map, 3-level") and head["max_evals"] == 2000
    assert json.loads(lines[-1]) == {"done": True}
    recs = [json.loads(x) for x in lines[1:-1]]
    searched = [r["shape"] for r in recs if "search" in r]
    cycled = [r["shape"] for r in recs if "cycle" in r]
    assert len(set(searched)) == len(searched) == SHAPES
    assert sorted(cycled) == sorted(searched)


@pytest.mark.parametrize("keep", [5, 1 + SHAPES + 4], ids=["mid_search", "mid_cycle"])
def test_resuming_a_cut_store_gives_the_uninterrupted_result(full: Path, tmp_path: Path,
                                                            keep: int, monkeypatch) -> None:  # noqa: ANN001
    """A store cut during the searches (4 stored) or during the cycle runs (every search
    and 3 cycle runs stored): the stored records are not run again (the search and the
    cycle model are counted) and result.json equals the uninterrupted run's."""
    _cut(full, tmp_path, keep)
    calls = {"search": 0, "cycle": 0}
    real_search, real_cycle = network_map.search, network_map.cycle_result

    def search(*a, **k):  # noqa: ANN002, ANN003, ANN202
        calls["search"] += 1
        return real_search(*a, **k)

    def cycle(*a, **k):  # noqa: ANN002, ANN003, ANN202
        calls["cycle"] += 1
        return real_cycle(*a, **k)
    monkeypatch.setattr(network_map, "search", search)
    monkeypatch.setattr(network_map, "cycle_result", cycle)
    assert _map(tmp_path, "--resume") == 0
    searched = max(0, keep - 1)
    assert calls == {"search": SHAPES - min(searched, SHAPES),
                     "cycle": SHAPES - max(0, searched - SHAPES)}
    assert _result(tmp_path) == _result(full)
    assert len(_lines(tmp_path)) == len(_lines(full))


def test_resuming_a_rerank(reranked: Path, tmp_path: Path) -> None:
    """--rerank cycle: the stored re-ranks (every candidate's cycle result and the
    choice) are read back; the result, fidelity gap and re-rank record included, is the
    uninterrupted run's."""
    lines = _lines(reranked)
    n = sum('"search"' in x for x in lines)
    _cut(reranked, tmp_path, 1 + n + 2)
    assert _map(tmp_path, "--resume", "--rerank", "cycle", "--top", "2", net="alexnet") == 0
    assert _result(tmp_path) == _result(reranked)
    assert sum('"rerank"' in x for x in _lines(tmp_path)[1:]) == n


def test_sigterm_stops_with_one_line_and_resume_finishes(full: Path, tmp_path: Path) -> None:
    """A real ``coforge map`` process gets SIGTERM once its searches and a cycle run are
    stored: exit 143, one stderr line naming the store and --resume, no result.json; the
    resumed run's result.json equals the uninterrupted one's."""
    out = tmp_path / "stopped"
    sigterm_once_stored(["map", "--network", "resnet18", "--max-evals", "2000", "--workers",
                         "1", "--out", str(out)], out / STORE_NAME, 1 + SHAPES + 1)
    assert _map(out, "--resume") == 0
    assert _result(out) == _result(full)


def test_an_edited_search_record_names_the_store(full: Path, tmp_path: Path,
                                                capsys) -> None:  # noqa: ANN001
    """A stored search whose result the model does not reproduce (its energy edited) is
    one line naming the store, not a silently wrong figure."""
    lines = _lines(full)[:-1]
    rec = json.loads(lines[2])
    rec["search"]["result"]["energy_pj"] *= 0.5
    lines[2] = json.dumps(rec)
    (tmp_path / STORE_NAME).write_text("\n".join(lines) + "\n")
    assert _map(tmp_path, "--resume") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / STORE_NAME) in err[0] and \
        "is not what the model gives" in err[0] and "drop --resume" in err[0], err


@pytest.mark.parametrize("edit", [lambda r: {"shape": r["shape"]},
                                  lambda r: r | {"search": {"mapping": 1}},
                                  lambda r: {"shape": r["shape"], "cycle": [1]}],
                         ids=["no_record", "bad_search", "cycle_list"])
def test_a_malformed_record_is_one_line(full: Path, tmp_path: Path, edit,
                                        capsys) -> None:  # noqa: ANN001
    lines = _lines(full)[:-1]
    lines[3] = json.dumps(edit(json.loads(lines[3])))
    (tmp_path / STORE_NAME).write_text("\n".join(lines) + "\n")
    assert _map(tmp_path, "--resume") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "line 4 is not a stored search or cycle-model record" in err[0]


@pytest.mark.parametrize("extra, match", [
    (["--seed", "1"], "the stored run has seed 0, this one 1"),
    (["--timing", "scalesim"], "the stored run has timing 'native', this one 'scalesim'"),
    (["--rerank", "cycle"], "the stored run has rerank None, this one 'cycle'"),
], ids=["seed", "timing", "rerank"])
def test_resume_with_other_settings_is_refused(full: Path, tmp_path: Path, extra: list[str],
                                               match: str, capsys) -> None:  # noqa: ANN001
    (tmp_path / STORE_NAME).write_text((full / STORE_NAME).read_text())
    assert _map(tmp_path, "--resume", *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0] and "drop --resume" in err[0], err


def test_an_unfinished_store_is_kept_without_resume(full: Path, tmp_path: Path,
                                                    capsys) -> None:  # noqa: ANN001
    _cut(full, tmp_path, 6)
    before = (tmp_path / STORE_NAME).read_text()
    assert _map(tmp_path) == 2
    assert "holds an unfinished run" in capsys.readouterr().err
    assert (tmp_path / STORE_NAME).read_text() == before
    assert main(["map", "--network", "resnet18", "--resume"]) == 2
    assert "--resume continues the run stored in --out; give --out DIR" in \
        capsys.readouterr().err


def _edit(full: Path, tmp_path: Path, kind: str, edit) -> None:  # noqa: ANN001
    """The finished store, done line dropped, its first ``kind`` record edited."""
    lines = _lines(full)[:-1]
    i = next(j for j, x in enumerate(lines) if j and f'"{kind}":' in x)
    rec = json.loads(lines[i])
    edit(rec[kind])
    lines[i] = json.dumps(rec)
    (tmp_path / STORE_NAME).write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("kind, edit", [
    ("search", lambda r: r.update(evaluations="2000")),
    ("search", lambda r: r.update(elapsed_s="x")),
    ("search", lambda r: r.update(proven_optimal="yes")),
    ("search", lambda r: r.update(top=[])),
    ("cycle", lambda r: r.update(total_cycles="12")),
    ("cycle", lambda r: r["accesses"].update(dram=None)),
], ids=["evals_text", "elapsed_text", "proven_text", "no_top", "cycles_text", "accesses_none"])
def test_a_record_of_the_wrong_types_is_one_line(full: Path, tmp_path: Path, kind: str, edit,
                                                 capsys) -> None:  # noqa: ANN001
    """Valid JSON whose fields have the wrong type (found by review: each gave a TypeError
    traceback far from the store, or went into result.json)."""
    _edit(full, tmp_path, kind, edit)
    assert _map(tmp_path, "--resume") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a stored search or cycle-model record" in err[0], err


@pytest.mark.parametrize("edit", [lambda r: r.update(chosen=True),
                                  lambda r: r.update(cycle_results=[]),
                                  lambda r: r.update(cycle_scores="12")],
                         ids=["chosen_bool", "no_results", "scores_text"])
def test_a_rerank_record_of_the_wrong_types_is_one_line(reranked: Path, tmp_path: Path, edit,
                                                        capsys) -> None:  # noqa: ANN001
    _edit(reranked, tmp_path, "rerank", edit)
    assert _map(tmp_path, "--resume", "--rerank", "cycle", "--top", "2", net="alexnet") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a stored search or cycle-model record" in err[0], err


def test_a_line_nested_too_deep_is_one_line(full: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    lines = _lines(full)[:-1]
    (tmp_path / STORE_NAME).write_text("\n".join(lines[:3] + ["[" * 100_000 + "]" * 100_000])
                                       + "\n")
    assert _map(tmp_path, "--resume") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "line 4 is not a stored" in err[0], err


def test_a_failed_run_lets_the_fixed_rerun_replace_its_store(tmp_path: Path,
                                                             capsys) -> None:  # noqa: ANN001
    """A run ended by an error (exhaustive over a space past its limit, on alexnet's second
    shape) closes its store, so the rerun the error asks for (another strategy, without
    --resume) starts anew instead of being refused (found by review)."""
    assert _map(tmp_path, "--strategy", "exhaustive", net="alexnet") == 2
    assert "use a heuristic strategy" in capsys.readouterr().err
    assert _lines(tmp_path)[-1] == '{"done": true}'
    assert _map(tmp_path, "--strategy", "annealing", net="alexnet") == 0


def test_the_store_is_finished_before_the_reports_are_written(tmp_path: Path,
                                                              monkeypatch) -> None:  # noqa: ANN001
    """Every record is in once the mapping ends: a stop while the reports are written must
    not leave an unfinished store that refuses the rerun (found by review)."""
    import mapper.report as report
    real = report.write_reports
    seen = []

    def write(*a, **k):  # noqa: ANN002, ANN003, ANN202
        seen.append(_lines(tmp_path)[-1])
        return real(*a, **k)
    monkeypatch.setattr(report, "write_reports", write)
    assert _map(tmp_path) == 0
    assert seen == ['{"done": true}']
