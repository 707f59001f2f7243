#!/usr/bin/env python3
"""Generate SCALE-Sim v3 reference numbers for coforge's peer-comparison tests.

Runs the PyPI package ``scalesim==3.0.0`` (never imported by coforge, never copied
into this repo) on a grid of small GEMM / conv layers, array shapes and dataflows and
records the numbers SCALE-Sim reports in its COMPUTE_REPORT.csv,
BANDWIDTH_REPORT.csv and DETAILED_ACCESS_REPORT.csv as JSON test data.

Run it with the peer venv's python, from the repository root::

    python3.11 -m venv build/peers/scalesim-venv
    build/peers/scalesim-venv/bin/pip install scalesim==3.0.0 "numpy<2.4"
    build/peers/scalesim-venv/bin/python tests/peers/gen_scalesim_reference.py

The script is resumable: case ids already present in the output JSON are skipped and
the JSON is rewritten after every case. ``--fresh`` starts over. The ResNet-18 run
(a few minutes) is done last; ``--skip-resnet`` leaves it out.

SCALE-Sim's config and topology files are not in its wheel; they are read from
``--peers-dir`` (default: $SCALESIM_PEERS_DIR or the copies vendored in
``tests/data/scalesim``, see its README.md).

This script must not import coforge.
"""

import argparse
import contextlib
import csv
import datetime
import importlib.metadata
import io
import json
import math
import os
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "data", "scalesim_3.0.0_reference.json")
DEFAULT_PEERS = os.environ.get("SCALESIM_PEERS_DIR",
                               os.path.join(REPO_ROOT, "tests", "data", "scalesim"))
COMMAND = ("build/peers/scalesim-venv/bin/python tests/peers/gen_scalesim_reference.py"
           "  (venv: python3.11 -m venv build/peers/scalesim-venv && "
           "build/peers/scalesim-venv/bin/pip install scalesim==3.0.0 'numpy<2.4')")

# --------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------

def gemm(m, n, k):
    return {"kind": "gemm", "M": m, "N": n, "K": k}


def conv(h, w, fh, fw, ch, nf, s):
    return {"kind": "conv", "ifmap_h": h, "ifmap_w": w, "filter_h": fh, "filter_w": fw,
            "channels": ch, "num_filter": nf, "stride": s}


def layer_name(layer):
    if layer["kind"] == "gemm":
        return "g%d_%d_%d" % (layer["M"], layer["N"], layer["K"])
    return "c%dx%d_f%dx%d_ch%d_nf%d_s%d" % (
        layer["ifmap_h"], layer["ifmap_w"], layer["filter_h"], layer["filter_w"],
        layer["channels"], layer["num_filter"], layer["stride"])


SMALL_LAYERS = [
    gemm(16, 16, 16),
    gemm(17, 9, 23),
    gemm(64, 32, 48),
    gemm(5, 40, 7),
    gemm(100, 3, 30),
    gemm(1, 64, 64),
    gemm(33, 33, 33),
    # edge cases: unit dims, exact multiples, one dim below every array size
    gemm(1, 1, 1),
    gemm(8, 8, 8),
    gemm(9, 1, 17),
    gemm(2, 70, 3),
    conv(8, 8, 3, 3, 4, 8, 1),
    conv(9, 11, 3, 3, 3, 5, 2),
    conv(7, 7, 1, 1, 16, 16, 1),
    conv(12, 12, 5, 5, 2, 3, 3),    # (12-5)/3 does not divide: SCALE-Sim rounds the ofmap up
    conv(10, 13, 3, 2, 3, 6, 2),    # non-square filter, (10-3)/2 does not divide either
]

ARRAY_SHAPES = [(4, 4), (8, 8), (4, 8), (8, 4), (3, 5), (16, 16), (32, 32), (16, 8)]
DATAFLOWS = ["ws", "os", "is"]

USER_LAYERS = [gemm(64, 32, 48), gemm(33, 33, 33), conv(8, 8, 3, 3, 4, 8, 1)]
USER_SRAM_KIB = [2, 4]
USER_BANDWIDTH = 4


def lowered(layer):
    """SCALE-Sim's GEMM view of a layer: Sr = ofmap pixels, T = window, Sc = filters.

    A GEMM row (M, N, K) is read by SCALE-Sim as a conv with ifmap M x K, filter 1 x K,
    1 channel, N filters, stride 1: Sr = M, T = K, Sc = N. Convs have no padding and the
    ofmap size is rounded *up*: ceil((H - R + S) / S).
    """
    if layer["kind"] == "gemm":
        return {"Sr": layer["M"], "T": layer["K"], "Sc": layer["N"],
                "ofmap_h": layer["M"], "ofmap_w": 1}
    s = layer["stride"]
    oh = int(math.ceil((layer["ifmap_h"] - layer["filter_h"] + s) / s))
    ow = int(math.ceil((layer["ifmap_w"] - layer["filter_w"] + s) / s))
    return {"Sr": oh * ow, "T": layer["filter_h"] * layer["filter_w"] * layer["channels"],
            "Sc": layer["num_filter"], "ofmap_h": oh, "ofmap_w": ow}


def grid_cases():
    cases = []
    for df in DATAFLOWS:
        for rows, cols in ARRAY_SHAPES:
            for layer in SMALL_LAYERS:
                cases.append({
                    "id": "calc_%s_%dx%d_%s" % (df, rows, cols, layer_name(layer)),
                    "dataflow": df, "array_rows": rows, "array_cols": cols,
                    "interface_bandwidth": "CALC", "bandwidth": 10,
                    "sram_kib": {"ifmap": 64, "filter": 64, "ofmap": 64},
                    "sram_bank_bandwidth": 10,
                    "layer": layer,
                })
    return cases


def random_cases(n_per_df=40, seed=20250521):
    """Seeded random GEMMs/convs on random array shapes (incl. 1-wide arrays)."""
    import random
    rng = random.Random(seed)
    cases = []
    for df in DATAFLOWS:
        made = 0
        while made < n_per_df:
            rows, cols = rng.randint(1, 40), rng.randint(1, 40)
            if rng.random() < 0.15:
                rows = 1
            elif rng.random() < 0.15:
                cols = 1
            if rng.random() < 0.6:
                layer = gemm(rng.randint(1, 90), rng.randint(1, 90), rng.randint(1, 90))
            else:
                fh, fw = rng.randint(1, 5), rng.randint(1, 5)
                s = rng.randint(1, 3)
                layer = conv(rng.randint(fh, 16), rng.randint(fw, 16), fh, fw,
                             rng.randint(1, 8), rng.randint(1, 40), s)
            lw = lowered(layer)
            # rough size guard: folds x (array fill + stream) cycles, keep runs small
            folds = (math.ceil(lw["Sr"] / rows) * math.ceil(lw["Sc"] / cols) +
                     math.ceil(lw["T"] / rows) * math.ceil(lw["Sc"] / cols) +
                     math.ceil(lw["T"] / rows) * math.ceil(lw["Sr"] / cols))
            if folds * (rows + cols + max(lw["Sr"], lw["T"], lw["Sc"])) > 60000:
                continue
            made += 1
            cases.append({
                "id": "rand_%s_%02d_%dx%d_%s" % (df, made, rows, cols, layer_name(layer)),
                "dataflow": df, "array_rows": rows, "array_cols": cols,
                "interface_bandwidth": "CALC", "bandwidth": 10,
                "sram_kib": {"ifmap": 64, "filter": 64, "ofmap": 64},
                "sram_bank_bandwidth": 10,
                "layer": layer,
            })
    return cases


def user_cases():
    cases = []
    for df in DATAFLOWS:
        for kib in USER_SRAM_KIB:
            for layer in USER_LAYERS:
                cases.append({
                    "id": "user_bw%d_%s_8x8_sram%dk_%s" % (USER_BANDWIDTH, df, kib,
                                                           layer_name(layer)),
                    "dataflow": df, "array_rows": 8, "array_cols": 8,
                    "interface_bandwidth": "USER", "bandwidth": USER_BANDWIDTH,
                    "sram_kib": {"ifmap": kib, "filter": kib, "ofmap": kib},
                    "sram_bank_bandwidth": 10,
                    "layer": layer,
                })
        # In USER mode SCALE-Sim 3.0.0 feeds the ifmap/filter SRAMs at the [layout]
        # IfmapSRAMBankBandwidth / FilterSRAMBankBandwidth rate; 'Bandwidth' only sets
        # the ofmap drain. These cases double that bank rate (10 -> 20) to show it
        # matters (it must stay a multiple of IfmapSRAMBankNum = 10, else SCALE-Sim asserts).
        layer = USER_LAYERS[0]
        cases.append({
            "id": "user_bw%d_bank20_%s_8x8_sram2k_%s" % (USER_BANDWIDTH, df, layer_name(layer)),
            "dataflow": df, "array_rows": 8, "array_cols": 8,
            "interface_bandwidth": "USER", "bandwidth": USER_BANDWIDTH,
            "sram_kib": {"ifmap": 2, "filter": 2, "ofmap": 2},
            "sram_bank_bandwidth": 20,
            "layer": layer,
        })
        # ... and 'Bandwidth' 4 -> 16 with the bank rate kept at 10.
        cases.append({
            "id": "user_bw16_%s_8x8_sram2k_%s" % (df, layer_name(layer)),
            "dataflow": df, "array_rows": 8, "array_cols": 8,
            "interface_bandwidth": "USER", "bandwidth": 16,
            "sram_kib": {"ifmap": 2, "filter": 2, "ofmap": 2},
            "sram_bank_bandwidth": 10,
            "layer": layer,
        })
    return cases


# --------------------------------------------------------------------------------------
# SCALE-Sim input files
# --------------------------------------------------------------------------------------

CFG_TEMPLATE = """[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:   {ifmap_kib}
FilterSramSzkB:  {filter_kib}
OfmapSramSzkB:   {ofmap_kib}
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
IfmapSRAMBankBandwidth: {bank_bw}
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bank_bw}
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

LAYOUT_HEADER = (
    "Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor, "
    "Filter Height Intraline Factor, Filter Width Intraline Factor, Channel Intraline Factor, "
    "Num Filter Intraline Factor, IFMAP Height Intraline Order, IFMAP Width Intraline Order, "
    "Channel Intraline Order, IFMAP Height Interline Order, IFMAP Width Interline Order, "
    "Channel Interline Order, Num Filter Intraline Order, Channel Intraline Order, "
    "Filter Height Intraline Order, Filter Width Intraline Order, Num Filter Interline Order, "
    "Channel Interline Order, Filter Height Interline Order, Filter Width Interline Order,\n")


def write_inputs(case, workdir):
    cfg = os.path.join(workdir, "run.cfg")
    with open(cfg, "w") as f:
        f.write(CFG_TEMPLATE.format(
            run_name="run", rows=case["array_rows"], cols=case["array_cols"],
            ifmap_kib=case["sram_kib"]["ifmap"], filter_kib=case["sram_kib"]["filter"],
            ofmap_kib=case["sram_kib"]["ofmap"], bandwidth=case["bandwidth"],
            dataflow=case["dataflow"], bank_bw=case["sram_bank_bandwidth"],
            iface=case["interface_bandwidth"]))
    layer = case["layer"]
    topo = os.path.join(workdir, "topo.csv")
    # Layer names must not contain 'DP' (SCALE-Sim treats those as depth-wise).
    # Every row needs a trailing comma: the parser drops the last field.
    with open(topo, "w") as f:
        if layer["kind"] == "gemm":
            f.write("Layer Name, M, N, K,\n")
            f.write("L0, %d, %d, %d,\n" % (layer["M"], layer["N"], layer["K"]))
        else:
            f.write("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                    "Channels, Num Filter, Strides,\n")
            f.write("L0, %d, %d, %d, %d, %d, %d, %d,\n" % (
                layer["ifmap_h"], layer["ifmap_w"], layer["filter_h"], layer["filter_w"],
                layer["channels"], layer["num_filter"], layer["stride"]))
    layout = os.path.join(workdir, "layout.csv")
    with open(layout, "w") as f:
        f.write(LAYOUT_HEADER)   # must exist even with custom layouts off
    return cfg, topo, layout


# --------------------------------------------------------------------------------------
# Running SCALE-Sim and reading its reports
# --------------------------------------------------------------------------------------

def _num(text):
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def read_report(path):
    """Rows of a SCALE-Sim report as dicts keyed by the stripped header names.

    Headers and values carry a leading space after each comma and every line ends with
    a trailing comma (an empty last field), which is dropped here.
    """
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = [h.strip() for h in rows[0]]
    while header and header[-1] == "":
        header.pop()
    out = []
    for row in rows[1:]:
        if not any(c.strip() for c in row):
            continue
        vals = [_num(c) for c in row[:len(header)]]
        out.append(dict(zip(header, vals)))
    return out


REPORTS = {"compute": "COMPUTE_REPORT.csv", "bandwidth": "BANDWIDTH_REPORT.csv",
           "detail": "DETAILED_ACCESS_REPORT.csv"}


class _StampedStream(io.TextIOBase):
    """Captures SCALE-Sim's verbose stdout and time-stamps 'Running Layer N' lines."""

    def __init__(self):
        self.buf = io.StringIO()
        self.layer_starts = []

    def write(self, s):
        self.buf.write(s)
        for line in s.splitlines():
            if line.startswith("Running Layer "):
                self.layer_starts.append((int(line.split()[-1]), time.perf_counter()))
        return len(s)


def run_scalesim(cfg, topo, layout, gemm_input, outdir, stamp_layers=False):
    from scalesim.scale_sim import scalesim
    stream = _StampedStream()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(stream):
        sim = scalesim(save_disk_space=True, verbose=stamp_layers, config=cfg,
                       topology=topo, layout=layout, input_type_gemm=gemm_input)
        sim.run_scale(top_path=outdir)
    t1 = time.perf_counter()
    run_dir = os.path.join(outdir, sim.config.get_run_name())
    reports = {k: read_report(os.path.join(run_dir, v)) for k, v in REPORTS.items()}
    layer_times = None
    if stamp_layers:
        starts = stream.layer_starts
        layer_times = []
        for i, (_lid, ts) in enumerate(starts):
            end = starts[i + 1][1] if i + 1 < len(starts) else t1
            layer_times.append(round(end - ts, 3))
    return reports, t1 - t0, layer_times


def fill_results(case, comp, bw, det):
    assert comp["LayerID"] == bw["LayerID"] == det["LayerID"]
    case["compute_cycles"] = comp["Total Cycles"]
    case["stall_cycles"] = comp["Stall Cycles"]
    case["total_cycles"] = comp["Total Cycles (incl. prefetch)"]
    case["overall_util_pct"] = comp["Overall Util %"]
    case["mapping_efficiency_pct"] = comp["Mapping Efficiency %"]
    case["compute_util_pct"] = comp["Compute Util %"]
    case["sram_ifmap_reads"] = det["SRAM IFMAP Reads"]
    case["sram_filter_reads"] = det["SRAM Filter Reads"]
    case["sram_ofmap_writes"] = det["SRAM OFMAP Writes"]
    case["dram_ifmap_reads"] = det["DRAM IFMAP Reads"]
    case["dram_filter_reads"] = det["DRAM Filter Reads"]
    case["dram_ofmap_writes"] = det["DRAM OFMAP Writes"]
    case["reports"] = {
        "COMPUTE_REPORT.csv": {k: v for k, v in comp.items() if k != "LayerID"},
        "BANDWIDTH_REPORT.csv": {k: v for k, v in bw.items() if k != "LayerID"},
        "DETAILED_ACCESS_REPORT.csv": {k: v for k, v in det.items() if k != "LayerID"},
    }
    return case


COLUMNS = {
    "compute_cycles": "COMPUTE_REPORT.csv 'Total Cycles' (SCALE-Sim's verbose output "
                      "prints it as 'Compute cycles'; it includes stall cycles in USER mode)",
    "stall_cycles": "COMPUTE_REPORT.csv 'Stall Cycles'",
    "total_cycles": "COMPUTE_REPORT.csv 'Total Cycles (incl. prefetch)' (= DRAM OFMAP Stop "
                    "Cycle - min(DRAM IFMAP Start Cycle, DRAM Filter Start Cycle); the DRAM "
                    "prefetch starts at negative cycles)",
    "overall_util_pct": "COMPUTE_REPORT.csv 'Overall Util %'",
    "mapping_efficiency_pct": "COMPUTE_REPORT.csv 'Mapping Efficiency %'",
    "compute_util_pct": "COMPUTE_REPORT.csv 'Compute Util %'",
    "sram_ifmap_reads": "DETAILED_ACCESS_REPORT.csv 'SRAM IFMAP Reads'",
    "sram_filter_reads": "DETAILED_ACCESS_REPORT.csv 'SRAM Filter Reads'",
    "sram_ofmap_writes": "DETAILED_ACCESS_REPORT.csv 'SRAM OFMAP Writes'",
    "dram_ifmap_reads": "DETAILED_ACCESS_REPORT.csv 'DRAM IFMAP Reads'",
    "dram_filter_reads": "DETAILED_ACCESS_REPORT.csv 'DRAM Filter Reads'",
    "dram_ofmap_writes": "DETAILED_ACCESS_REPORT.csv 'DRAM OFMAP Writes'",
    "reports": "every column of the layer's row in COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv "
               "and DETAILED_ACCESS_REPORT.csv, keyed by the header with surrounding spaces "
               "stripped, values as printed (ints stay ints, '9.0' stays a float)",
    "wall_time_s": "not reported by SCALE-Sim: wall time of the run (per layer for the "
                   "ResNet-18 run), measured by this script on a 2-core machine",
    "sram_bank_bandwidth": "input, not a report column: [layout] IfmapSRAMBankBandwidth = "
                           "FilterSRAMBankBandwidth in the .cfg",
    "lowered": "not reported by SCALE-Sim: computed by this script (Sr = ofmap pixels with "
               "ofmap = ceil((H - R + S) / S), T = filter_h*filter_w*channels, Sc = num_filter;"
               " GEMM: Sr = M, T = K, Sc = N)",
}


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------

def load(out):
    if os.path.exists(out):
        with open(out) as f:
            return json.load(f)
    return None


def save(data, out, id_order):
    """Header indented, one case per line (keeps the file small and diffs readable).

    Cases follow the generator's list; the ResNet-18 layers (not in it) come last.
    """
    for c in data["cases"]:
        c.pop("order", None)
    data["cases"].sort(key=lambda c: id_order.get(c["id"], len(id_order)))
    head = {k: v for k, v in data.items() if k != "cases"}
    text = json.dumps(head, indent=1)
    assert text.endswith("\n}")
    lines = [json.dumps(c, separators=(",", ":")) for c in data["cases"]]
    text = text[:-2] + ',\n "cases": [\n' + ",\n".join(lines) + "\n ]\n}\n"
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, out)


def header(numpy_version, scalesim_version):
    return {
        "tool": "scalesim",
        "version": scalesim_version,
        "numpy": numpy_version,
        "python": sys.version.split()[0],
        "generated": datetime.date.today().isoformat(),
        "command": COMMAND,
        "notes": [
            "All runs: save_disk_space=True (no traces), 1-byte words, custom layouts off, "
            "sparsity off, Read/WriteRequestBuffer 32, offsets 0/10000000/20000000.",
            "CALC interface bandwidth: SCALE-Sim estimates DRAM bandwidth, so stall_cycles "
            "is 0 and 'bandwidth' is unused.",
            "USER interface bandwidth in SCALE-Sim 3.0.0: the ifmap and filter SRAMs are "
            "filled at the [layout] IfmapSRAMBankBandwidth / FilterSRAMBankBandwidth rate "
            "(recorded as sram_bank_bandwidth); 'Bandwidth' (bandwidth) sets the ofmap drain.",
            "Conv ofmap size is ceil((H - R + S) / S) (no padding, rounded up).",
            "GEMM topology rows are 'name, M, N, K,' and are read as ifmap M x K, filter "
            "1 x K, 1 channel, N filters, stride 1.",
            "USER mode: 'Total Cycles' (compute_cycles) = the stall-free CALC cycle count + "
            "'Stall Cycles'; DRAM read counts come in whole multiples of the bank bandwidth.",
            "Closed forms fitted to these numbers (compute cycles, utilisations, SRAM/DRAM "
            "counts) are checked by tests/peers/check_formula.py (plain Python).",
            "The ResNet-18 topology file is topologies/conv_nets/Resnet18.csv (capital R); "
            "ResNet-18 DRAM counts depend on SRAM re-fetches and are not in the closed forms.",
        ],
        "columns": COLUMNS,
        "runs": {},
        "cases": [],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--peers-dir", default=DEFAULT_PEERS)
    ap.add_argument("--fresh", action="store_true", help="discard the existing JSON")
    ap.add_argument("--skip-resnet", action="store_true")
    ap.add_argument("--only", default="", help="run only case ids containing this string")
    args = ap.parse_args()

    import numpy
    scalesim_version = importlib.metadata.version("scalesim")
    if scalesim_version != "3.0.0":
        sys.exit("expected scalesim 3.0.0, found %s" % scalesim_version)

    data = None if args.fresh else load(args.out)
    if data is None:
        data = header(numpy.__version__, scalesim_version)
    elif data.get("numpy") != numpy.__version__:
        sys.exit("existing JSON was made with numpy %s, this venv has %s; use --fresh"
                 % (data.get("numpy"), numpy.__version__))
    else:   # refresh the header (notes, column map, date), keep runs and cases
        data.update({k: v for k, v in header(numpy.__version__, scalesim_version).items()
                     if k not in ("runs", "cases")})
    done = {c["id"] for c in data["cases"]}

    todo = grid_cases() + random_cases() + user_cases()
    id_order = {c["id"]: i for i, c in enumerate(todo)}
    pending = [c for c in todo if c["id"] not in done and args.only in c["id"]]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    print("%d cases pending (%d already in %s)" % (len(pending), len(done), args.out))

    for i, case in enumerate(pending):
        with tempfile.TemporaryDirectory(prefix="scalesim_") as wd:
            cfg, topo, layout = write_inputs(case, wd)
            reports, wall, _ = run_scalesim(cfg, topo, layout, case["layer"]["kind"] == "gemm",
                                            os.path.join(wd, "out"))
        assert len(reports["compute"]) == 1
        case["lowered"] = lowered(case["layer"])
        fill_results(case, reports["compute"][0], reports["bandwidth"][0],
                     reports["detail"][0])
        case["wall_time_s"] = round(wall, 3)
        data["cases"].append(case)
        save(data, args.out, id_order)
        print("[%d/%d] %-52s compute=%-7d stall=%-6d total=%-7d %.2fs" % (
            i + 1, len(pending), case["id"], case["compute_cycles"], case["stall_cycles"],
            case["total_cycles"], wall), flush=True)

    if not args.skip_resnet and args.only in "resnet18_32x32_ws":
        run_resnet(data, args, id_order)
    save(data, args.out, id_order)


def run_resnet(data, args, id_order):
    import configparser
    run_id = "resnet18_32x32_ws"
    done = {c["id"] for c in data["cases"]}
    cfg = os.path.join(args.peers_dir, "configs", "scale.cfg")
    topo = os.path.join(args.peers_dir, "topologies", "conv_nets", "Resnet18.csv")
    layout = os.path.join(args.peers_dir, "layouts", "conv_nets", "resnet18.csv")
    with open(topo) as f:
        rows = [r.strip() for r in f][1:]
    rows = [r for r in rows if r]
    names = [r.split(",")[0].strip() for r in rows]
    if all("%s_%s" % (run_id, n) in done for n in names):
        print("%s already done" % run_id)
        return
    cp = configparser.ConfigParser()
    cp.read(cfg)
    arch = cp["architecture_presets"]
    base = {
        "dataflow": arch["Dataflow"].strip(),
        "array_rows": int(arch["ArrayHeight"]), "array_cols": int(arch["ArrayWidth"]),
        "interface_bandwidth": cp["run_presets"]["InterfaceBandwidth"].strip(),
        "bandwidth": int(arch["Bandwidth"]),
        "sram_kib": {"ifmap": int(arch["IfmapSramSzkB"]), "filter": int(arch["FilterSramSzkB"]),
                     "ofmap": int(arch["OfmapSramSzkB"])},
        "sram_bank_bandwidth": int(cp["layout"]["IfmapSRAMBankBandwidth"]),
    }
    print("running %s (%d layers; takes minutes)" % (run_id, len(rows)), flush=True)
    with tempfile.TemporaryDirectory(prefix="scalesim_") as wd:
        reports, wall, layer_times = run_scalesim(cfg, topo, layout, False,
                                                  os.path.join(wd, "out"), stamp_layers=True)
    data["cases"] = [c for c in data["cases"] if not c["id"].startswith(run_id + "_")]
    for lid, row in enumerate(rows):
        f = [x.strip() for x in row.split(",")]
        layer = conv(int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]), int(f[6]),
                     int(f[7]))
        case = dict(base, id="%s_%s" % (run_id, f[0]), run=run_id,
                    layer_name=f[0], layer=layer, lowered=lowered(layer))
        fill_results(case, reports["compute"][lid], reports["bandwidth"][lid],
                     reports["detail"][lid])
        case["wall_time_s"] = layer_times[lid] if layer_times else None
        data["cases"].append(case)
    data["runs"][run_id] = {
        "config": "configs/scale.cfg", "topology": "topologies/conv_nets/Resnet18.csv",
        "layout": "layouts/conv_nets/resnet18.csv",
        # repo-relative when the vendored copies were used (no machine path recorded)
        "peers_dir": (os.path.relpath(args.peers_dir, REPO_ROOT)
                      if os.path.abspath(args.peers_dir).startswith(REPO_ROOT + os.sep)
                      else args.peers_dir),
        "wall_time_s": round(wall, 2),
        "compute_cycles_sum": sum(c["compute_cycles"] for c in data["cases"]
                                  if c.get("run") == run_id),
        "note": "one SCALE-Sim run of the whole topology (save_disk_space=True, traces off); "
                "per-layer wall_time_s is taken between SCALE-Sim's 'Running Layer' lines",
    }
    save(data, args.out, id_order)
    print("%s: %d layers, compute cycles %d, wall %.1fs" % (
        run_id, len(rows), data["runs"][run_id]["compute_cycles_sum"], wall))


if __name__ == "__main__":
    main()
