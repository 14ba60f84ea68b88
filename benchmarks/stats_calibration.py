"""Why the reports use a variance-components interval: false-positive rates of three intervals on
simulated null experiments of the harness's crossed design (JSON on stdout).

Each experiment: arms a and b on the same I samples and J seed labels, no true difference. A score is
sample effect (shared by the arms) + arm-by-sample interaction + the (arm, seed) training effect shared
by every sample + per-video noise (tests/reports/test_calibration.py's model). Intervals compared:
- crossed:    reports.stats.crossed_difference (variance components, Satterthwaite df): what reports use
- nested:     the cluster bootstrap the reports used before: samples resampled, each drawn sample's seeds
              resampled within it (as if every sample had its own training runs), percentile interval
- pigeonhole: the two-way bootstrap for crossed factors (Owen 2007): samples and seeds each resampled
              once per replicate, the same seed draw for every sample, percentile interval
A rate near 5% is calibrated; above it, stars that are not earned.

    python benchmarks/stats_calibration.py [--runs 1000] [--resamples 1000] [--samples 8] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reports.stats import crossed_difference  # noqa: E402

INTERACTION_SD, NOISE_SD = 0.5, 1.0


def experiment(rng, i: int, j: int, seed_sd: float) -> np.ndarray:
    """The cell differences b - a [I, J] of one null experiment (the shared sample effect cancels)."""

    def arm() -> np.ndarray:
        return (
            rng.normal(0, INTERACTION_SD, (i, 1))
            + rng.normal(0, seed_sd, (1, j))
            + rng.normal(0, NOISE_SD, (i, j))
        )

    return arm() - arm()


def nested(d: np.ndarray, rng, resamples: int) -> tuple[float, float]:
    i, j = d.shape
    rows = rng.integers(0, i, (resamples, i))
    cols = rng.integers(0, j, (resamples, i, j))  # a seed draw of its own for every drawn sample
    boot = d[rows[:, :, None], cols].mean(axis=(1, 2))
    return tuple(np.quantile(boot, [0.025, 0.975]))


def pigeonhole(d: np.ndarray, rng, resamples: int) -> tuple[float, float]:
    i, j = d.shape
    rows = rng.integers(0, i, (resamples, i))
    cols = rng.integers(0, j, (resamples, j))  # one seed draw, shared by every sample
    boot = d[rows[:, :, None], cols[:, None, :]].mean(axis=(1, 2))
    return tuple(np.quantile(boot, [0.025, 0.975]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=1000, help="null experiments per setting")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap replicates")
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    rows = []
    for seeds, seed_sds in ((3, (0.0, 0.25, 0.5, 1.0)), (1, (0.0, 1.0))):
        for seed_sd in seed_sds:
            hits = {"crossed": 0, "nested": 0, "pigeonhole": 0}
            for _ in range(args.runs):
                d = experiment(rng, args.samples, seeds, seed_sd)
                c = crossed_difference(np.zeros_like(d), d)
                for name, (low, high) in (
                    ("crossed", (c.low, c.high)),
                    ("nested", nested(d, rng, args.resamples)),
                    ("pigeonhole", pigeonhole(d, rng, args.resamples)),
                ):
                    hits[name] += bool(low > 0 or high < 0)
            rows.append(
                {
                    "samples": args.samples,
                    "seeds": seeds,
                    "seed_sd": seed_sd,
                    "per_video_sd": NOISE_SD,
                    **{f"false_positive_{k}": v / args.runs for k, v in hits.items()},
                }
            )
    json.dump(
        {"benchmark": "stats_calibration", "nominal": 0.05, "runs": args.runs, "results": rows},
        sys.stdout,
        indent=2,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
