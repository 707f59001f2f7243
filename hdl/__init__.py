"""What gets built: Amaranth generators of coforge's arrays, Verilog export, cocotb
testbenches and FPGA synthesis. The generators arrive with the RTL issue; until then
this package only reserves its place in the dependency order dataflows -> sim -> hdl
-> mapper.
"""
