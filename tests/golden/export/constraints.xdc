# Timing constraints of the codesign accelerator `tiny` for Digilent Nexys4 DDR (Nexys A7-100T)
# (part xc7a100tcsg324-1), out of context: the core's clock port at the target clock of 100 MHz.
create_clock -period 10.000 -name aclk [get_ports aclk]

# In context, the core sits in a top level on the board and its clock comes from the board's
# clock (100 MHz; a clocking wizard (MMCM) derives another target frequency).
# Pin lines for the top level's XDC, with the top level's clock port `clk`:
# set_property -dict {PACKAGE_PIN E3 IOSTANDARD LVCMOS33} [get_ports clk]
# create_clock -period 10.000 -name clk [get_ports clk]
