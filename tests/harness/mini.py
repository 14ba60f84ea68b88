"""The tiny experiment the harness tests run end to end: the tiny preset, a 3-step training, a
1-second suite scored on the toy backend (its small committed networks: a random-init DINO ViT-B/16
took 40 of a run's 64 s). Tests vary its name, arms, suite size and backend; `test_pipeline` runs it on
the random-init backend, so one run end to end still builds and logs VBench's architectures.
`shipped_experiments` yields every experiment this repository ships, for the tests that check them all."""

TEMPLATE = """
name: {name}
description: {description}
config:
  variant: shot
  model: {{preset: tiny}}
  lora: {{rank: 4, alpha: 4}}
  memory: {{capacity: 4, budget_bytes: 16777216, warmup_steps: 2}}
  train: {{steps: {steps}, lr: 0.001, checkpoint_every: {checkpoint_every}}}
  generate: {{steps: 2}}
arms:
  base: {{train: false, role: baseline}}
  full: {full}
{more_arms}seeds: [0]
suites: [{{suite: consistent, length: 1s, limit: {limit}}}]
metrics: {metrics}
metrics_backend: {backend}
"""


def mini_experiment(
    name: str = "mini",
    description: str = "a two-arm smoke experiment",
    *,
    full: str = "{}",
    more_arms: str = "",
    steps: int = 3,
    checkpoint_every: int = 3,
    limit: int = 1,
    metrics: str = "subject_consistency",
    backend: str = "toy",
) -> str:
    """The experiment's YAML: arms `base` (untrained) and `full` (`full`: its arm spec), plus
    `more_arms` (YAML lines, two-space indented)."""
    return TEMPLATE.format(
        name=name, description=description, full=full, more_arms=more_arms, steps=steps,
        checkpoint_every=checkpoint_every, limit=limit, metrics=metrics, backend=backend,
    )  # fmt: skip


def shipped_experiments():
    """(name, experiment, its source path) of every experiment in configs/experiments but the
    pretrainings (svi.training.pretrain's own schema)."""
    from harness.declare.experiment import (
        experiment_names,
        find_experiment,
        is_pretrain,
        load_experiment,
        read_experiment_file,
    )

    for name in experiment_names():
        if not is_pretrain(read_experiment_file(find_experiment(name))):
            yield (name, *load_experiment(name))
