"""sweeps: Optuna sweeps over an experiment arm.

runner.py   a sweep file -> Sweep (validated); the study, its workers, pruning on training probes;
            each trial is one harness ArmPlan with sampled overrides, run by harness.run.pipeline
*.yaml      the declared sweeps (`harness list`)
"""
