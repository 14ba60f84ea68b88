"""Pre-registration: an experiment's question, design and analysis fixed, and committed, before its data.

`harness plan EXP --preregister` writes `results/EXP/preregistration.yaml` before the bundle holds any
unit. It records:
- the hypotheses (the experiment's `hypotheses:`: comparison, metric, track, direction, which is primary),
  tested as a Holm family of their own, one-sided where they state a direction (reports/tables.py);
- the design: arms, seeds, samples per track, n = samples x seeds, and the stopping rule (fixed n);
- the power: for each hypothesis given a smallest effect of interest (`--detect METRIC=VALUE`), the
  variance components of that comparison in an earlier bundle (`--power-from DIR`), the designs that
  would detect it at 80% power, and the power and MDD of the declared design;
- the analysis (ANALYSIS, ANALYSIS_VERSION) and the code's versions (scores, toy world);
- digests of the declaration and each unit's plan hash, the date and the harness commit.

From then on `harness run EXP --from results/EXP` runs a unit only if the plan is the registered one
(`differences`); `--force` does not override it. The only way on is a new registration
(`--preregister --supersede`), which keeps the old one under `preregistrations/` and is itself dated.
`registration_order` reads git: the registration must be committed before the first unit's bundle.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from harness.base.git import commit, git
from harness.base.hashing import config_changes, digest
from harness.declare.plan import Plan, code_versions, earlier_hashes, plan_inputs, unit_hash
from reports.bundle import unit_key
from svi.config import ConfigError, read_mapping

REGISTRATION_FILE = "preregistration.yaml"
HISTORY_DIR = "preregistrations"  # superseded registrations, numbered
ANALYSIS_VERSION = 1
ANALYSIS = (
    "Crossed-design intervals (samples and seeds crossed: one trained model per seed; variance "
    "components, Satterthwaite df), 95%; t tests, one-sided where a hypothesis states its direction; Holm "
    "over the pre-registered hypotheses as one family; every other difference exploratory."
)
STOPPING_RULE = "fixed n: every registered unit runs; nothing is read before the last one is in"


def _samples(plan: Plan) -> dict[str, int | None]:
    """Samples per track: the track's limit, else the toy world's toy_samples (None: the benchmark's)."""
    from svi.model.presets import get_preset

    exp = plan.exp
    toy = any(get_preset(u.cfg.model.preset).toy_world for u in plan.units) and not exp.benchmark_root
    return {s.name: s.limit or (exp.toy_samples if toy else None) for s in exp.suites}


def power_block(plan: Plan, source: Path, detect: dict[str, float]) -> list[dict]:
    """Per hypothesis whose metric has a smallest effect in `detect` (display units): the components
    of its comparison in the results bundle `source`, the designs that detect it at 80% power, and
    the declared design's power and MDD."""
    import numpy as np

    from reports import stats as S
    from reports import tables as T
    from reports.bundle import read_bundle
    from reports.margins import split

    runs, samples, manifest = read_bundle(source)
    runs, samples, _ = split(runs, samples)
    hyps = plan.exp.hypotheses
    pairs = [tuple(x.strip() for x in h.comparison.split(" - ")) for h in hyps]
    summary = T.summarize(runs, samples, manifest.get("arm_order"), comparisons=list(dict.fromkeys(pairs)))
    seeds = len(plan.exp.seeds)
    out = []
    for h, (arm, other) in zip(hyps, pairs):
        if h.metric not in detect:
            continue
        info = T.metric_info(h.metric)
        want = detect[h.metric] / info.scale
        rows = summary[
            (summary["arm"] == arm) & (summary["reference"] == other) & (summary["metric"] == h.metric)
        ]
        if h.track:
            rows = rows[rows["track"] == h.track]
        rows = rows[rows["p"].notna()]
        if rows.empty:
            raise ConfigError(
                f"--power-from {source}: it holds no tested {h.comparison} on {h.metric}"
                + (f" on {h.track}" if h.track else "")
                + "; name a bundle that compared those arms"
            )
        rec = rows.iloc[0]
        comp = S.Components(rec["var_sample"], rec["var_seed"], rec["var_residual"])
        n = _samples(plan).get(h.track or rec["track"]) or int(rec["delta_n_samples"])
        sided = 1 if h.direction != "two-sided" else 2
        out.append(
            {
                "hypothesis": T.hypothesis_name(h.comparison, h.metric, h.track),
                "smallest_effect": detect[h.metric],
                "components_from": {
                    "bundle": str(source),
                    "track": rec["track"],
                    "n": T.n_text(rec["delta_n_samples"], rec["n_seeds"]),
                },  # fmt: skip
                "components_sd": {
                    k: float(np.sqrt(max(v, 0.0)) * info.scale)
                    for k, v in (("sample", comp.sample), ("seed", comp.seed), ("residual", comp.residual))
                },  # fmt: skip
                "designs_at_80": [f"{d.n_samples}x{d.n_seeds}" for d in S.plan(comp, want)[:4]],
                "declared_design": f"{n}x{seeds}",
                "declared_mdd": float(S.mdd(comp, n, seeds) * info.scale),
                "declared_power": round(S.power(comp, n, seeds, want, sided=sided), 3),
            }
        )
    return out


def registration(plan: Plan, *, number: int, power: list[dict]) -> dict:
    """The registration of `plan` (module doc), as written to REGISTRATION_FILE."""
    exp = plan.exp
    declaration = exp.model_dump(mode="json")
    samples = _samples(plan)
    return {
        "experiment": exp.name,
        "number": number,
        "registered_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "harness_commit": commit(),
        "hypotheses": [h.model_dump(mode="json") for h in exp.hypotheses],
        "primary": next((h.model_dump(mode="json") for h in exp.hypotheses if h.primary), None),
        "design": {
            "arms": list(exp.arms),
            "seeds": list(exp.seeds),
            "samples_per_track": samples,
            "n": {t: f"{n}x{len(exp.seeds)}" if n else f"?x{len(exp.seeds)}" for t, n in samples.items()},
            "stopping_rule": STOPPING_RULE,
        },
        "power": power,
        "analysis": {"method": ANALYSIS, "version": ANALYSIS_VERSION},
        "versions": code_versions(),
        "declaration_digest": digest("declaration", declaration),
        "declaration": declaration,
        "plan_hashes": {unit_key(u.arm, u.seed): unit_hash(plan_inputs(plan, u)) for u in plan.units},
    }


def read_registration(folder: Path) -> dict | None:
    """The registration in a bundle folder (the bounded YAML reader), or None."""
    path = Path(folder) / REGISTRATION_FILE
    return read_mapping(path) if path.is_file() else None


def register(plan: Plan, folder: Path, *, power: list[dict], supersede: bool = False) -> Path:
    """Write the registration into `folder` (results/EXP). Refused once the bundle holds a unit, and
    over an existing registration unless `supersede` (the old one is kept, numbered, in HISTORY_DIR)."""
    from reports.bundle import read_manifest

    folder = Path(folder)
    path = folder / REGISTRATION_FILE
    old = read_registration(folder)
    if (folder / "manifest.json").is_file() and read_manifest(folder)["units"] and not supersede:
        raise ConfigError(
            f"{folder} already holds units: a registration comes before the first unit. Register in a new "
            "bundle folder, or --supersede to record a new registration (the report will say so)"
        )
    if old is not None and not supersede:
        raise ConfigError(
            f"{path} exists (registration {old.get('number', 1)} of {str(old.get('registered_at'))[:10]}): "
            "a registration is not rewritten; --supersede records a new one beside it"
        )
    number = (old or {}).get("number", 0) + 1
    if old is not None:
        history = folder / HISTORY_DIR
        history.mkdir(parents=True, exist_ok=True)
        (history / f"{old.get('number', 1):03d}.yaml").write_text(path.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    content = registration(plan, number=number, power=power)
    path.write_text(
        "# Pre-registration (harness plan --preregister): fixed before the first unit; commit it now.\n"
        + yaml.safe_dump(content, sort_keys=False, allow_unicode=True)
    )
    return path


def differences(plan: Plan, registered: dict) -> list[str]:
    """What of `plan` differs from its registration: units (added, dropped, or under another plan
    hash, with the settings that changed), the declaration, the analysis version. [] when none does."""
    out = []
    now = {unit_key(u.arm, u.seed): (u, earlier_hashes(plan_inputs(plan, u))) for u in plan.units}
    then = registered.get("plan_hashes") or {}
    for key in sorted(set(now) - set(then)):
        out.append(f"unit {key} is not in the registration")
    for key in sorted(set(then) - set(now)):
        out.append(f"registered unit {key} is not in the plan")
    declared = registered.get("declaration") or {}
    changed = config_changes(declared, plan.exp.model_dump(mode="json"))
    for key in sorted(set(now) & set(then)):
        if then[key] not in now[key][1]:  # settings added since, at their old behaviour, still match
            out.append(f"unit {key} is under another plan than registered")
    out += [f"declaration {k}: {a!r} -> {b!r}" for k, (a, b) in list(changed.items())[:12]]
    if (registered.get("analysis") or {}).get("version") != ANALYSIS_VERSION:
        out.append(
            f"analysis version {(registered.get('analysis') or {}).get('version')} -> {ANALYSIS_VERSION}"
        )
    return out


def check_plan(plan: Plan, folder: Path) -> None:
    """A ConfigError naming what differs when `folder` holds a registration that `plan` is not: a
    registered experiment runs only as registered, `--force` or not."""
    registered = read_registration(folder)
    if registered is None:
        return
    found = differences(plan, registered)
    if found:
        raise ConfigError(
            f"{folder / REGISTRATION_FILE}: this run is not the registered experiment (registration "
            f"{registered.get('number', 1)} of {str(registered.get('registered_at'))[:10]}):\n  "
            + "\n  ".join(found)
            + "\n--force does not change this: run the registered declaration, or record a new registration "
            "(harness plan EXP --preregister --supersede), which the report and page will show"
        )


def registration_order(folder: Path) -> tuple[bool, str]:
    """(ok, what git says): the commit that first added the registration must come before the first
    commit that added the bundle's manifest (its first unit). From a clean clone: `git log` alone."""
    folder = Path(folder).resolve()
    first = lambda name: git(  # noqa: E731
        ["log", "--diff-filter=A", "--format=%H %cI", "--reverse", "--", name], cwd=folder
    )
    reg, units = first(REGISTRATION_FILE), first("manifest.json")
    if not reg:
        return False, f"{folder / REGISTRATION_FILE} is not committed: commit it before the first unit runs"
    reg_sha, reg_date = reg.splitlines()[0].split()
    if not units:
        return True, f"registered in {reg_sha[:10]} ({reg_date}); no unit committed yet"
    unit_sha, unit_date = units.splitlines()[0].split()
    before = (
        git(["merge-base", "--is-ancestor", reg_sha, unit_sha], cwd=folder) is not None
        and reg_sha != unit_sha
    )
    if not before:
        return False, (
            f"the registration ({reg_sha[:10]}, {reg_date}) was not committed before the first unit "
            f"({unit_sha[:10]}, {unit_date}): these results are not pre-registered"
        )
    return (
        True,
        f"registered in {reg_sha[:10]} ({reg_date}), before the first unit in {unit_sha[:10]} ({unit_date})",
    )
