"""The declared primary metric against what the toy world knows of it (reports/verdicts.py): `harness
plan` refuses an invalid primary, one that rewards the mean, and a one-sided one without guards before
any work."""

from __future__ import annotations

from harness.declare.experiment import Experiment
from harness.declare.preregistration import read_registration
from reports import verdicts as V
from svi.config import ConfigError, SVIConfig


def check_primary(exp: Experiment, configs: list[SVIConfig], table=None) -> list[str]:
    """Refuse, as a ConfigError of one line, a declared primary that the toy world's committed verdicts
    (reports/verdicts.py, results/toy_verdicts.csv; `table` for another) call invalid on one of the
    experiment's tracks, a primary they call one-sided without declared `guards`, and a guard they call
    invalid or one-sided there. Only an experiment of the toy world scored by the toy backend has
    known references; any other is not checked. A registered experiment keeps its registered primary
    (a registration is not rewritten): -> the notes that say so, [] otherwise."""
    from svi.model.presets import TOY_WORLD, get_preset

    toy = exp.metrics_backend == "toy" and any(get_preset(c.model.preset).toy_world for c in configs)
    if exp.primary is None or not toy:
        return []
    table = V.read_verdicts() if table is None else table
    notes = []
    registered = _registered_primary(exp.name)
    said = {t: V.known_verdict(table, TOY_WORLD, t, exp.primary) for t in exp.tracks}
    for track in sorted(exp.tracks, key=lambda t: said[t] != V.INVALID):  # an invalid track is named first
        valid = sorted(
            m
            for m in set(table[(table["track"] == track) & (table["validity"] == V.VALID)]["metric"])
            if m in set(_scored(exp))
        )
        instead = f" (valid there: {', '.join(valid)})" if valid else ""
        if said[track] == V.INVALID and registered == exp.primary:
            notes.append(
                f"primary {exp.primary} is invalid on {track} in the toy world ({V.VERDICTS_FILE}); the "
                "registered experiment keeps it, and its report says so"
            )
        elif said[track] == V.INVALID:
            raise ConfigError(
                f"primary {exp.primary} is invalid on {track} (a degenerate reference beats the truth on it: "
                f"{V.VERDICTS_FILE}): declare a valid primary{instead}"
            )
        elif said[track] == V.REWARDS_MEAN:
            raise ConfigError(
                f"primary {exp.primary} rewards the mean on {track} (a trivial video beats another true future "
                f"on it, so a perfect sampler would lose: {V.VERDICTS_FILE}): declare a valid primary{instead}, "
                "e.g. energy_score, which scores a sampler's draws"
            )
        elif said[track] == V.ONE_SIDED and not exp.guards:
            raise ConfigError(
                f"primary {exp.primary} is one-sided on {track} (a trivial video ties the truth on it: "
                f"{V.VERDICTS_FILE}): declare `guards:` (metrics every degenerate reference fails and the truth "
                f"passes, e.g. dynamic_degree against frozen) or a valid primary{instead}"
            )
        for guard in exp.guards:
            known = V.known_verdict(table, TOY_WORLD, track, guard)
            if known in V.SEVERE:
                raise ConfigError(
                    f"guard {guard} is {known} on {track} ({V.VERDICTS_FILE}): a guard is a metric on which "
                    "the truth beats every degenerate reference it guards against"
                )
    return notes


def _scored(exp: Experiment) -> list[str]:
    from scoring.specs import expand

    return expand(exp.metrics)


def _registered_primary(name: str) -> str | None:
    """The primary metric of the committed registration of experiment `name` (results/NAME), or None."""
    registered = read_registration(V.REPOSITORY / "results" / name)
    return ((registered or {}).get("primary") or {}).get("metric")
