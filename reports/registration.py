"""What a report may say of a pre-registration: its shape, its digest, its supersessions, and whether a
bundle is labelled pre-registered at all.

A registration is one file, `results/EXP/preregistration.yaml` (harness/declare/preregistration.py
writes it and checks it against git). Every later change to it is a supersession: the file then holds
registration N, and its `superseded` list names each earlier one (number, date, digest, and the reason it
was superseded), each kept whole under `preregistrations/NNN.yaml`. The manifest's `registration` field is
a copy (`manifest_copy`) of one of them, made when a unit's results were merged.

A report labels its hypotheses pre-registered only when `status` says so: the file is there and well
formed, each superseded registration is kept with the digest its successor records, and the manifest's
copy (if any) is one of the chain's registrations. Whoever can ask git (the harness) adds its own check
(`extra`): the file committed before the first unit, and never rewritten outside the chain. A manifest
that carries a registration with no file beside it, or one the file does not record, is reported as not
pre-registered: the report reads the hypotheses from the file, never from the manifest. Each unit's
finish time, as the harness recorded it in the manifest (`finished_at`, digested with it), must come after
the first registration's date (`finish_order`): git orders commits, not work, and this orders the work as
far as the recorded times are true.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from reports.escape import PROSE_FIELDS, markup_in
from reports.frames import BundleError, split_comparison
from reports.identifiers import parsed_time

REGISTRATION_FILE = "preregistration.yaml"
HISTORY_DIR = "preregistrations"  # the superseded registrations, whole: 001.yaml, 002.yaml, ...
DIRECTIONS = ("less", "greater", "two-sided")
NOT_COPIED = ("declaration", "plan_hashes")  # what the manifest's copy leaves out (the plan checks them)


class RegistrationError(BundleError):
    """A registration file that is not one (the message names the file and the field): one line, exit 2."""


def number_of(registration: dict) -> int:
    """A registration's number: 1 for the first, which may leave it out; each superseding one adds 1."""
    return registration.get("number", 1)


def content_digest(registration: dict) -> str:
    """A registration's content as a digest: its mapping, keys sorted, dates as text (the same whether
    YAML read them as dates or as strings, or JSON carried them)."""
    blob = json.dumps(registration, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def manifest_copy(registration: dict) -> dict:
    """The copy of a registration the manifest carries: all of it but NOT_COPIED, as JSON gives it back."""
    kept = {k: v for k, v in registration.items() if k not in NOT_COPIED}
    return json.loads(json.dumps(kept, default=str))


def _whole_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def checked(registration: object, where: str) -> dict:
    """`registration` if it has the shape the harness writes, else a RegistrationError on one line naming
    `where` and the field: number a whole number from 1, hypotheses a list of mappings whose comparison
    reads "ARM - OTHER" and whose direction is one of DIRECTIONS, analysis a mapping, superseded a list
    numbered 1 .. number - 1 with a digest and a reason each."""

    def bad(what: str) -> RegistrationError:
        return RegistrationError(
            f"{where}: {what}; a registration is written by `harness plan EXP --preregister`, not by hand"
        )

    if not isinstance(registration, dict):
        raise bad(f"the top level is a {type(registration).__name__}, not a mapping")
    number = number_of(registration)
    if not _whole_number(number):
        raise bad(f"number is {number!r}, not a whole number from 1")
    hyps = registration.get("hypotheses")
    if not isinstance(hyps, list) or not all(isinstance(h, dict) for h in hyps):
        raise bad(f"hypotheses is a {type(hyps).__name__}, not a list of mappings")
    for i, h in enumerate(hyps):
        comparison = h.get("comparison")
        try:
            split_comparison(comparison if isinstance(comparison, str) else "")
        except ValueError:
            raise bad(f"hypotheses[{i}].comparison is {comparison!r}, not 'ARM - OTHER'") from None
        if not isinstance(h.get("metric"), str):
            raise bad(f"hypotheses[{i}].metric is {h.get('metric')!r}, not a metric's name")
        if h.get("direction", "two-sided") not in DIRECTIONS:
            raise bad(
                f"hypotheses[{i}].direction is {h.get('direction')!r}, not one of {', '.join(DIRECTIONS)}"
            )
        if h.get("track") is not None and not isinstance(h.get("track"), str):
            raise bad(f"hypotheses[{i}].track is {h.get('track')!r}, not a track's name")
    for key in ("analysis", "versions", "design"):
        if registration.get(key) is not None and not isinstance(registration[key], dict):
            raise bad(f"{key} is a {type(registration[key]).__name__}, not a mapping")
    power = registration.get("power") or []
    if not isinstance(power, list) or not all(isinstance(p, dict) for p in power):
        raise bad("power is not a list of mappings")
    earlier = registration.get("superseded") or []
    if not isinstance(earlier, list) or not all(isinstance(e, dict) for e in earlier):
        raise bad("superseded is not a list of mappings")
    if [e.get("number") for e in earlier] != list(range(1, number)):
        raise bad(f"superseded numbers {[e.get('number') for e in earlier]}, not 1 to {number - 1}")
    for e in earlier:
        if not isinstance(e.get("digest"), str) or reason_problem(e.get("reason")):
            raise bad(f"superseded registration {e['number']} has no digest or no reason in words")
    found = markup_in(registration, PROSE_FIELDS)
    if found:
        raise bad(f"{found[:160]}: a registration is plain text (no < > [ ] {{ }} or line breaks)")
    return registration


def reason_problem(reason: object) -> str | None:
    """Why `reason` is not a supersession's reason, or None: it must be text with a letter or a digit in
    it (not blanks, not one invisible character such as U+200B) and plain (escape.markup_in)."""
    if not isinstance(reason, str) or not any(ch.isalnum() for ch in reason):
        return f"{str(reason)[:40]!r} says nothing: give the reason in words"
    found = markup_in(reason, at="the reason")
    return f"{found}: write it as plain text (no < > [ ] {{ }} or line breaks)" if found else None


MAX_CHARS = 1 << 20  # a registration is a few kB


class _PlainLoader(yaml.SafeLoader):
    """YAML's safe loader without aliases (`*name`), so a small file cannot expand into a large one."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError(
                "an alias (*name): a registration repeats its values, it does not point to them"
            )
        return super().compose_node(parent, index)


def parsed(text: str, where: str) -> dict:
    """A registration from its YAML text (bounded: MAX_CHARS, no aliases), checked."""
    if len(text) > MAX_CHARS:
        raise RegistrationError(
            f"{where}: {len(text)} characters, more than a registration holds ({MAX_CHARS})"
        )
    try:
        data = yaml.load(text, Loader=_PlainLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as e:
        raise RegistrationError(f"{where}: not YAML ({' '.join(str(e).split())[:200]})") from None
    return checked(data, where)


def read_file(path: Path) -> dict | None:
    """The registration in the file `path`, checked (`checked`), or None when there is no such file."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RegistrationError(f"{path}: byte {e.start} is not UTF-8 text; save it as UTF-8") from None
    return parsed(text, str(path))


def read_registration(folder: Path) -> dict | None:
    """The registration in force in a bundle folder (its REGISTRATION_FILE), checked, or None."""
    return read_file(Path(folder) / REGISTRATION_FILE)


def history_path(folder: Path, number: int) -> Path:
    return Path(folder) / HISTORY_DIR / f"{number:03d}.yaml"


def chain(folder: Path, registration: dict) -> tuple[list[dict], list[str]]:
    """(the superseded registrations `registration` records, read from HISTORY_DIR, oldest first; what is
    wrong with them: a file missing, or one whose content is not the digest recorded)."""
    earlier, problems = [], []
    for entry in registration.get("superseded") or []:
        path = history_path(folder, entry["number"])
        old = read_file(path)
        if old is None:
            problems.append(f"superseded registration {entry['number']} is not kept ({path} is missing)")
        elif content_digest(old) != entry["digest"] or number_of(old) != entry["number"]:
            problems.append(f"{path} is not the registration {entry['number']} that was superseded (digest)")
        else:
            earlier.append(old)
    return earlier, problems


def finish_order(manifest: dict, registration: dict) -> str | None:
    """What is wrong with the order of the work, or None: a unit of the manifest whose recorded finish
    time (`finished_at`) precedes `registration`'s `registered_at` (the first registration's: the one
    that fixed the hypotheses before any unit ran). Units without a recorded time (bundles exported
    before it was kept) are not checked."""
    registered = parsed_time(str(registration.get("registered_at")))
    if registered is None:
        return None
    early = [
        u for u in manifest.get("units") or []
        if (t := parsed_time(u.get("finished_at"))) is not None and t < registered
    ]  # fmt: skip
    if not early:
        return None
    unit = min(early, key=lambda u: parsed_time(u["finished_at"]))
    return (
        f"{len(early)} unit(s) finished before the registration of {registration.get('registered_at')}: "
        f"{unit['arm']} seed {unit.get('seed')} at {unit['finished_at']}"
    )


@dataclass(frozen=True)
class Status:
    """What a bundle's report may say of its registration: `registration` the one in force (None: none to
    show), `registered` whether its hypotheses are labelled pre-registered, `why` the reason when a
    registration exists but is not (shown on the page instead)."""

    registration: dict | None
    registered: bool
    why: str = ""
    earlier: list[dict] = field(default_factory=list)


Check = Callable[[Path], "tuple[bool, str]"]  # (ok, what it found): a check that asks git


def status(folder: Path, manifest: dict, extra: Check | None = None) -> Status:
    """Whether the bundle in `folder` (its `manifest`) is pre-registered (module doc). A registration file
    that is not one is a RegistrationError; anything else that breaks the promise is a Status that is not
    `registered`, saying why."""
    folder = Path(folder)
    copy = manifest.get("registration")
    current = read_registration(folder)
    if current is None:
        if copy:
            return Status(None, False, f"the manifest carries a registration, but {folder.name}/{REGISTRATION_FILE} "
                          "is not there: not pre-registered")  # fmt: skip
        return Status(None, False)
    earlier, problems = chain(folder, current)
    if copy is not None:
        known = {content_digest(manifest_copy(r)) for r in [*earlier, current]}
        if not isinstance(copy, dict) or content_digest(copy) not in known:
            problems.append(
                f"the manifest's copy of the registration is none of the registrations {REGISTRATION_FILE} "
                "records (digest)"
            )
    first = earlier[0] if earlier else current
    late = finish_order(manifest, first)
    if late:
        problems.append(late)
    said = ""
    if not problems and extra is not None:
        ok, said = extra(folder)
        if not ok:
            return Status(current, False, said, earlier)
    if problems:
        return Status(current, False, "; ".join(problems) + ": not pre-registered", earlier)
    return Status(current, True, said, earlier)
