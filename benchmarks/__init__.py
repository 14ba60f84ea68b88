"""Scripts, not a library: nothing outside tests imports this package (tests/test_layering.py).

perf/        performance scripts that print JSON (medians, ratios against a reference)
crosscheck/  our VBench metrics against the `vbench` package's own functions, in its own venv
toyworld/    the toy world's reference points and diagnostics (dance_ceiling, talk_ceiling,
             eimg_diagnostic)
stats_calibration.py  false-positive rates of the reports' intervals on simulated experiments
"""
