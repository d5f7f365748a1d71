"""dualid's benchmark suite: every figure against a raw baseline measured in the same run.

Run ``python -m bench [--quick] [--json PATH] [--only NAME,...]`` from the repository root
(or ``python bench/run.py``); see docs/benchmarks.md.
"""
