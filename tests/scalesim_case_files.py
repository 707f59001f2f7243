"""One recorded SCALE-Sim case (tests/data/scalesim_3.0.0_reference.json) written back as
the files SCALE-Sim itself read: a ``.cfg`` and a one-layer topology CSV. Shared by the
tests that read those files through ``sim.scalesim_io``; every section of the ``.cfg`` is
required by SCALE-Sim 3.0.0 (tests/peers/gen_scalesim_reference.py writes the same)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CFG = """[general]
run_name = run

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:   {ifmap}
FilterSramSzkB:  {filter}
OfmapSramSzkB:   {ofmap}
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : {bandwidth}
Dataflow : {dataflow}
MemoryBanks:   1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bank}
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bank}
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: {iface}
UseRamulatorTrace: False
"""

CONV_HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
               "Channels, Num Filter, Strides,\n")
GEMM_HEADER = "Layer Name, M, N, K,\n"


def topology_row(spec: dict[str, Any], name: str = "L0") -> str:
    """One topology line (trailing comma: SCALE-Sim's parser drops the last field)."""
    if spec["kind"] == "gemm":
        return f"{name}, {spec['M']}, {spec['N']}, {spec['K']},\n"
    return (f"{name}, {spec['ifmap_h']}, {spec['ifmap_w']}, {spec['filter_h']}, "
            f"{spec['filter_w']}, {spec['channels']}, {spec['num_filter']}, {spec['stride']},\n")


def write_case_files(case: dict[str, Any], out: Path) -> tuple[Path, Path, bool]:
    """``run.cfg`` and ``topo.csv`` of ``case`` in ``out``; returns (cfg, topology, is GEMM)."""
    cfg = out / "run.cfg"
    cfg.write_text(CFG.format(
        rows=case["array_rows"], cols=case["array_cols"], ifmap=case["sram_kib"]["ifmap"],
        filter=case["sram_kib"]["filter"], ofmap=case["sram_kib"]["ofmap"],
        bandwidth=case["bandwidth"], dataflow=case["dataflow"],
        bank=case["sram_bank_bandwidth"], iface=case["interface_bandwidth"]))
    is_gemm = case["layer"]["kind"] == "gemm"
    topo = out / "topo.csv"
    topo.write_text((GEMM_HEADER if is_gemm else CONV_HEADER) + topology_row(case["layer"]))
    return cfg, topo, is_gemm
