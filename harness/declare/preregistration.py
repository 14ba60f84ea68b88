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
(`--preregister --supersede --reason TEXT`): number N + 1, which keeps each old one whole under
`preregistrations/NNN.yaml` and records its number, date, digest and the reason it was superseded (the
report and page show each as a deviation). A supersession needs the file it supersedes: a registration
removed from the folder is restored from git, never started again at number 1.

`git_check` reads git (`harness plan EXP --check-registration`, and every report of a bundle the
harness builds): the registration committed before the first unit's bundle (`registration_order`), the
file as committed, and every version git holds of it one of the registrations the file records, so a
rewrite outside a supersession, whether before or after the data, is caught. `verified` adds what the
files alone say (reports/registration.py: the kept registrations' digests, the manifest's copy).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from harness.base.git import commit, git
from harness.base.hashing import config_changes, digest
from harness.declare.plan import Plan, code_versions, earlier_hashes, plan_inputs, unit_hash
from reports.bundle import unit_key
from reports.registration import (
    HISTORY_DIR,
    REGISTRATION_FILE,
    Status,
    chain,
    content_digest,
    history_path,
    number_of,
    parsed,
    read_registration,
    reason_problem,
    status,
)
from svi.config import ConfigError

__all__ = ["HISTORY_DIR", "REGISTRATION_FILE", "read_registration"]
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
    from reports.frames import split_comparison
    from reports.margins import split

    runs, samples, manifest = read_bundle(source)
    runs, samples, _ = split(runs, samples)
    hyps = plan.exp.hypotheses
    pairs = [split_comparison(h.comparison) for h in hyps]
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


def register(
    plan: Plan, folder: Path, *, power: list[dict], supersede: bool = False, reason: str | None = None
) -> Path:
    """Write the registration into `folder` (results/EXP). Refused once the bundle holds a unit, and
    over an existing registration unless `supersede` with a `reason` (the old one is kept whole, numbered,
    in HISTORY_DIR, and the new one records its number, date, digest and the reason). Refused too where
    there is nothing to supersede, or where git shows a registration that is no longer in the folder."""
    from reports.bundle import read_manifest

    folder = Path(folder)
    path = folder / REGISTRATION_FILE
    old = read_registration(folder)
    removed = _removed(folder) if old is None else None
    if removed:
        raise ConfigError(
            f"{path} is in git's history ({removed[:10]}) and no longer in the folder: a registration is never "
            f"started again; restore it (git checkout {removed[:10]} -- {path}, or the commit before the one "
            "that removed it), then --supersede it with a --reason"
        )
    if supersede and old is None:
        raise ConfigError(
            f"{path} does not exist: --supersede records a new registration beside the one it supersedes, and "
            "there is none (register without --supersede, before the first unit)"
        )
    if supersede and not (reason or "").strip():
        raise ConfigError("--supersede needs --reason TEXT: why the registration changes (the page shows it)")
    problem = reason_problem(" ".join(str(reason).split())) if supersede else None
    if problem:
        raise ConfigError(f"--reason {problem}: why the registration changes (the page shows it)")
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
    number = number_of(old) + 1 if old is not None else 1
    earlier = []
    if old is not None:
        kept, problems = chain(folder, old)
        if problems:
            raise ConfigError(
                f"{path}: {'; '.join(problems)}: restore the kept registrations before superseding"
            )
        keep = history_path(folder, number_of(old))
        if keep.exists():
            raise ConfigError(f"{keep} exists already: a kept registration is never overwritten")
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.write_bytes(path.read_bytes())
        earlier = [
            *(old.get("superseded") or []),
            {
                "number": number_of(old),
                "registered_at": str(old.get("registered_at")),
                "digest": content_digest(old),
                "reason": " ".join(str(reason).split()),
            },
        ]
    folder.mkdir(parents=True, exist_ok=True)
    content = registration(plan, number=number, power=power)
    if earlier:
        content["superseded"] = earlier
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


def _removed(folder: Path) -> str | None:
    """The last commit that holds or touched the folder's registration, when git has one and the folder
    does not (removed, committed or not)."""
    if not Path(folder).is_dir():
        return None
    return git(["log", "-1", "--format=%H", "--", REGISTRATION_FILE], cwd=folder) or None


# What a unit leaves in a bundle: any of them committed is a unit (the tables may be committed before
# the manifest that digests them).
UNIT_FILES = ("manifest.json", "scores.csv", "curves.csv", "report")


def registration_order(folder: Path) -> tuple[bool, str]:
    """(ok, what git says): the commit that first added the registration must come before every commit
    that touched a unit's file (UNIT_FILES: the tables as well as the manifest), on every branch git's
    full history holds: each of them must descend from the registration, so units committed before it,
    or on a side branch started before it and merged after, fail. From a clean clone: `git log` alone.
    What it cannot prove: that a unit ran after the registration was written; commits are made by their
    author, and history replayed onto a new branch in another order reads as that order."""
    folder = Path(folder).resolve()
    reg = git(["log", "--full-history", "--diff-filter=A", "--format=%H %cI", "--reverse", "--",
               REGISTRATION_FILE], cwd=folder)  # fmt: skip
    units = git(["log", "--full-history", "--format=%H %cI", "--reverse", "--", *UNIT_FILES], cwd=folder)
    if not reg:
        return False, f"{folder / REGISTRATION_FILE} is not committed: commit it before the first unit runs"
    reg_sha, reg_date = reg.splitlines()[0].split()
    if not units:
        return True, f"registered in {reg_sha[:10]} ({reg_date}); no unit committed yet"
    after = set((git(["rev-list", "--ancestry-path", f"{reg_sha}..HEAD"], cwd=folder) or "").split())
    touched = [line.split() for line in units.splitlines()]
    unit_sha, unit_date = touched[0]
    early = [(sha, date) for sha, date in touched if sha not in after]
    if early:
        sha, date = early[0]
        return False, (
            f"the registration ({reg_sha[:10]}, {reg_date}) was not committed before the units: {sha[:10]} "
            f"({date}) commits a unit's file and does not descend from it: these results are not pre-registered"
        )
    return (
        True,
        f"registered in {reg_sha[:10]} ({reg_date}), before the first unit in {unit_sha[:10]} ({unit_date})",
    )


def _versions(folder: Path) -> list[tuple[str, str | None]]:
    """(commit, the registration file's text there, None where that commit removed it), oldest first."""
    shas = (
        git(["log", "--full-history", "--format=%H", "--reverse", "--", REGISTRATION_FILE], cwd=folder) or ""
    )
    return [(sha, git(["show", f"{sha}:./{REGISTRATION_FILE}"], cwd=folder)) for sha in shas.split()]


def git_check(folder: Path) -> tuple[bool, str]:
    """(ok, what git says) of the folder's registration: committed before the first unit
    (`registration_order`), the file as committed, and every version git holds of it one of the
    registrations the file records (the one in force, or a superseded one by its digest)."""
    folder = Path(folder).resolve()
    ok, said = registration_order(folder)
    if not ok:
        return ok, said
    current = read_registration(folder)
    if current is None:
        return False, f"{folder / REGISTRATION_FILE} is missing: not pre-registered"
    known = {content_digest(current): number_of(current)}
    known |= {e["digest"]: e["number"] for e in current.get("superseded") or []}
    head = git(["show", f"HEAD:./{REGISTRATION_FILE}"], cwd=folder)
    if head is None or content_digest(parsed(head, "HEAD")) != content_digest(current):
        return (
            False,
            f"{folder / REGISTRATION_FILE} differs from its last commit: commit the supersession first",
        )
    numbers = []
    for sha, text in _versions(folder):
        if text is None:
            return False, f"the registration was removed in {sha[:10]}: not pre-registered"
        number = known.get(content_digest(parsed(text, f"{REGISTRATION_FILE} at {sha[:10]}")))
        if number is None:
            return False, (
                f"the registration was rewritten in {sha[:10]} without a supersession (its content there is "
                "none of the registrations the file records): not pre-registered"
            )
        numbers.append(number)
    if numbers != sorted(numbers):
        return (
            False,
            f"the registration's committed versions go back in number ({numbers}): not pre-registered",
        )
    superseded = len(current.get("superseded") or [])
    return True, said + (
        f"; {superseded} supersession(s) recorded, registration {known[content_digest(current)]} in force"
        if superseded
        else ""
    )


def verified(folder: Path) -> Status:
    """The folder's registration as a report sees it (reports/registration.py: files, kept registrations,
    the manifest's copy) with git's check (`git_check`) on top."""
    from reports.bundle import read_manifest

    folder = Path(folder)
    manifest = read_manifest(folder) if (folder / "manifest.json").is_file() else {}
    return status(folder, manifest, git_check)
