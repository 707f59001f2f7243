"""A native Verilog testbench of the generated engine: no Python runs per clock.

:func:`tb_verilog` writes a module ``coforge_native_tb`` that instantiates the engine
top (:data:`hdl.export.TOP_NAME`, any engine kind: its extra inputs beyond the
:class:`hdl.top.GemmTop` protocol are :attr:`hdl.driver.GemmCase.ports`), generates
the clock (10 ns period) and the reset (high for 2 edges), and runs the cases of the
stimulus files back to back as :class:`hdl.driver.GemmDriver` does, edge for edge: the
same operand streams (A then B row-major, concurrently), the same ``start`` pulse, the
busy count over the run phase, the same unload, the same cycle budget check. The
driver's random idle inputs and backpressure are its own numpy draws, made here in
Python (:func:`write_stimulus`): ``GemmDriver`` draws one uniform number per stream
beat offered in the load phase (A before B) and one per unload cycle, in that order,
from ``default_rng(seed + 0x5EED)``; the testbench consumes the same sequence as two
bit vectors (draw >= idle, draw >= backpressure) with one pointer. A case with
``idle == backpressure == 0`` needs no draws (``random() >= 0`` always holds).

The stimulus lives in ``$readmemh`` files in the simulator's working directory
(``cfg.hex``, ``a.hex``, ``b.hex``, ``go.hex``, ``rdy.hex``); results go to
``results.txt`` (:func:`read_results`). Memory capacities are module parameters
rounded up to powers of two (:func:`capacities`), so one build serves many runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hdl.driver import GemmCase, RunResult
from hdl.export import TOP_NAME
from hdl.params import HdlError

TB_NAME = "coforge_native_tb"
#: The GemmTop protocol's inputs (Verilog names) the testbench drives each cycle.
_STREAM_INS = ("a__payload", "a__valid", "b__payload", "b__valid", "o__ready", "start")
_CFG_INS = ("m", "k", "n", "order")
_OUTS = ("a__ready", "b__ready", "o__payload", "o__valid", "busy", "done", "cycles")
#: Per-case words of ``cfg.hex`` after the static inputs.
_FIELDS = ("na", "nb", "aoff", "boff", "roff", "nr", "rnd", "budget", "nout")
PHASES = ("load", "start", "run", "unload", "finished")
_SEED_OFFSET = 0x5EED          # GemmDriver's rng: default_rng(case.seed + 0x5EED)


@dataclass(frozen=True)
class Capacities:
    """Words of each stimulus memory (powers of two)."""

    cases: int
    a: int
    b: int
    draws: int       # 32-bit words of draw bits (32 draws each)


def _pow2(n: int, floor: int) -> int:
    return max(floor, 1 << max(0, int(n) - 1).bit_length())


def static_ports(ports: list[dict]) -> list[dict]:
    """The engine kind's extra inputs: every DUT input outside the GemmTop protocol."""
    known = {"clk", "rst", *_STREAM_INS, *_CFG_INS}
    return [p for p in ports if p["direction"] == "in" and p["name"] not in known]


def _draws_needed(case: GemmCase, budget: int) -> int:
    """An upper bound on the driver's draws: at most 2 per cycle (A and B in the load
    phase, one in unload) over ``budget`` edges, plus the first cycle's."""
    return 0 if case.idle == 0 and case.backpressure == 0 else 2 * (budget + 1) + 2


def capacities(cases: list[GemmCase], budgets: list[int]) -> Capacities:
    na = sum(c.m * c.k for c in cases)
    nb = sum(len([x for row in c.b for x in row]) for c in cases)
    nr = sum(_draws_needed(c, b) for c, b in zip(cases, budgets))
    return Capacities(_pow2(len(cases), 256), _pow2(na, 1 << 14), _pow2(nb, 1 << 14),
                      _pow2((nr + 31) // 32, 1 << 10))


def tb_verilog(ports: list[dict], caps: Capacities) -> str:
    """The testbench module for a top with ``ports`` (:func:`hdl.export.port_list`)."""
    width = {p["name"]: int(p["width"]) for p in ports}
    for name in (*_STREAM_INS, *_CFG_INS, *_OUTS):
        if name not in width:
            raise HdlError(f"the engine top has no port {name!r}; the native testbench "
                           f"drives the GemmTop protocol (hdl.engines)")
    extra = static_ports(ports)
    cfg_names = [*_CFG_INS, *(p["name"] for p in extra)]
    nf = len(cfg_names) + len(_FIELDS)
    regs = [f"  reg [{width[n] - 1}:0] {n} = 0;" for n in (*_STREAM_INS, *cfg_names)]
    wires = [f"  wire [{width[n] - 1}:0] {n};" for n in _OUTS]
    conns = ",\n".join(f"    .{p['name']}({p['name']})" for p in ports
                       if p["name"] not in ("clk", "rst")
                       and (p["direction"] == "in" or p["name"] in _OUTS))
    other_outs = [p for p in ports if p["direction"] == "out" and p["name"] not in _OUTS]
    if other_outs:
        raise HdlError(f"the native testbench does not know the outputs "
                       f"{[p['name'] for p in other_outs]} of the engine top")
    field = {f: len(cfg_names) + i for i, f in enumerate(_FIELDS)}
    load_cfg = "\n".join(f"      {n} <= cfg[base + {i}];" for i, n in enumerate(cfg_names))
    fl = {f: f"cfg[base + {i}]" for f, i in field.items()}
    wa, wb = width["a__payload"], width["b__payload"]
    return f"""`timescale 1ns/1ps
// generated by hdl/native_tb.py: the GemmDriver stimulus, edge for edge, in Verilog
module {TB_NAME};
  localparam NF = {nf};
  reg clk = 0;
  reg rst = 1;
{chr(10).join(regs)}
{chr(10).join(wires)}
  {TOP_NAME} dut (
    .clk(clk), .rst(rst),
{conns});

  reg [63:0] cfg [0:{caps.cases * nf}];
  reg [{wa - 1}:0] amem [0:{caps.a - 1}];
  reg [{wb - 1}:0] bmem [0:{caps.b - 1}];
  reg [31:0] gomem [0:{caps.draws - 1}];
  reg [31:0] rdymem [0:{caps.draws - 1}];

  integer fd;
  reg [31:0] ncases, ci, base, phase, ai, bi, rp, cyc, busy_n, rtl_c, nout, rcount;
  reg [31:0] na, nb, aoff, boff, roff, nr, rnd, budget, want_out;
  reg nav, nbv, nov, nstart, bit_go, bit_rdy;

  always #5 clk = ~clk;

  initial begin
    $readmemh("cfg.hex", cfg);
    $readmemh("a.hex", amem);
    $readmemh("b.hex", bmem);
    $readmemh("go.hex", gomem);
    $readmemh("rdy.hex", rdymem);
    ncases = cfg[0][31:0];
    fd = $fopen("results.txt", "w");
    ci = 0; phase = 5; rcount = 0;
  end

  // draw bit rp of a packed memory (the driver's next rng.random() compared)
  task draw;
    begin
      if (rp >= nr) begin
        $fwrite(fd, "error draws %0d\\n", ci);
        $fclose(fd);
        $finish;
      end
      bit_go = gomem[roff[31:5] + rp[31:5]][rp[4:0]];
      bit_rdy = rdymem[roff[31:5] + rp[31:5]][rp[4:0]];
      rp = rp + 1;
    end
  endtask

  // GemmDriver._present: this cycle's stream inputs
  task present;
    begin
      nav = 0; nbv = 0; nov = 0;
      if (phase == 0 && ai < na) begin
        if (rnd != 0) begin draw; nav = bit_go; end else nav = 1;
      end
      if (phase == 0 && bi < nb) begin
        if (rnd != 0) begin draw; nbv = bit_go; end else nbv = 1;
      end
      if (phase == 3) begin
        if (rnd != 0) begin draw; nov = bit_rdy; end else nov = 1;
      end
    end
  endtask

  // the start of case ci: GemmDriver.__init__
  task begin_case;
    begin
      base = 1 + ci * NF;
      na = {fl['na']}; nb = {fl['nb']}; aoff = {fl['aoff']}; boff = {fl['boff']};
      roff = {fl['roff']}; nr = {fl['nr']}; rnd = {fl['rnd']};
      budget = {fl['budget']}; want_out = {fl['nout']};
      ai = 0; bi = 0; rp = 0; cyc = 0; busy_n = 0; rtl_c = 32'hffffffff; nout = 0;
      phase = 0; nstart = 0;
      present;
    end
  endtask

  always @(posedge clk) begin
    if (phase == 5) begin                        // reset: 2 edges
      rcount = rcount + 1;
      if (rcount == 2) begin
        rst <= 0;
        if (ncases == 0) begin $fclose(fd); $finish; end
        begin_case;
{load_cfg}
        start <= nstart; a__valid <= nav; b__valid <= nbv; o__ready <= nov;
        a__payload <= nav ? amem[aoff] : 0;
        b__payload <= nbv ? bmem[boff] : 0;
      end
    end else begin                               // GemmDriver.edge
      cyc = cyc + 1;
      if (cyc > budget) begin
        $fwrite(fd, "timeout %0d %0d\\n", ci, phase);
        $fclose(fd);
        $finish;
      end
      if (a__valid && a__ready) ai = ai + 1;
      if (b__valid && b__ready) bi = bi + 1;
      if (phase == 0 && ai == na && bi == nb) begin
        phase = 1; nstart = 1;
      end else if (phase == 1) begin
        nstart = 0; phase = 2;
      end else if (phase == 2) begin
        busy_n = busy_n + busy;
        if (done) begin rtl_c = cycles; phase = 3; end
      end else if (phase == 3) begin
        if (o__ready && o__valid) begin
          $fwrite(fd, "%h\\n", o__payload);
          nout = nout + 1;
          if (nout == want_out) phase = 4;
        end
      end
      present;
      if (phase == 4) begin
        $fwrite(fd, "case %0d %0d %0d %0d\\n", ci, rtl_c, busy_n, cyc);
        ci = ci + 1;
        if (ci == ncases) begin
          $fwrite(fd, "end\\n");
          $fclose(fd);
          $finish;
        end
        begin_case;
{load_cfg}
      end
      start <= nstart; a__valid <= nav; b__valid <= nbv; o__ready <= nov;
      a__payload <= nav ? amem[aoff + ai] : 0;
      b__payload <= nbv ? bmem[boff + bi] : 0;
    end
  end
endmodule
"""


def _hex(values: list[int], bits: int) -> str:
    mask = (1 << bits) - 1
    digits = (bits + 3) // 4
    return "".join(f"{v & mask:0{digits}x}\n" for v in values) or "0\n"


def _packed(bits: np.ndarray) -> list[int]:
    """32 draw bits per word, draw i at bit i % 32 of word i // 32."""
    if bits.size % 32:
        bits = np.concatenate([bits, np.zeros(32 - bits.size % 32, dtype=bool)])
    weights = (1 << np.arange(32, dtype=np.uint64))
    return [int(w) for w in (bits.reshape(-1, 32).astype(np.uint64) * weights).sum(axis=1)]


def write_stimulus(run_dir: Path, ports: list[dict], cases: list[GemmCase],
                   budgets: list[int]) -> Capacities:
    """The stimulus files of ``cases`` (cycle budgets ``budgets``) in ``run_dir``."""
    width = {p["name"]: int(p["width"]) for p in ports}
    extra = [p["name"] for p in static_ports(ports)]
    cfg: list[int] = [len(cases)]
    a_all: list[int] = []
    b_all: list[int] = []
    go: list[np.ndarray] = []
    rdy: list[np.ndarray] = []
    held = {name: 0 for name in extra}     # a port a case omits keeps its last value
    roff = 0
    for case, budget in zip(cases, budgets):
        unknown = set(case.ports) - set(extra)
        if unknown:
            raise HdlError(f"case ports {sorted(unknown)} are not inputs of the engine top "
                           f"(its static inputs: {extra})")
        held |= {name: int(v) for name, v in case.ports.items()}
        a = [int(x) for row in case.a for x in row]
        b = [int(x) for row in case.b for x in row]
        nr = _draws_needed(case, budget)
        if nr:
            r = np.random.default_rng(case.seed + _SEED_OFFSET).random(nr)
            go.append(r >= case.idle)
            rdy.append(r >= case.backpressure)
            # keep every case's draws 32-aligned: roff counts bits
            extra_bits = (-nr) % 32
            go.append(np.zeros(extra_bits, dtype=bool))
            rdy.append(np.zeros(extra_bits, dtype=bool))
        cfg += [case.m, case.k, case.n, case.order, *(held[n] for n in extra),
                len(a), len(b), len(a_all), len(b_all), roff, nr,
                int(nr > 0), budget, case.m * case.n]
        roff += nr + ((-nr) % 32 if nr else 0)
        a_all += a
        b_all += b
    for name, bits in (("go", go), ("rdy", rdy)):
        flat = np.concatenate(bits) if bits else np.zeros(0, dtype=bool)
        (run_dir / f"{name}.hex").write_text(_hex(_packed(flat), 32))
    (run_dir / "cfg.hex").write_text(_hex(cfg, 64))
    (run_dir / "a.hex").write_text(_hex(a_all, width["a__payload"]))
    (run_dir / "b.hex").write_text(_hex(b_all, width["b__payload"]))
    return capacities(cases, budgets)


def _signed(text: str, bits: int) -> int:
    try:
        v = int(text, 16)
    except ValueError:
        raise HdlError(f"native testbench read an undefined output word {text!r}") from None
    return v - (1 << bits) if v >> (bits - 1) & 1 else v


def read_results(path: Path, cases: list[GemmCase], budgets: list[int],
                 out_bits: int) -> list[RunResult]:
    """The :class:`RunResult` s of ``results.txt``; a timeout is the driver's error."""
    if not path.exists():
        raise HdlError(f"the native testbench wrote no {path}")
    results: list[RunResult] = []
    words: list[int] = []
    for line in path.read_text().splitlines():
        tok = line.split()
        if not tok:
            continue
        if tok[0] == "case":
            i, rtl, busy, cyc = (int(t) for t in tok[1:5])
            case = cases[i]
            rows = [words[r * case.n:(r + 1) * case.n] for r in range(case.m)]
            results.append(RunResult(rows, rtl if rtl != 0xFFFFFFFF else -1, busy, cyc))
            words = []
        elif tok[0] == "timeout":
            i, phase = int(tok[1]), int(tok[2])
            c = cases[i]
            raise HdlError(f"GEMM {c.m}x{c.k}x{c.n} did not finish in {budgets[i]} cycles "
                           f"(phase {PHASES[phase]})")
        elif tok[0] == "error":
            raise HdlError(f"native testbench: {line.strip()} (stimulus draws exhausted)")
        elif tok[0] == "end":
            break
        else:
            words.append(_signed(tok[0], out_bits))
    if len(results) != len(cases):
        raise HdlError(f"the native testbench finished {len(results)} of {len(cases)} "
                       f"cases ({path})")
    return results


__all__ = ["PHASES", "TB_NAME", "Capacities", "capacities", "read_results",
           "static_ports", "tb_verilog", "write_stimulus"]
