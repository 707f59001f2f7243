"""One typed record for a stored design (mapper.store.DesignRecord): the SQLite schema,
the migration of older stores, the dict rows, pareto.csv's columns and validate's
reading of a store all follow its fields."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from dataflows import Network, conv, fc
from mapper.dse import ACCURACY_COLUMNS, FPGA_COLUMNS, AccuracyTask, DseSettings, run_dse
from mapper.dse_report import csv_columns, write_dse_reports
from mapper.hw_space import load_hw_space
from mapper.store import (FIELDS, DesignRecord, ResultStore, StoreError, StoreReader,
                          fields_of)
from mapper.validate import design_from_store, validate

#: The designs table as coforge wrote it before FPGA targets and accuracy existed,
#: copied from that code (not derived from the record).
OLD_CREATE = ("CREATE TABLE designs (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
              "key TEXT UNIQUE NOT NULL, spec_hash TEXT, seed INTEGER, "
              "coforge_version TEXT, params TEXT, latency_ms REAL, energy_mj REAL, "
              "edp REAL, area_mm2 REAL, feasible INTEGER, error TEXT, elapsed_s REAL)")
OLD_COLUMNS = ("key", "spec_hash", "seed", "coforge_version", "params", "latency_ms",
               "energy_mj", "edp", "area_mm2", "feasible", "error", "elapsed_s")
#: The columns the previous code added to such a store with ALTER TABLE, in its order.
OLD_ALTERED = (("lut", "INTEGER"), ("ff", "INTEGER"), ("dsp", "INTEGER"),
               ("bram", "INTEGER"), ("fmax_mhz", "REAL"), ("clock_mhz", "REAL"),
               ("accuracy", "REAL"), ("accuracy_proxy", "REAL"), ("weight_bytes", "INTEGER"))
META = {"network": "n", "seed": 3}


def _full(key: str = '{"rows": 8}') -> DesignRecord:
    """A record with every field set (numpy scalars where a search produces them)."""
    return DesignRecord(key=key, latency_ms=np.float64(1.25), energy_mj=2.5, edp=3.125,
                        area_mm2=0.75, spec_hash="ab" * 8, seed=3, coforge_version="0.1",
                        params=key, feasible=1, error="none", elapsed_s=0.5,
                        lut=np.int64(1200), ff=900, dsp=np.int32(16), bram=4,
                        fmax_mhz=110.5, clock_mhz=100, accuracy=0.875,
                        accuracy_proxy=0.86, weight_bytes=4096, analytic_cycles=1000,
                        cycle_cycles=np.int64(1100))


def _old_store(path: Path, altered: bool) -> None:
    """A store as the previous code left it (``altered``: after its ALTER TABLEs)."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT)")
    db.executemany("INSERT INTO meta VALUES (?, ?)",
                   [(k, json.dumps(v, sort_keys=True)) for k, v in META.items()])
    db.execute(OLD_CREATE)
    if altered:
        for col, kind in OLD_ALTERED:
            db.execute(f"ALTER TABLE designs ADD COLUMN {col} {kind}")
    db.execute(f"INSERT INTO designs ({', '.join(OLD_COLUMNS)}) VALUES "
               f"({', '.join('?' * len(OLD_COLUMNS))})",
               ("k1", "cd" * 8, 3, "0.0", '{"rows": 4}', 1.5, 2.0, 3.0, 0.5, 1, None, 0.25))
    db.execute(f"INSERT INTO designs ({', '.join(OLD_COLUMNS)}) VALUES "
               f"({', '.join('?' * len(OLD_COLUMNS))})",
               ("k2", None, 3, "0.0", '{"rows": 2}', None, None, None, None, 0, "no", 0.1))
    db.commit()
    db.close()


def test_schema_columns_are_the_record_fields(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "s.sqlite", META, resume=False)
    info = list(store.db.execute("PRAGMA table_info(designs)"))
    assert tuple(r[1] for r in info) == FIELDS == tuple(
        f.name for f in dataclasses.fields(DesignRecord))
    sql = {"int": "INTEGER", "float": "REAL", "str": "TEXT"}
    hints = {f.name: f.type for f in dataclasses.fields(DesignRecord)}
    for _, name, kind, *_ in info:
        assert kind == sql[hints[name].split(" |")[0]], name
    # the groups partition the fields, and dse's column constants are two of them
    groups = [fields_of(g) for g in ("store", "always", "fpga", "accuracy")]
    assert sorted(sum(groups, ())) == sorted(FIELDS)
    assert FPGA_COLUMNS == ("lut", "ff", "dsp", "bram", "fmax_mhz", "clock_mhz")
    assert ACCURACY_COLUMNS == ("accuracy", "accuracy_proxy", "weight_bytes")
    store.close()


def test_put_then_get_preserves_every_field_and_type(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "s.sqlite", META, resume=False)
    rec = _full()
    store.put(rec)
    store.put(dataclasses.replace(rec, key="b", params="b", feasible=0, latency_ms=None))
    got = store.record(rec.key)
    assert got == dataclasses.replace(rec, seq=1)
    want = {"seq": int, "key": str, "latency_ms": float, "energy_mj": float, "edp": float,
            "area_mm2": float, "spec_hash": str, "seed": int, "coforge_version": str,
            "params": str, "feasible": int, "error": str, "elapsed_s": float, "lut": int,
            "ff": int, "dsp": int, "bram": int, "fmax_mhz": float, "clock_mhz": float,
            "accuracy": float, "accuracy_proxy": float, "weight_bytes": int,
            "analytic_cycles": int, "cycle_cycles": int}
    assert {k: type(v) for k, v in store.get(rec.key).items()} == want
    assert got.clock_mhz == 100.0 and got.lut == 1200
    rows = store.rows()
    assert [r["seq"] for r in rows] == [1, 2] and list(rows[0]) == list(FIELDS)
    assert rows[1]["latency_ms"] is None and rows[1]["feasible"] == 0
    store.put(rows[0] | {"seq": 7, "latency_ms": 9.0})   # a stored key is never rewritten
    assert len(store) == 2 and store.get(rec.key)["latency_ms"] == 1.25
    store.close()


def test_record_rejects_unknown_missing_and_mistyped_fields() -> None:
    row = _full().as_row()
    with pytest.raises(StoreError, match=r"unknown field\(s\) \['latency_s'\]"):
        DesignRecord.from_row(row | {"latency_s": 1.0})
    with pytest.raises(StoreError, match=r"missing field\(s\) \['seed'\]"):
        DesignRecord.from_row({k: v for k, v in row.items() if k != "seed"})
    with pytest.raises(StoreError, match="lut must be int, not 1.5"):
        DesignRecord.from_row(row | {"lut": 1.5})
    with pytest.raises(StoreError, match="latency_ms must be float, not '1'"):
        DesignRecord.from_row(row | {"latency_ms": "1"})
    with pytest.raises(StoreError, match="feasible must be 0 or 1, not 2"):
        DesignRecord.from_row(row | {"feasible": 2})
    with pytest.raises(StoreError, match="seed must be set, not None"):
        DesignRecord.from_row(row | {"seed": None})


@pytest.mark.parametrize("altered", [False, True], ids=["before-alter", "current"])
def test_older_stores_open_migrate_and_read(tmp_path: Path, altered: bool) -> None:
    path = tmp_path / "old.sqlite"
    _old_store(path, altered)
    reader = StoreReader(path)                      # read-only: left as it is
    assert reader.meta() == META and len(reader) == 2
    (one, two) = reader.records()
    assert one.seq == 1 and one.latency_ms == 1.5 and one.lut is None
    assert two.feasible == 0 and two.error == "no"
    reader.close()
    cols = [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(designs)")]
    assert len(cols) == (22 if altered else 13)
    store = ResultStore(path, META, resume=True)    # resume: the missing columns are added
    cols = [r[1] for r in store.db.execute("PRAGMA table_info(designs)")]
    assert sorted(cols) == sorted(FIELDS)
    assert store.get("k1") == one.as_row() and [r["key"] for r in store.rows()] == ["k1", "k2"]
    store.put(_full("k3"))
    assert store.get("k3") == dataclasses.replace(_full("k3"), seq=3).as_row()
    store.close()
    with pytest.raises(StoreError, match="different settings"):
        ResultStore(path, META | {"seed": 4}, resume=True)


def test_reader_rejects_what_is_not_a_store(tmp_path: Path) -> None:
    bad = tmp_path / "x.sqlite"
    bad.write_text("hello")
    with pytest.raises(StoreError, match="not a coforge result store"):
        StoreReader(bad)
    empty = tmp_path / "e.sqlite"
    sqlite3.connect(empty).close()
    with pytest.raises(StoreError, match="no meta and designs tables"):
        StoreReader(empty)
    with pytest.raises(StoreError, match="no such result store"):
        StoreReader(tmp_path / "missing.sqlite")


@pytest.mark.parametrize("target, accuracy", [(None, False), ("ecp5-85k", False),
                                               ("ecp5-85k", True)])
def test_pareto_csv_header_is_the_record_derived_list(tmp_path: Path, target: str | None,
                                                      accuracy: bool) -> None:
    task = AccuracyTask("m.onnx", "d.npz", "c.npz") if accuracy else None
    st = DseSettings(network="n", target=target, accuracy=task)
    # the columns pareto.csv had when they were written out by hand
    want = ["key", "latency_ms", "energy_mj", "edp", "area_mm2", "spec_hash"]
    if target:
        want += ["lut", "ff", "dsp", "bram", "fmax_mhz", "clock_mhz"]
    if accuracy:
        want += ["accuracy", "accuracy_proxy", "weight_bytes"]
    groups = ["always"] + ["fpga"] * bool(target) + ["accuracy"] * accuracy
    assert list(csv_columns(st)) == want == [c for g in groups for c in fields_of(g, True)]
    row = dataclasses.replace(_full(), seq=1).as_row()
    paths = write_dse_reports([row], st, tmp_path)
    with paths["csv"].open(newline="") as f:
        header, values = list(csv.reader(f))
    assert header == want + ["rows"]
    assert dict(zip(header, values))["spec_hash"] == "ab" * 8


SPACE = """base: edge_8x8_ws
parameters:
  rows: [4, 8]
"""


def _net() -> Network:
    return Network.chain("tiny2", [conv("a", 8, 16, 12, 3, padding=1), fc("fc", 2304, 10)])


def test_validate_reads_a_design_through_the_store_api(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text(SPACE)
    space = load_hw_space(tmp_path / "space.yaml")
    st = DseSettings(network="tiny2", strategy="grid", max_designs=2, population=2,
                     map_evals=100)
    out = tmp_path / "run"
    store = ResultStore(out / "dse.sqlite", st.meta(space), resume=False)
    run_dse(space, _net(), st, store)
    store.close()
    reader = StoreReader(out / "dse.sqlite")
    want = reader.record_at(2)
    reader.close()
    design = design_from_store(out, 2, _net())
    assert want is not None and design.stored == want.as_row()
    assert validate(design, rtl=False)["store"]["reproduced"]
    # a store whose table predates the FPGA and accuracy columns, opened read-only:
    # clock_mhz reads as None and the spec's clock is used, which reproduces the numbers
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(out / "dse.sqlite", old / "dse.sqlite")
    db = sqlite3.connect(old / "dse.sqlite")
    db.execute(OLD_CREATE.replace("designs", "designs_old"))
    db.execute(f"INSERT INTO designs_old (seq, {', '.join(OLD_COLUMNS)}) SELECT seq, "
               f"{', '.join(OLD_COLUMNS)} FROM designs")
    db.execute("DROP TABLE designs")
    db.execute("ALTER TABLE designs_old RENAME TO designs")
    db.commit()
    db.close()
    aged = design_from_store(old, 2, _net())
    assert aged.stored == want.as_row() | {"clock_mhz": None}
    assert validate(aged, rtl=False)["store"]["reproduced"]
