"""Hardware blocks written in MyHDL, convertible to Verilog and bit-exact with :mod:`codesign.fixedpoint`."""
