"""The glossary: the words the results pages and guides use in a sense of their own, each defined once.

`TERMS` is the one source: `harness pages` writes the site's glossary page from it (`glossary_page`,
docs/glossary.md, checked by `harness pages --check` like every generated page), and links the first use
of each term on every generated results page to its entry (`link_terms`). The hand-written guides link
their first uses by hand; a test checks them with the same function (tests/reports/test_glossary.py).

A term's `forms` are the patterns that count as a use of it (case ignored, whole words, a line break
where a space is). Where a pattern has a group named `t`, only that group is linked: "a record" links
"record", not the article. A use is not linked inside a code span or block, a heading, a link's text
or target, an image's alt text, an HTML line or tag, a comment or a placeholder. A term whose page
already links its entry before its first unlinked use is left as it is, so linking twice changes
nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from reports.gates import FIRST_SECONDS, G1_MARGIN_DB, G6_LIMIT_MINUTES, GATES_PAGE
from reports.stats import ALPHA, LEVEL, POWER
from reports.verdicts import INVALID, NO_ARM, ONE_SIDED, REWARDS_MEAN, UNDECIDED, UNKNOWN, VALID
from scoring.references import FROZEN, LOOP, PAN, PINGPONG, TRUTH, TRUTH_ALT, TRUTH_VAE

PAGE = Path("docs") / "glossary.md"
LEVEL_PC, POWER_PC = f"{LEVEL:.0%}", f"{POWER:.0%}"


def _spaced(words: str) -> str:
    """A pattern of `words` with any run of spaces or a line break between them."""
    return r"\s+".join(map(re.escape, words.split()))


@dataclass(frozen=True)
class Term:
    title: str  # the entry's heading on the glossary page
    anchor: str  # its id there: links go to glossary.md#<anchor>
    group: str  # the section of the page it sits in
    forms: tuple[str, ...]  # regular expressions of a use (module doc)
    definition: str  # Markdown, links relative to docs/


REFERENCES = "What an arm is scored against"
VERDICTS = "Can the metric judge? The validity verdicts"
STATISTICS = "Statistics and declarations"
TESTBED = "The method and the testbed"

TERMS: tuple[Term, ...] = (
    Term(
        "Degenerate reference, trivial video", "degenerate-reference", REFERENCES,
        (r"degenerate\s+references?", r"trivial\s+(?:videos?|references?)"),
        f"A video made with no model from what the sample itself starts from, scored beside the arms with "
        f"the same metrics and windows: `{FROZEN}` (the sample's input image held for the whole video), "
        f"`{LOOP}` (the baseline's first clip of the sample, repeated), `{PINGPONG}` (that clip played "
        f"forward, then backward, repeated) and, where an experiment asks for it, `{PAN}` (the first frame "
        "panned at a drawn heading and speed: a trivial video that moves, several draws a sample). They "
        "cost no training and no generation. A metric that ranks one of them above reality cannot judge "
        "([validity](#validity)); an arm that does not beat the best of them has not beaten "
        "[standing still](#standing-still). `scoring/references.py`.",
    ),
    Term(
        "Truth", TRUTH, REFERENCES, (rf"{TRUTH}(?!\s+(?:clip\s+)?distance)", r"true\s+continuations?"),
        "The benchmark sample's true continuation: read from the benchmark where it has ground truth, and "
        "in the toy world rendered from the sample's `world.json` for as long as the video lasts. Fidelity "
        "metrics (PSNR, SSIM, truth distance, FVD) are measured against it: they are *anchored* to it, and "
        "the truth scores best on them by construction. On a metric that scores a video alone, the truth is "
        "the reality a valid metric must rank above every trivial video.",
    ),
    Term(
        f"{TRUTH_VAE}: the VAE ceiling", "truth-vae", REFERENCES, (TRUTH_VAE, r"VAE\s+ceiling"),
        "The truth taken through the arm's VAE clip by clip, as generation chains its clips: the best any "
        "model with that VAE can score on fidelity to the truth. A ceiling, never a degenerate reference: "
        "the reports show each arm's [margin](#margin) under it. Built where an experiment's `references:` "
        "asks for it.",
    ),
    Term(
        f"{TRUTH_ALT}: another true future", "truth-alt", REFERENCES,
        (TRUTH_ALT, r"(?:an)?other\s+true\s+futures?"),
        "The same first frame and prompt, with what the prompt leaves open drawn again (in the toy world the "
        "subjects' motion and the landscape out of view; `toyworld/futures.py`), several draws a sample: "
        "what a perfect sampler makes. On a metric anchored to the truth, where the truth scores best by "
        "construction, another true future stands for reality in the [validity verdict](#validity). Built "
        "where an experiment's `references:` asks for it and the world can draw it (the toy world).",
    ),
    Term(
        "Margin, negative margin", "margin", REFERENCES, (r"(?:negative\s+)?margins?",),
        f"An arm's mean minus the best degenerate reference's (the best of `{FROZEN}`, `{LOOP}` and "
        f"`{PINGPONG}`), in the metric's better direction and display units: positive when the arm beats "
        "every one of them; a **negative margin** means a video made with no model scores better. Beside "
        f"the `{TRUTH_VAE}` ceiling the margin is the arm's distance under it, negative when the arm scores "
        "below the ceiling. `reports/margins.py`.",
    ),
    Term(
        "Standing still", "standing-still", REFERENCES, (r"standing\s+still",),
        "The second verdict per metric and track: does any arm beat standing still? Asked on a valid metric "
        "(or one whose validity is unknown here): the arms whose mean beats the best degenerate "
        f"reference's, intervals clear. If none does, the report says *{NO_ARM}*: a verdict on the "
        "models, not on the metric. `reports/verdicts.py`.",
    ),
    Term(
        "Validity verdict", "validity", VERDICTS,
        (r"validity(?:\s+verdicts?)?", rf"(?P<t>{VALID})(?=\s+\(|\s+on\s+this\s+suite)"),
        "The first verdict per metric and track (`reports/verdicts.py`): is the metric valid on this suite? "
        "Reality against every trivial video in the metric's direction, each with its "
        f"{LEVEL_PC} interval; reality is the truth, or, on a metric anchored to the truth, another true "
        f"future. *{VALID}*: reality beats every trivial video, intervals clear (the better interval's lower "
        "end, in the metric's direction, above the other's upper end; a mean without an interval stands for "
        f"both ends). The others are below; *{UNKNOWN}*: the track has no truth, or the metric is anchored "
        "to the truth and no other true future was scored, and the toy world's committed verdict on the "
        "metric is given as the prior (`results/toy_verdicts.csv`).",
    ),
    Term(
        f"{REWARDS_MEAN.capitalize()}", "rewards-the-mean", VERDICTS, (r"rewards\s+the\s+mean",),
        "A validity verdict on a metric anchored to the truth: a trivial video beats another true future, "
        "intervals clear. A perfect sampler would lose to a video that does not commit (a held frame sits "
        "near the mean of the futures), so the metric cannot judge a sampler. `harness plan` refuses it as "
        "a primary.",
    ),
    Term(
        f"{INVALID.capitalize()}", "invalid", VERDICTS,
        (_spaced(INVALID), r"calls\s+(?:\*\*)?(?P<t>invalid)", r"(?P<t>invalid)\s+primary"),
        "A validity verdict: the best degenerate reference beats the truth, intervals clear, by more than "
        "the spread of the arms' means (the largest minus the smallest; 0 with one arm): the metric prefers "
        "something other than reality. `harness plan` refuses it as a primary.",
    ),
    Term(
        f"{ONE_SIDED.capitalize()}", "one-sided", VERDICTS,
        (r"one-sided(?!\s+(?:p\b|t\b|tests?\b|where\b|alternative))",),
        "A validity verdict: neither valid nor invalid, and the truth and the best degenerate reference both "
        "beat the best arm by more than the spread of the arms' means: the metric judges drift and is blind "
        "to stillness. It may carry an answer only beside [guards](#guards); `harness plan` refuses a "
        "one-sided primary without them. (Not the one-sided test of a pre-registered hypothesis.)",
    ),
    Term(
        f"{UNDECIDED.capitalize()}", "undecided", VERDICTS, (UNDECIDED,),
        "A validity verdict: none of the others; the intervals do not separate reality from the trivial "
        "videos.",
    ),
    Term(
        "Guards", "guards", STATISTICS, (r"guards",),
        "Scores a trivial video cannot win, declared beside a one-sided primary (an experiment's `guards:`; "
        "the metric group `guards`): `non_repetition`, each frame's distance to its closest match at least "
        "5 s before it (a held frame, a short loop or a ping-pong scores 0), and `truth_clip_distance`, the "
        "distance of each 16-frame clip to the truth's clip at the same time in FVD's features, which see "
        "motion. `harness plan` refuses a guard the toy world calls invalid or one-sided. "
        "[Scoring](guides/scoring.md#guards-scores-that-a-trivial-video-cannot-win).",
    ),
    Term(
        "Energy score: accuracy, spread, draws", "energy-score", STATISTICS, (r"energy\s+score",),
        "The score of a sampler's draws of one sample against its one truth (Gneiting and Raftery 2007; "
        "lower is better): **accuracy**, the mean distance of a draw from the truth, minus **spread**, half "
        "the mean distance between two different draws (the fair estimate from K ≥ 2 draws). It is proper: "
        "in expectation no forecast beats the true distribution of futures, so no trivial video beats a "
        "perfect sampler on it; a video with no draws beside it (frozen, loop) has no spread and scores its "
        "distance. **Draws**: with `draws: K` declared, each trained model generates every sample K times, "
        "the same conditioning with other noise; draw 0 is the video every other metric scores. "
        "`scoring/energy.py`; [Scoring](guides/scoring.md#the-energy-score-a-sampler-judged-as-a-sampler).",
    ),
    Term(
        "Seeds and samples: \"1 seed\"", "seeds", STATISTICS, (r"(?<!landscape )seeds?",),
        "A sample is one benchmark item (a first frame and its prompts) that every arm makes a video of; a "
        "seed is one training of an arm, with its noise streams: a model of its own. Every seed's model "
        "makes every sample, so n = samples × seeds (8×1: 8 samples, 1 seed). With one seed the variance "
        "from one training to another cannot be estimated: the interval leaves it out, the row says "
        "*(1 seed)*, and the difference is never marked significant unless neither arm was trained.",
    ),
    Term(
        "Crossed design", "crossed-design", STATISTICS, (r"crossed[\s-]+design",),
        "Samples and seeds are crossed random factors: one model per (arm, seed) generates every sample, so "
        "seed 1 is the same trained model on sample 3 and on sample 5. The reports' intervals come from the "
        "variance components of that design (sample, seed, the rest: a two-way analysis of variance with "
        "Satterthwaite's degrees of freedom), not from treating every video as independent. "
        "`reports/stats.py`; [Reports and intervals](guides/experiments.md#reports-and-intervals).",
    ),
    Term(
        "Holm (correction)", "holm", STATISTICS, (r"Holm",),
        "Holm-Bonferroni's step-down adjustment of the p-values of one family of tests, so that the chance "
        f"of any false \"significant\" in the family stays at most {ALPHA:.0%}. A report's family is "
        "every difference it tests; with a declared primary, the primary's differences are a family of "
        "their own, and a pre-registration's hypotheses another. `*` marks a difference whose Holm-adjusted "
        f"p is below {ALPHA:g} (and whose interval holds the training variance).",
    ),
    Term(
        "MDD: minimum detectable difference", "mdd", STATISTICS,
        (r"MDD", r"minimum\s+detectable\s+differences?"),
        f"The true difference the design's two-sided test at {ALPHA:.0%} would find with "
        f"{POWER_PC} power, from its n and its measured variance components. A difference smaller than it "
        "that is not significant means \"not detected at this n\", not \"no effect\"; the forest plots "
        "draw it as a grey band. `reports/stats.py` `mdd`.",
    ),
    Term(
        "Primary metric", "primary-metric", STATISTICS, (r"primary(?:\s+metrics?)?",),
        "The one metric an experiment declares to answer its question (`primary:`, or a hypothesis marked "
        "`primary: true`): its forest plot, its two verdicts and its headline table open the results page, "
        "and its differences form a Holm family of their own. `harness plan` refuses a primary the toy "
        "world's committed verdicts call invalid or rewarding the mean, and a one-sided one without guards.",
    ),
    Term(
        "Pre-registration", "pre-registration", STATISTICS, (r"pre-regist(?:ration|ered|er)",),
        "An experiment's hypotheses and design fixed before the data: `harness plan EXP --preregister` "
        "writes `results/EXP/preregistration.yaml`, committed before the first unit runs. Runs off the "
        "registered plan are refused, and the report opens with the registered answer, its hypotheses "
        "tested one-sided as a Holm family of their own. "
        "[Experiments](guides/experiments.md#pre-registration-answers-fixed-before-the-data).",
    ),
    Term(
        "E_img, E_vid, E_noi: error injection", "error-injection", TESTBED,
        (r"E_img", r"E_vid", r"E_noi", r"error\s+injection"),
        "ERFT's three errors, drawn from the replay memory of the model's own past errors and added to a "
        "training step's inputs: E_img to the VAE latents of the image condition (the frames a clip starts "
        "from), E_vid to the clean video latents, E_noi to the noise. The target keeps the clean video, so "
        "the model learns to correct errors like those it makes when it generates from its own output. Each "
        "fires with its own probability (`erft.p_img`, `erft.p_vid`, `erft.p_noi`); the `no_eimg` arm has "
        "no E_img. [Method](method.md#3-erft-one-training-step).",
    ),
    Term(
        "Toy world", "toy-world", TESTBED, (r"toy[\s-]+world",),
        "A synthetic world small enough to train, generate, score and compare the whole method on a CPU, "
        "with a true continuation of any length: shapes over a background (since world 3 under a camera "
        "that travels over an endless landscape), motion in closed form, prompts templated from the scene. "
        "The `toy` preset's base model is pretrained on it; each results page names the world its bundle "
        "was measured in, and an earlier world's pages are kept as [records](#record). "
        "[The toy world](guides/toyworld.md).",
    ),
    Term(
        "Gates", "gates", TESTBED, (r"(?P<t>gates?)\s+G\d", r"(?:the|its|world\s+3's)\s+(?P<t>gates)"),
        "Toy world 3's gates G1-G6: can the testbed tell a good model from a picture held still? G1: the "
        f"VAE ceiling at least {G1_MARGIN_DB:g} dB of PSNR above the held frame; G2: a valid primary; G3: "
        f"the base's energy score beats every trivial video over the first {FIRST_SECONDS:g} s; G4: drift "
        "that is the model's; G5: the positive control's planted drift detected; G6: `make demo` within "
        f"{G6_LIMIT_MINUTES:g} minutes. Until a base meets them, the toy answers test the harness, not SVI. "
        f"`reports/gates.py`; each gate's state: [Toy world 3's gates](results/{GATES_PAGE}).",
    ),
    Term(
        "Record", "record", TESTBED,
        (r"(?:\ba|\bthe|\bits|\bthis|\bthat|\bworld's|\bas)\s+(?P<t>record)\b(?!\s+(?:it|the|of)\b)",
         r"(?P<t>records):"),
        "(1) A run's own output, kept as a file under `docs/records/` (`python -m benchmarks.record NAME -- "
        "COMMAND`: the command, its commit, the machine, the wall time and the output's last lines), which "
        "the guides include instead of typing its figures. (2) A results page of an earlier toy world, kept "
        "as what that world showed once the experiment ran again in a later one.",
    ),
)  # fmt: skip

GROUPS = (REFERENCES, VERDICTS, STATISTICS, TESTBED)
BY_ANCHOR = {t.anchor: t for t in TERMS}
_FORMS = {t.anchor: [re.compile(rf"\b(?:{f})(?!\w)", re.IGNORECASE) for f in t.forms] for t in TERMS}

# What is never linked: code blocks and spans, comments, placeholders, headings, HTML and admonition lines,
# links and images (their text and target), HTML tags and autolinks, bare URLs, attribute lists.
_LINK = r"!?\[(?:\\.|[^\[\]\\]|\[(?:\\.|[^\[\]\\])*\])*\](?:\([^)\s]*(?:\s+\"[^\"]*\")?\)|\[[^\]]*\])"
_SKIP = re.compile(
    "|".join(
        [
            r"^[ \t]*(?P<fence>`{3,}|~{3,})[^\n]*\n(?:.*?\n)??[ \t]*(?P=fence)[ \t]*$",  # fenced block
            r"^[ \t]*(?:`{3,}|~{3,}).*\Z",  # a fence left open: to the end
            r"<!--.*?-->",
            r"\{\{[^\n]*?\}\}",
            r"^[ \t]*#{1,6}[ \t][^\n]*$",
            r"^[ \t]*(?:<|!!!|\?\?\?)[^\n]*$",
            r"(?P<ticks>`+)(?:(?!\n[ \t]*\n).)+?(?<!`)(?P=ticks)(?!`)",
            _LINK,
            r"<[^>\n]+>",
            r"https?://[^\s)>]+",
            r"\{:?[ \t]*[#.][^}\n]*\}",
        ]
    ),
    re.MULTILINE | re.DOTALL,
)


def _linkable(text: str) -> tuple[list[tuple[int, int]], list[tuple[int, str]]]:
    """(the spans of `text` where a use may be linked, [(where a link starts, its target)])."""
    spans, links, at = [], [], 0
    for m in _SKIP.finditer(text):
        if m.start() > at:
            spans.append((at, m.start()))
        if m[0].startswith(("[", "![")):
            links.append((m.start(), m[0]))
        at = max(at, m.end())
    if at < len(text):
        spans.append((at, len(text)))
    return spans, links


def _first_use(patterns: list[re.Pattern], text: str, spans, taken) -> tuple[int, int] | None:
    """(start, end) of the first use, by any of `patterns`, in a linkable span that overlaps no use
    already linked (`taken`)."""
    for start, end in spans:
        uses = [
            m.span("t") if "t" in p.groupindex else m.span()
            for p in patterns
            for m in p.finditer(text, start, end)
        ]
        free = [(s, e) for s, e in uses if not any(s < b and a < e for a, b in taken)]
        if free:
            return min(free)
    return None


def unlinked_uses(text: str, glossary: str = "glossary.md") -> list[tuple[int, int, str]]:
    """(start, end, anchor) of each term's first use in `text` that is not linked and should be: the page
    does not link the term's entry before it (module doc). `glossary` is the glossary page's path from
    the page. In the order of the terms."""
    spans, links = _linkable(text)
    found: list[tuple[int, int, str]] = []
    for term in TERMS:
        use = _first_use(_FORMS[term.anchor], text, spans, [(s, e) for s, e, _ in found])
        if use is None:
            continue
        target = f"{glossary}#{term.anchor})"
        if any(where < use[0] and link.endswith(target) for where, link in links):
            continue
        found.append((*use, term.anchor))
    return found


def link_terms(text: str, glossary: str = "glossary.md") -> str:
    """`text` (Markdown) with the first use of each term linked to its entry, `[use](glossary#anchor)`
    (`unlinked_uses`)."""
    for start, end, anchor in sorted(unlinked_uses(text, glossary), reverse=True):
        text = f"{text[:start]}[{text[start:end]}]({glossary}#{anchor}){text[end:]}"
    return text


def glossary_page() -> str:
    """docs/glossary.md: every term under its group, with its definition."""
    lines = [
        "# Glossary",
        "",
        "<!-- Generated by `harness pages` from reports/glossary.py (do not edit: edit TERMS there, then run "
        "`harness pages`). -->",
        "",
        "The words the results pages and guides use in a sense of their own, each defined once. Each results "
        "page links the first use of a term to its entry here, and so do the guides.",
    ]
    for group in GROUPS:
        lines += ["", f"## {group}"]
        for term in (t for t in TERMS if t.group == group):
            lines += ["", f"### {term.title} {{#{term.anchor}}}", "", term.definition]
    return "\n".join(lines) + "\n"
