"""The declared primary metric against what the toy world knows of it (reports/verdicts.py): `harness
plan` refuses an invalid primary, one that rewards the mean, and a one-sided one without guards before
any work."""

from __future__ import annotations

from harness.declare.experiment import Experiment
from harness.declare.preregistration import git_check, read_registration
from reports import verdicts as V
from svi.config import ConfigError, SVIConfig


def check_primary(exp: Experiment, configs: list[SVIConfig], table=None) -> list[str]:
    """Refuse, as a ConfigError of one line, a declared primary that the toy world's committed verdicts
    (reports/verdicts.py, results/toy_verdicts.csv; `table` for another) call invalid on one of the
    experiment's tracks, a primary they call one-sided without declared `guards`, and a guard they call
    invalid or one-sided there. A primary is the top-level `primary:` and the metric of every hypothesis
    marked `primary: true` (on its track, or every track). A track the verdicts do not name (101s, 250s)
    takes the most severe verdict they give the same suite at another length: unknown is not fine where
    the suite is known. Only an experiment of the toy world scored by the toy backend has known
    references; any other is not checked. A registered experiment keeps its registered primary (a
    registration is not rewritten) where git shows that registration as committed and unchanged
    (`git_check`): -> the notes that say so, [] otherwise. `harness plan` and `harness run` both call it."""
    from svi.model.presets import get_preset

    toy = exp.metrics_backend == "toy" and any(get_preset(c.model.preset).toy_world for c in configs)
    primaries = _primaries(exp)
    if not primaries or not toy:
        return []
    table = V.read_verdicts() if table is None else table
    notes = []
    registered = _registered_primary(exp.name)
    said = {pair: _verdict(table, *pair) for pair in primaries}
    for track, primary in sorted(primaries, key=lambda p: said[p][0] != V.INVALID):  # invalid first
        verdict, where = said[(track, primary)]
        valid = sorted(
            m
            for m in set(table[(table["track"] == track) & (table["validity"] == V.VALID)]["metric"])
            if m in set(_scored(exp))
        )
        instead = f" (valid there: {', '.join(valid)})" if valid else ""
        seen = "" if where == track else f" (no verdict of its own; the toy world's on {where})"
        if verdict == V.INVALID and registered == primary:
            notes.append(
                f"primary {primary} is invalid on {track}{seen} in the toy world ({V.VERDICTS_FILE}); the "
                "registered experiment keeps it, and its report says so"
            )
        elif verdict == V.INVALID:
            raise ConfigError(
                f"primary {primary} is invalid on {track}{seen} (a degenerate reference beats the truth on "
                f"it: {V.VERDICTS_FILE}): declare a valid primary{instead}"
            )
        elif verdict == V.REWARDS_MEAN:
            raise ConfigError(
                f"primary {primary} rewards the mean on {track}{seen} (a trivial video beats another true "
                f"future on it, so a perfect sampler would lose: {V.VERDICTS_FILE}): declare a valid "
                f"primary{instead}, e.g. energy_score, which scores a sampler's draws"
            )
        elif verdict == V.ONE_SIDED and not exp.guards:
            raise ConfigError(
                f"primary {primary} is one-sided on {track}{seen} (a trivial video ties the truth on it: "
                f"{V.VERDICTS_FILE}): declare `guards:` (metrics every degenerate reference fails and the truth "
                f"passes, e.g. dynamic_degree against frozen) or a valid primary{instead}"
            )
    for track in exp.tracks:
        for guard in exp.guards:
            known, _ = _verdict(table, track, guard)
            if known in V.SEVERE:
                raise ConfigError(
                    f"guard {guard} is {known} on {track} ({V.VERDICTS_FILE}): a guard is a metric on which "
                    "the truth beats every degenerate reference it guards against"
                )
    return notes


def _primaries(exp: Experiment) -> set[tuple[str, str]]:
    """(track, metric) of every primary the experiment declares: `primary:` on every track, and each
    hypothesis marked `primary: true` on its track (every track where it names none)."""
    pairs = {(t, exp.primary) for t in exp.tracks} if exp.primary else set()
    for h in exp.hypotheses:
        if h.primary:
            pairs |= {(t, h.metric) for t in ([h.track] if h.track else exp.tracks)}
    return pairs


def _verdict(table, track: str, metric: str) -> tuple[str | None, str | None]:
    """(the toy world's verdict on `metric` on `track`, the track it is of): its own, or where it has
    none the most severe the verdicts give the same suite at another length (`creative_101s` is judged
    as `creative_100s`), or (None, None) where the suite is not known."""
    from svi.model.presets import TOY_WORLD

    own = V.known_verdict(table, TOY_WORLD, track, metric)
    if own is not None:
        return own, track
    suite = track.rsplit("_", 1)[0]
    lengths = sorted(
        t for t in set(table[table["world"] == TOY_WORLD]["track"]) if t.rsplit("_", 1)[0] == suite
    )
    known = {t: V.known_verdict(table, TOY_WORLD, t, metric) for t in lengths}
    for severe in V.SEVERE:
        for t, verdict in known.items():
            if verdict == severe:
                return verdict, t
    return None, None


def _scored(exp: Experiment) -> list[str]:
    from scoring.specs import expand

    return expand(exp.metrics)


def _registered_primary(name: str) -> str | None:
    """The primary metric of the registration of experiment `name` (results/NAME), or None: only where
    git shows it committed before any unit and unchanged since (`git_check`), so a hand-written,
    uncommitted preregistration.yaml keeps no primary."""
    folder = V.REPOSITORY / "results" / name
    registered = read_registration(folder)
    if registered is None or not git_check(folder)[0]:
        return None
    return (registered.get("primary") or {}).get("metric")
