"""Spec numbers are finite and in range at load, nested energy tables included: NaN,
infinity (except an unlimited bandwidth), huge or tiny values are one-line errors that
name the file and the field, so no result can hold NaN or Infinity."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from sim.spec import SpecError
from sim.spec_io import load_accelerator

MINIMAL = "name: t\narray: {rows: 8, cols: 8}\n"
GLB = "glb: {name: g, capacity_bytes: 1024, "


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_accelerator(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return _without_line(message[len(f"{path}: "):], text)


def _without_line(message: str, text: str) -> str:
    """``message`` without the ``" (line N)"`` the loader adds; line N of ``text`` must
    hold a key the message names (its key path's parts, or the unknown key)."""
    m = re.search(r" \(line (\d+)\)", message)
    if m is None:
        return message
    line = text.splitlines()[int(m.group(1)) - 1]
    head = message.split(" must ")[0].split(" is required")[0]
    names = re.findall(r"[A-Za-z_]\w*", head.split("; allowed")[0])
    assert any(n in line for n in names if n not in ("top", "level", "unknown", "key")), \
        (message, line)
    return message[:m.start()] + message[m.end():]


@pytest.mark.parametrize("text, expected", [
    # non-finite numbers, top level and nested
    (MINIMAL + "clock_mhz: .nan\n", "clock_mhz must be a finite number, not nan"),
    (MINIMAL + "clock_mhz: -.inf\n", "clock_mhz must be a finite number, not -inf"),
    (MINIMAL + "energy: {mult_pj: {8: .nan}}\n",
     "energy.mult_pj[8] must be a finite number, not nan"),
    (MINIMAL + "energy: {mult_pj: {4: 0.05, 16: .inf}}\n",
     "energy.mult_pj[16] must be a finite number, not inf"),
    (MINIMAL + "energy: {add_pj_per_bit: .nan}\n",
     "energy.add_pj_per_bit must be a finite number, not nan"),
    (MINIMAL + "energy: {dram_pj_per_bit: .inf}\n",
     "energy.dram_pj_per_bit must be a finite number, not inf"),
    (MINIMAL + GLB + "access_pj: .nan}\n", "glb[0].access_pj must be a finite number, not nan"),
    (MINIMAL + "rf: {access_pj: .inf}\n", "rf.access_pj must be a finite number, not inf"),
    (MINIMAL + GLB + "read_bytes_per_cycle: .nan}\n",
     "glb[0].read_bytes_per_cycle must be a finite number or .inf (unlimited), not nan"),
    (MINIMAL + "dram: {write_bytes_per_cycle: -.inf}\n",
     "dram.write_bytes_per_cycle must be a finite number or .inf (unlimited), not -inf"),
    # finite but out of range: results would overflow to inf
    (MINIMAL + "clock_mhz: 1.0e-300\n",
     "clock_mhz must be between 0.001 and 1e+06 MHz, not 1e-300"),
    (MINIMAL + "clock_mhz: 1.0e+300\n",
     "clock_mhz must be between 0.001 and 1e+06 MHz, not 1e+300"),
    (MINIMAL + "dram: {read_bytes_per_cycle: 1.0e-300}\n",
     "dram.read_bytes_per_cycle must be >= 0.001 (or .inf), not 1e-300"),
    (MINIMAL + "energy: {mult_pj: {8: 1.0e+300}}\n",
     "energy.mult_pj[8] must be <= 1e+06, not 1e+300"),
    (MINIMAL + "energy: {mult_pj: {8: 100000000000000000000000}}\n",
     ("energy.mult_pj[8] must be a number <= 2**53, "
      "not 100000000000000000000000")),
    (MINIMAL + GLB + "access_pj: 1.0e+300}\n", "glb[0].access_pj must be <= 1e+06, not 1e+300"),
    (MINIMAL + "glb: {name: g, capacity_bytes: 100000000000000000000}\n",
     "glb[0].capacity_bytes must be an integer <= 2**53, not 100000000000000000000"),
    # wrong types
    (MINIMAL + "clock_mhz: fast\n", "clock_mhz must be a number of MHz > 0, not 'fast'"),
    (MINIMAL + "clock_mhz: yes\n", "clock_mhz must be a number of MHz > 0, not True"),
    (MINIMAL + "clock_mhz: [200]\n", "clock_mhz must be a number of MHz > 0, not [200]"),
    (MINIMAL + "energy: {mult_pj: [0.2]}\n",
     "energy.mult_pj must be a mapping of keys to values, not list"),
])
def test_number_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert _error(tmp_path, text) == expected


def test_infinite_bandwidth_still_means_unlimited(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(MINIMAL + "dram: {read_bytes_per_cycle: .inf, write_bytes_per_cycle: .inf}\n")
    assert load_accelerator(path).dram.read_bytes_per_cycle == math.inf


def test_negative_values_keep_the_spec_rule(tmp_path: Path) -> None:
    assert _error(tmp_path, MINIMAL + "energy: {dram_pj_per_bit: -1}\n") == \
        "energy.dram_pj_per_bit must be a number >= 0, not -1"


@pytest.mark.parametrize("data, expected", [
    (b"\x00\x01", ("malformed YAML at line 1, column 1: special characters are not "
                   "allowed (#x0000); give a YAML spec (schema in sim/spec_io.py)")),
    (b"name: t\n\xff\xfe", ("not a UTF-8 text file (byte 0xff at line 2, column 1); give "
                             "a YAML spec (schema in sim/spec_io.py)")),
])
def test_binary_files(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(data)
    with pytest.raises(SpecError, match="^" + str(path).replace(".", r"\.") + ": ") as info:
        load_accelerator(path)
    assert str(info.value) == f"{path}: {expected}"


def test_a_directory_is_not_a_spec(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_accelerator(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory; give a YAML spec (schema in " \
                              f"sim/spec_io.py)"
