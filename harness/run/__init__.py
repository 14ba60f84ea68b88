"""harness.run: a plan put to work, and its results bundled.

pipeline          each unit through its train / generate / score stages, resumable
provision         training clips and benchmarks the harness writes itself; the ground truth
launch            training child processes (deepspeed, torchrun, one process) and their logs
jobs              units as submitit jobs (SLURM, or its local executor)
suite_generation  a benchmark suite's long videos (and one video from an image)
probe_watch       training probes scored while a trial trains; the watcher that prunes it
reference_units   the degenerate references, scored like arms and logged as child runs
pretraining       `harness run pretrain_toy`: the toy base model, tracked like an experiment
bundle_export     `harness export` and `harness run --from`: the store to a bundle and back to a plan
bundle_import     `harness import`: a bundle back into an MLflow store for review
"""
