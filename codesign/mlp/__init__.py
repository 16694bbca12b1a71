"""System 2: pre-defined sparse MLPs trained online in the fixed point of an on-chip trainer.

Connectivity (:mod:`~codesign.mlp.connectivity`: junctions, clash-free interleavers and their
checker), the trainer's arithmetic (:mod:`~codesign.mlp.fixedpoint`), one online-training
engine for float and fixed point with the hardware's pipelined schedule
(:mod:`~codesign.mlp.train`), the trained-network artifact (:mod:`~codesign.mlp.artifact`),
the cycle model (:mod:`~codesign.mlp.timing`), resources and z exploration
(:mod:`~codesign.mlp.cost`), the stages (:mod:`~codesign.mlp.steps`) and the ``codesign mlp``
commands (:mod:`~codesign.mlp.commands`).
"""
