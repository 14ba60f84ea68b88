"""Comparison tables and plots built from the harness's MLflow runs (no torch import).

    from reports.build import build_report, build_sweep_report
    build_report("ablation_eimg", "out/")   # report.md / .tex / .html, results.csv, drift_*.png

Modules:
    runs       MLflow runs -> pandas frames
    keys       the MLflow key names the harness writes and the reports read
    stats      the statistics: t intervals, the paired cluster bootstrap, Holm, seed spread, CI bands
    tables     per-arm intervals, differences against the reference arm, layouts, Markdown / LaTeX / HTML
    published  the paper's numbers, shown as reference rows
    plots      drift and sweep figures
    build      the report files

Metric facts (label, display scale, decimals, direction) come from the metric table,
`scoring.specs` (torch-free).
"""
