"""Comparison tables, statistics and plots from frames of runs and samples (no torch, no MLflow).

The frames come from a results bundle (`reports.bundle.build_report_from`) or from the MLflow store,
which harness/tracking/store_reader.py reads (`build_report("ablation_eimg", "out/")`).

Modules:
    frames     the frames' columns and the vocabulary a bundle shares with the store
    stats      the statistics: t intervals, the paired cluster bootstrap, Holm, seed spread, CI bands
    tables     per-arm intervals, differences against the reference arm, layouts, Markdown / LaTeX / HTML
    published  the paper's numbers, shown as reference rows
    plots      drift and sweep figures
    build      the report files

Metric facts (label, display scale, decimals, direction) come from the metric table,
`scoring.specs` (torch-free).
"""
