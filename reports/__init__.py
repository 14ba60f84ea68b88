"""Comparison tables and plots built from the harness's MLflow runs (no torch import).

    from reports.build import build_report, build_sweep_report
    build_report("ablation_eimg", "out/")   # report.md / .tex / .html, results.csv, drift_*.png

Modules: runs (MLflow -> pandas), tables (aggregation, layouts, writers), published (the paper's
numbers), plots (drift and sweep figures), build (the report files).
"""
