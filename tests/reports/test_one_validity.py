"""One validity rule: the gates page's G2 (reports/gates.py) and the results pages' verdicts
(reports/verdicts.py, committed in results/toy_verdicts.csv) call the same metrics valid on every
committed bundle the gates page covers; a copy of another rule in the gates is caught."""

import re
from pathlib import Path

from reports import gates as G
from reports import verdicts as V
from reports.stats import crossed_mean
from scoring import references as R
from scoring import specs

ROOT = Path(__file__).resolve().parents[2]
GATES = ROOT / "docs" / "results" / G.GATES_PAGE


def g2_valid(page: str) -> dict[tuple[int, str, str], set[str]]:
    """(toy world, bundle, track) -> the metrics a gates page's G2 row calls valid (empty: none is);
    G2 rows not measured are left out."""
    out, heading = {}, None
    for line in page.splitlines():
        found = re.match(r"## (\S+) \(toy world (\d+)\)$", line)
        if found:
            heading = (int(found.group(2)), found.group(1))
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if heading and len(cells) == 4 and cells[0] == "G2" and cells[2] != "not measured":
            listed = re.search(r"\(valid: ([^)]*)\)", cells[3])
            out[(*heading, cells[1])] = set(listed.group(1).split(", ")) if listed else set()
    return out


def stated_valid(table, world: int, bundle: str, track: str) -> set[str]:
    """The metrics the bundle's results page calls valid on `track` (its rows of toy_verdicts.csv; a
    record of world N is named <bundle>_world<N> there), those a gate can take as its primary: read
    per video, so not FVD's set value."""
    rows = table[
        (table["world"] == world) & table["bundle"].isin({bundle, f"{bundle}_world{world}"})
        & (table["track"] == track) & (table["validity"] == V.VALID)
    ]  # fmt: skip
    return {m for m in rows["metric"] if not specs.SPECS[m].needs_reference_set}


def disagreements(page: str, table) -> list[str]:
    """Where the gates page's G2 and the results pages' verdicts name different valid metrics."""
    out = []
    for (world, bundle, track), valid in sorted(g2_valid(page).items()):
        stated = stated_valid(table, world, bundle, track)
        if valid != stated:
            out.append(
                f"{bundle} (world {world}), {track}: gates {sorted(valid)}, results page {sorted(stated)}"
            )
    return out


def test_the_gates_page_and_the_results_pages_agree_on_every_bundle():
    page = GATES.read_text(encoding="utf-8")
    covered = g2_valid(page)
    assert {(w, b) for w, b, _ in covered} >= {
        (3, "ablation_eimg"),
        (3, "toy_erft_control"),
        (2, "ablation_eimg"),
    }
    assert disagreements(page, V.read_verdicts()) == []


def _old_rule(scores, track, metrics, means=None):
    """The gates' former rule: the truth (else the truth_vae ceiling) against each degenerate reference
    with crossed-design intervals, False on a missing bound, anchoring ignored."""
    out = []
    for metric in (m for m in metrics if specs.has_direction(m)):
        real = next(
            (m for m in (G.matrix(scores, a, track, metric) for a in (R.TRUTH, R.TRUTH_VAE)) if m.size), None
        )
        refs = [G.matrix(scores, kind, track, metric) for kind in R.BUILT]
        if real is None or not all(r.size for r in refs):
            continue
        good = crossed_mean(real)
        bad = [crossed_mean(r) for r in refs]
        if all(specs.clear_better(metric, (good.low, good.high), (b.low, b.high)) for b in bad):
            out.append(metric)
    return out


def test_a_planted_copy_of_another_rule_is_caught(monkeypatch):
    """With the former rule in the gates, world 3's ablation_eimg finds PSNR valid on G2 (its truth_vae
    ceiling beats the held frame), where its results page leaves PSNR, anchored to the truth, of unknown
    validity (the bundle holds no other true future)."""
    monkeypatch.setattr(G, "valid_metrics", _old_rule)
    page = G.gates_page(G.gate_sections([ROOT / "results" / "ablation_eimg"]), 3)
    found = disagreements(page, V.read_verdicts())
    assert any(line.startswith("ablation_eimg (world 3)") for line in found), found
    assert all("psnr" in line for line in found)
