# Non-project Vivado build of the codesign accelerator `@{top}` for @{board_description}
# (part @{part}, @{clock_mhz} MHz target clock).  Written by `codesign export`; run build.sh, or
#   vivado -mode batch -nojournal -log vivado.log -source build.tcl
#
# The core is synthesised out of context (synth_design -mode out_of_context): its ports are
# AXI4-Stream signals for a larger design, not board pins, so no I/O buffers are inserted and the
# placed and routed result shows the core's own resources and timing.  Reports go to reports/,
# the routed checkpoint to checkpoints/.
#
# A bitstream needs a top level that instantiates the core and ties it to the board's pins, with
# an XDC that places those pins (see the commented lines in constraints.xdc): an out-of-context
# core cannot be a bitstream alone.  With such a wrapper:
#   build.sh bitstream WRAPPER.v PINS.xdc [WRAPPER_TOP]
#   vivado -mode batch -source build.tcl -tclargs bitstream WRAPPER.v PINS.xdc [WRAPPER_TOP]
# builds the wrapper in context instead (WRAPPER_TOP defaults to the file name of WRAPPER.v) and
# ends with write_bitstream.  Every step that fails stops the build with exit status 1.

set top @{top}
set part @{part}
set bitstream 0
if {[llength $argv] > 0} {
    if {[lindex $argv 0] ne "bitstream" || [llength $argv] < 3 || [llength $argv] > 4} {
        puts stderr "build.tcl: arguments '$argv' not understood; a bitstream needs a top-level\
            wrapper that instantiates $top and an XDC placing its pins (an out-of-context core\
            cannot be a bitstream alone): -tclargs bitstream WRAPPER.v PINS.xdc \[WRAPPER_TOP\]"
        exit 2
    }
    set bitstream 1
    set wrapper [file normalize [lindex $argv 1]]
    set pins [file normalize [lindex $argv 2]]
    set wrapper_top [file rootname [file tail $wrapper]]
    if {[llength $argv] == 4} {
        set wrapper_top [lindex $argv 3]
    }
}

cd [file dirname [file normalize [info script]]]
file mkdir reports checkpoints

proc step {name script} {
    puts "codesign: $name"
    if {[catch {uplevel 1 $script} message]} {
        puts stderr "codesign: $name failed: $message"
        exit 1
    }
}

step "read sources" {
@{read_sources}
    if {$bitstream} {
        read_verilog $wrapper
        read_xdc $pins
    } else {
        read_xdc constraints.xdc
    }
}
if {$bitstream} {
    step "synth_design (in context, top $wrapper_top)" {
        synth_design -top $wrapper_top -part $part
    }
} else {
    step "synth_design (out of context)" {
        synth_design -top $top -part $part -mode out_of_context
    }
}
step "opt_design" { opt_design }
step "place_design" { place_design }
step "route_design" { route_design }
step "report_utilization" {
    report_utilization -hierarchical -file reports/utilization_hierarchical.rpt
    report_utilization -file reports/utilization.rpt
}
step "report_timing_summary" {
    report_timing_summary -file reports/timing_summary.rpt
    set paths [get_timing_paths -max_paths 1 -nworst 1 -setup]
    if {[llength $paths] > 0} {
        set slack [get_property SLACK [lindex $paths 0]]
        puts "codesign: worst setup slack $slack ns (clock period @{period_ns} ns)"
        if {$slack ne "" && $slack < 0} {
            puts "codesign: WARNING: timing not met at @{clock_mhz} MHz,\
                see reports/timing_summary.rpt"
        }
    }
}
step "write_checkpoint" {
    if {$bitstream} {
        write_checkpoint -force checkpoints/${wrapper_top}_routed.dcp
    } else {
        write_checkpoint -force checkpoints/${top}_routed.dcp
    }
}
if {$bitstream} {
    step "write_bitstream" {
        write_bitstream -force ${wrapper_top}.bit
    }
}
puts "codesign: done; reports in [pwd]/reports"
exit 0
