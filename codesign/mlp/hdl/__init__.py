"""System 2's generated on-chip trainer: MyHDL blocks (plan, arith, junction, trainer)."""
