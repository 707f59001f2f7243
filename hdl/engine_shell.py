"""The shell every GEMM engine's top level shares: ports, buffer read stages, glue.

:class:`hdl.top.GemmTop` (dense), :class:`hdl.bitserial.BitSerialTop`,
:class:`hdl.bitfusion.BitFusionTop` and :class:`hdl.sparse_nm.SparseNMTop` differ in
their arrays, loaders and the reduction length their controller walks; around that
they are one design, written here once:

* :func:`gemm_ports`: the port signature (``a``/``b``/``o`` streams, ``m``/``k``/``n``,
  ``order``, the engine's own mode ports, ``start``/``busy``/``done``/``cycles``);
* :func:`early` and :func:`replay`: the compute-phase read path -- every buffer read is
  issued two cycles ahead and registered once more here (RAM clock-to-output is too
  slow to feed logic), and a write that hits the first read's address at its edge is
  replayed into the registered word, per write-enable granule (see :func:`replay`);
* :func:`connect_shell`: loaders into buffers, the controller's reads and the
  unloader's, the status ports;
* :func:`write_back`: operand lanes into the array, the array's columns (plus the old
  partial sum under WS) back into the output buffer.

``gate`` (bit-serial): a signal that is high on the cycles the shell advances (one per
serial step while busy); ``None`` (every other engine): every cycle. The functions
emit exactly the statements each engine wrote before they were shared (the generated
Verilog is unchanged).
"""

from __future__ import annotations

from collections.abc import Sequence

from amaranth import Cat, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.params import CYCLE_COUNTER_BITS, HdlError, HdlParams


def check_top_params(params: object, engine: str | None, top: str) -> None:
    """``params`` is an :class:`HdlParams` for ``engine`` (None: any), else one-line error."""
    if not isinstance(params, HdlParams):
        raise TypeError(f"params must be HdlParams, not {type(params).__name__}")
    if engine is not None and params.engine != engine:
        raise HdlError(f"{top} builds the {engine} engine, not {params.engine!r}")


def gemm_ports(params: HdlParams, b_payload: object = None,
               mode: dict | None = None) -> dict:
    """The engine's port signature: ``a``/``o`` streams of signed operands/accumulators,
    ``b`` of ``b_payload`` (default: signed operands), the GEMM size and fold order, the
    engine's ``mode`` ports (e.g. ``abits``), then ``start``/``busy``/``done``/``cycles``."""
    ob, ab, dw = signed(params.operand_bits), signed(params.accumulator_bits), \
        params.dim_bits
    ports = {"a": In(stream.Signature(ob)),
             "b": In(stream.Signature(ob if b_payload is None else b_payload)),
             "o": Out(stream.Signature(ab)),
             "m": In(unsigned(dw)), "k": In(unsigned(dw)),
             "n": In(unsigned(dw)), "order": In(1)}
    ports.update(mode or {})
    ports.update({"start": In(1), "busy": Out(1), "done": Out(1),
                  "cycles": Out(CYCLE_COUNTER_BITS)})
    return ports


def early(m: Module, buf: wiring.Component, gate: Value | None = None) -> Signal:
    """``buf``'s read data registered once more (the controller reads two cycles ahead;
    nothing may sit between the RAM and this register), on ``gate`` cycles."""
    q = Signal.like(buf.r_data, name=f"{buf.r_data.name}_q", reset_less=True)
    if gate is None:
        m.d.sync += q.eq(buf.r_data)
    else:
        with m.If(gate):
            m.d.sync += q.eq(buf.r_data)
    return q


def replay(m: Module, buf: wiring.Component, word: Value, tag: str,
           gate: Value | None = None) -> Value:
    """``word`` (the registered read) with the granules of a write that hit the same
    address at the read's edge replayed into it (one granule per ``w_en`` bit: a lane of
    an :class:`hdl.buffer.OperandBuffer`, 2 bits of a fused buffer).

    The first B word (OS: the first A and B words) is read in the cycle before ``start``,
    which may be the cycle the loader writes the last operand, and a read and a write of
    one word at the same edge return the old word. A transparent port would fix that
    with a mux between the RAM and the read register (and Yosys then absorbs the
    register into the RAM, leaving the RAM's clock-to-output in front of a multiplier);
    this mux comes one stage later instead, behind registers only."""
    wr = [Signal.like(x, name=f"{tag}_wr_{n}", reset_less=True) for n, x in
          (("addr", buf.w_addr), ("data", buf.w_data), ("en", buf.w_en))]
    rd_addr = Signal.like(buf.r_addr, name=f"{tag}_rd_addr", reset_less=True)
    capture = [wr[0].eq(buf.w_addr), wr[1].eq(buf.w_data), wr[2].eq(buf.w_en),
               rd_addr.eq(buf.r_addr)]
    if gate is None:
        m.d.sync += capture
    n = len(buf.w_en)
    patch = Signal(n, name=f"{tag}_patch", reset_less=True)
    patch_data = Signal.like(buf.w_data, name=f"{tag}_patch_data", reset_less=True)
    hit = [patch.eq(Mux(wr[0] == rd_addr, wr[2], 0)), patch_data.eq(wr[1])]
    if gate is None:
        m.d.sync += hit
    else:
        with m.If(gate):
            m.d.sync += capture + hit
    g = len(buf.w_data) // n
    return Cat(Mux(patch[i], patch_data[i * g:(i + 1) * g], word[i * g:(i + 1) * g])
               for i in range(n))


def connect_shell(m: Module, top: wiring.Component, ctrl: wiring.Component,
                  load_a: wiring.Component, load_b: wiring.Component,
                  unload: wiring.Component, buf_a: wiring.Component,
                  buf_b: wiring.Component, buf_o: wiring.Component, *,
                  k: Value, b_rows: Value, busy: Value, done: Value, cycles: Value,
                  finish: Value, gate: Value | None = None, b_direct: bool = False,
                  load_a_mode: Sequence = (), load_b_mode: Sequence = ()) -> None:
    """The glue around the array: the ``a``/``b`` streams into their loaders (``b``
    payload by hand where its shape differs from the loader's: ``b_direct``), the
    output buffer to the ``o`` stream, ``k`` (the reduction the controller walks) and
    ``b_rows`` (B's rows as loaded), the status ports from ``busy``/``done``/``cycles``,
    loaders writing their buffers while idle, the controller's reads (``gate`` cycles)
    and, after ``finish``, the unloader's. ``load_*_mode``: the loaders' own settings."""
    g = 1 if gate is None else gate
    idle = ~busy & ~top.start
    wiring.connect(m, wiring.flipped(top.a), load_a.inp)
    if not b_direct:
        wiring.connect(m, wiring.flipped(top.b), load_b.inp)
    wiring.connect(m, unload.out, wiring.flipped(top.o))
    direct = [load_b.inp.payload.eq(top.b.payload), load_b.inp.valid.eq(top.b.valid),
              top.b.ready.eq(load_b.inp.ready)] if b_direct else []
    m.d.comb += direct + [
        ctrl.start.eq(top.start), ctrl.m.eq(top.m), ctrl.k.eq(k),
        ctrl.n.eq(top.n), ctrl.order.eq(top.order),
        top.busy.eq(busy), top.done.eq(done), top.cycles.eq(cycles),
        # loaders: A is M x K, B is K x N
        load_a.n_rows.eq(top.m), load_a.n_cols.eq(top.k), *load_a_mode,
        load_b.n_rows.eq(b_rows), load_b.n_cols.eq(top.n), *load_b_mode,
        load_a.enable.eq(idle), load_b.enable.eq(idle),
        load_a.restart.eq(top.start), load_b.restart.eq(top.start),
        buf_a.w_addr.eq(load_a.w_addr), buf_a.w_data.eq(load_a.w_data),
        buf_a.w_en.eq(load_a.w_en),
        buf_b.w_addr.eq(load_b.w_addr), buf_b.w_data.eq(load_b.w_data),
        buf_b.w_en.eq(load_b.w_en),
        # compute reads (one per gate cycle: the RAM's output register holds between)
        buf_a.r_addr.eq(ctrl.a_addr), buf_a.r_en.eq(g),
        buf_b.r_addr.eq(ctrl.b_addr), buf_b.r_en.eq(g),
        # output buffer: the controller reads (partial sums) while busy, the
        # unloader afterwards
        unload.n_rows.eq(top.m), unload.n_cols.eq(top.n),
        unload.arm.eq(finish if gate is None else finish & gate),
        unload.restart.eq(top.start & ~busy),
        buf_o.r_addr.eq(Mux(busy, ctrl.o_rd_addr, unload.r_addr)),
        buf_o.r_en.eq(Mux(busy, ctrl.o_rd_en if gate is None else ctrl.o_rd_en & gate,
                          unload.r_en)),
        buf_o.w_addr.eq(ctrl.o_wr_addr),
        buf_o.w_en.eq(Mux(ctrl.o_wr_en if gate is None else ctrl.o_wr_en & gate, -1, 0)),
    ]


def write_back(m: Module, ws: bool, arr: wiring.Component, ctrl: wiring.Component,
               buf_o: wiring.Component, unload: wiring.Component, o_word: Value,
               accumulator_bits: int, a_lanes: Sequence[Value],
               b_lanes: Sequence[Value]) -> None:
    """The registered output word to the unloader; ``a_lanes`` into the array's inputs;
    ``b_lanes`` into its weights (WS, zeroed on ``w_zero``) or its B inputs (OS); each
    column's result -- under WS plus the old partial sum when ``o_acc``, wrapped at
    ``accumulator_bits`` -- into the output buffer; the array's load/drain controls."""
    ab = accumulator_bits
    m.d.comb += unload.r_data.eq(o_word)
    for r, v in enumerate(a_lanes):
        m.d.comb += arr.a[r].eq(v)
    results = []
    for c, v in enumerate(b_lanes):
        if ws:
            m.d.comb += arr.w[c].eq(Mux(ctrl.w_zero, 0, v))
            old = Mux(ctrl.o_acc, o_word[c * ab:(c + 1) * ab].as_signed(), 0)
            results.append((arr.out[c] + old)[:ab])
        else:
            m.d.comb += arr.b[c].eq(v)
            results.append(arr.out[c].as_unsigned())
    m.d.comb += buf_o.w_data.eq(Cat(*results))
    if ws:
        m.d.comb += arr.w_load.eq(ctrl.w_load)
    else:
        m.d.comb += [arr.valid.eq(ctrl.valid), arr.drain.eq(ctrl.drain)]


def lanes(word: Value, count: int, width: int, signed_: bool = True) -> list[Value]:
    """``word`` cut into ``count`` lanes of ``width`` bits (signed unless ``signed_`` is
    False: packed lanes the array decodes itself)."""
    out = [word[i * width:(i + 1) * width] for i in range(count)]
    return [v.as_signed() for v in out] if signed_ else out


__all__ = ["check_top_params", "connect_shell", "early", "gemm_ports", "lanes", "replay",
           "write_back"]
