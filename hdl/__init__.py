"""What gets built: Amaranth generators of coforge's GEMM engine and their verification.

Modules (one concept each): :mod:`hdl.params` (parameters from an Accelerator spec),
:mod:`hdl.pe`, :mod:`hdl.array`, :mod:`hdl.buffer`, :mod:`hdl.stream_io`,
:mod:`hdl.controller`, :mod:`hdl.top` (generators); :mod:`hdl.golden` (golden
models); :mod:`hdl.plan` (GEMM + mapping -> what the engine runs, and the native
cycle prediction of ``sim``); :mod:`hdl.driver` (one test definition),
:mod:`hdl.sim_amaranth`, :mod:`hdl.cocotb_tb`, :mod:`hdl.cocotb_run` (simulator
backends); :mod:`hdl.export` (Verilog + manifest); :mod:`hdl.verify` (the
``coforge verify`` flow); :mod:`hdl.formal` (bounded equivalence of the PEs);
:mod:`hdl.bench` (cycle table and simulation speed).
"""
