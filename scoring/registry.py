"""Building a metric by name and backend, through the spec table's builders (`specs.py`).

`backend="vbench"` loads VBench's official weight files from the cache folder (VBENCH_CACHE_DIR);
`backend="random"` builds every network with random initialisation (same architectures): numbers
that exercise the pipeline and measure speed, never results. `backend="toy"` scores toy-world
videos with the same formulas on a small encoder trained on the toy world and OpenCV optical flow
(`scoring/toy.py`): comparable between arms, never with published VBench numbers.
Every metric reports its backend. The builders themselves are in `builders.py`.

`GROUPS`, `ALL`, `BACKENDS` and `expand` are the table's (`specs.py`), re-exported here.
"""

from __future__ import annotations

import os

from scoring.base import Metric
from scoring.specs import ALL, BACKENDS, GROUPS, expand, spec

__all__ = ["ALL", "BACKENDS", "GROUPS", "MetricUnavailable", "build", "expand"]


class MetricUnavailable(RuntimeError):
    """A metric whose model cannot be built here (the message says why)."""


def build(
    name: str,
    *,
    backend: str = "vbench",
    cache_dir: str | os.PathLike | None = None,
    device: str = "cpu",
    batch_size: int = 16,
    i3d: str | os.PathLike | None = None,
    toy_weights: str | os.PathLike | None = None,
    face_detector: str | None = None,
    base: Metric | None = None,
) -> Metric:
    """One metric with its networks loaded (official weights), random-initialised or toy-world trained.

    toy_weights: the toy encoder's safetensors file (backend "toy"; default the committed weights).
    face_detector: Sync-C / Sync-D's face detector, "haar" (OpenCV's bundled cascade, the default) or
      "s3fd" (the reference pipeline's, weights in the cache folder).
    base: for a drift protocol (a row with a `base`), its dimension's metric, already built, whose pass
      it joins (`scoring.build_metrics` passes the suite's, so the network runs once per frame); None
      builds one with the same options.
    Raises ValueError for an unknown name or backend, MetricUnavailable for a metric with no builder on
    this backend, FileNotFoundError for a missing weight file (the message names it).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    row = spec(name)
    builder = row.builder(backend)
    if builder is None:
        if not row.implemented:
            raise MetricUnavailable(f"{name} is not implemented yet")
        raise MetricUnavailable(f"{name} has no builder for backend {backend!r}")
    options = dict(
        backend=backend,
        cache_dir=cache_dir,
        device=device,
        batch_size=batch_size,
        i3d=i3d,
        toy_weights=toy_weights,
        face_detector=face_detector,
    )
    if row.base is None and base is not None:
        raise ValueError(f"{name} is not computed from another metric; it takes no base")
    if row.base is not None and base is None:
        base = build(row.base, **options)
    return builder(name, base=base, **options)
