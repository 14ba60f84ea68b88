"""What to generate and how to score it (DESIGN.md: `benchmarks/` may import `svi`).

Modules:
    suites       the paper's benchmark suites (consistent, creative, conditional): samples to generate
    synthetic    tiny synthetic videos and datasets in the official SVI layout (tests, the demo)
    metrics/     the scoring dimensions, their table (metrics/specs.py) and the streaming scorer
    toyworld/    the toy world: procedural scenes, storylines, talking heads and dancers, training sets,
                 benchmarks, true videos
    perf/        performance scripts that print JSON (medians, ratios against a reference)
    crosscheck/  our VBench metrics against the `vbench` package's own functions, in its own venv

This package and `benchmarks.metrics` import nothing at import time, so the torch-free metric table
(`benchmarks.metrics.specs`) can be read by `reports/`.
"""
