"""harness: the engine that puts the method to work, in four rooms on a ladder (each imports only
the rooms below it; tests/test_layering.py holds it):

    base/       workspace, hashing, where declarations live, redaction, console, clock, git
    tracking/   the one place that talks to MLflow: runs, curves, review views, media
    declare/    experiment files, the plan, its preview, pre-registration
    run/        the pipeline, launching, jobs, provisioning, suite generation, bundles

Above it: `sweeps/` (Optuna) and `cli/` (the `harness` command). The declarations themselves are
data, in `configs/`.
"""
