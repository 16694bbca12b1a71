# Timing constraints of the codesign accelerator `tiny` for Xilinx VC707 (Virtex-7 XC7VX485T)
# (part xc7vx485tffg1761-2), out of context: the core's clock port at the target clock of 200 MHz.
create_clock -period 5.000 -name aclk [get_ports aclk]

# In context, the core sits in a top level on the board and its clock comes from the board's
# clock (200 MHz; a clocking wizard (MMCM) derives another target frequency).
# Pin lines for the top level's XDC, with the top level's clock port `clk_p/_n`:
# set_property -dict {PACKAGE_PIN E19 IOSTANDARD LVDS} [get_ports clk_p]
# set_property -dict {PACKAGE_PIN E18 IOSTANDARD LVDS} [get_ports clk_n]
# create_clock -period 5.000 -name clk [get_ports clk_p]
