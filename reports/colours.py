"""Each arm's colour, the same everywhere: the MLflow UI's grouped review view and ungrouped keyframes
view (harness/tracking/review.py, the `mlflow.runColor` tag harness/tracking sets) and the report's plots
(reports/plots.py). `arm_colours` is the one function that says it. Pure functions, no MLflow import."""

from __future__ import annotations

# MLflow 3.17's UI colours a run by its `mlflow.runColor` tag and a group of runs (the review view groups
# them by an arm tag) by a checksum of the group's id, `<mode>.<key>.<value>` ("tag.arm.full"), into
# its palette; read from its bundle (mlflow/server/js/build/static/js/main.*.js: the palette module
# and the `groupId` / default-colour functions), re-check there before moving the mlflow pin. A run
# is given the colour its arm's group gets, so an arm has one colour in the grouped review view and in
# the ungrouped keyframes view. The checksum sends different arms to one colour now and then (8 arms
# among 29 colours collide two times in three): `group_tag` picks, per experiment, the tag name among
# GROUP_TAGS whose group ids give every arm a colour of its own.
PALETTE = (
    "#a6630c", "#c83243", "#b45091", "#8a63bf", "#434a93", "#137dae", "#04867d", "#308613", "#facb66",
    "#1f272d", "#445461", "#5f7281", "#8396a5", "#93320b", "#be501e", "#de7921", "#f2be88", "#115026",
    "#277c43", "#3ba65e", "#8ddda8", "#9e102c", "#c82d4c", "#e65b77", "#f792a6", "#0e538b", "#2272b4",
    "#4299e0", "#8acaff",
)  # fmt: skip
GROUP_TAGS = (
    "arm", "arm_name", "arm_label", "arm_id", "study_arm", "compared_arm", "condition", "treatment",
    "setting", "variant_arm", "arm_key", "recipe_arm",
)  # fmt: skip


def ui_color(key: str) -> str:
    """The colour MLflow's UI gives a run or group id without a colour of its own (its Fletcher
    checksum of the id's characters, modulo the palette)."""
    a = b = 0
    for ch in key:
        a = (a + ord(ch)) % 255
        b = (b + a) % 255
    return PALETTE[(a | b << 8) % len(PALETTE)]


def arm_color(arm: str, tag: str = "arm") -> str:
    """An arm's colour: that of its group in a view grouped by the tag `tag` (`group_tag`)."""
    return ui_color(f"tag.{tag}.{arm}")


def group_tag(arms: list[str]) -> str:
    """The tag (of GROUP_TAGS, first preferred) whose groups give these arms the most distinct colours."""
    return max(GROUP_TAGS, key=lambda t: (len({arm_color(a, t) for a in arms}), -GROUP_TAGS.index(t)))


def arm_colours(arms: list[str]) -> dict[str, str]:
    """arm -> its colour ('#rrggbb') among these arms (an experiment's declared arms, in any order): the
    colour MLflow's review view gives the arm's group, grouped by `group_tag(arms)`, and the colour
    harness/tracking gives each of the arm's runs. The report's plots draw every arm in it."""
    tag = group_tag(list(arms))
    return {arm: arm_color(arm, tag) for arm in arms}
