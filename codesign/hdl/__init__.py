"""The MyHDL library every accelerator shares: signals and small blocks, ROMs, ping-pong buffers,
Verilog conversion and the block simulation harness."""
