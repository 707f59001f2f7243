"""Which generator builds an engine: one dispatch on :attr:`HdlParams.engine`.

Every engine top is a ``wiring.Component`` with the port protocol of
:class:`hdl.top.GemmTop` (streams ``a``, ``b``, ``o``; ``m``, ``k``, ``n``, ``order``,
``start``, ``busy``, ``done``, ``cycles``), plus the extra static inputs its kind needs
(set by :attr:`hdl.driver.GemmCase.ports`), so one testbench
(:mod:`hdl.driver`) drives them all under Amaranth, Icarus and Verilator. The kinds
are :data:`sim.fpga_model.ENGINE_KINDS`; each generator lives in its own module and is
imported only when asked for.
"""

from __future__ import annotations

from importlib import import_module

from amaranth.lib import wiring

from hdl.params import HdlError, HdlParams

#: engine kind -> (module, class) of its top.
TOPS: dict[str, tuple[str, str]] = {
    "dense": ("hdl.top", "GemmTop"),
    "bitserial": ("hdl.bitserial", "BitSerialTop"),
    "bitfusion": ("hdl.bitfusion", "BitFusionTop"),
    "sparse_nm": ("hdl.sparse_nm", "SparseNMTop"),
}


def build_top(params: HdlParams) -> wiring.Component:
    """The top of ``params.engine``; one-line :class:`HdlError` if it is not built yet."""
    if params.engine not in TOPS:
        raise HdlError(f"no generator for engine {params.engine!r}; known: {list(TOPS)}")
    module, cls = TOPS[params.engine]
    try:
        top_cls = getattr(import_module(module), cls)
    except (ImportError, AttributeError):
        raise HdlError(f"the {params.engine!r} engine generator ({module}.{cls}) is not "
                       f"available in this version of coforge") from None
    return top_cls(params)


__all__ = ["TOPS", "build_top"]
