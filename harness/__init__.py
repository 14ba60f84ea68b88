"""harness: the command line, experiment declarations, launching, the workspace, and MLflow.

The data flow of `harness run`, one module a stage:

    cli.py          the `harness` command: parses, checks, dispatches (exit 2 before any work)
    experiment.py   an experiment file -> Experiment (arms, seeds, suites, metrics), validated
    plan.py         Experiment -> Plan of ArmPlan(arm, seed, role, cfg, folder); checks inputs exist
    runner.py       each ArmPlan through the train / generate / score stages, resumable
    inputs.py       training clips and benchmarks the harness writes itself; ground truth for scoring
    generation.py   suite and single-image generation (shared by `run` and `generate`)
    launch.py       training child processes (deepspeed, torchrun, one process) and their logs
    workspace.py    HARNESS_HOME layout, stage markers, stage folder locks
    tracking.py     the one place that talks to MLflow (ArmRun: one child run per ArmPlan)
    probes.py       scoring training probes; the watcher that prunes sweep trials
    pretrain.py     `harness run pretrain_toy`: the toy base model, tracked like an experiment
    console.py      what the harness prints
    experiments/    the declared experiments (`harness list`)

Sweeps live in `sweeps/`, reports in `reports/`, the method in `svi/`, scoring in `benchmarks/`.
"""
