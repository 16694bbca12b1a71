# Timing constraints of the codesign accelerator `@{top}` for @{board_description}
# (part @{part}), out of context: the core's clock port at the target clock of @{clock_mhz} MHz.
create_clock -period @{period_ns} -name @{clock_port} [get_ports @{clock_port}]

# In context, the core sits in a top level on the board and its clock comes from the board's
# clock (@{board_clock_mhz} MHz; a clocking wizard (MMCM) derives another target frequency).
# Pin lines for the top level's XDC, with the top level's clock port `@{board_clock_port}`:
@{board_clock_lines}
