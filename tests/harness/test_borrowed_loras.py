"""An arm with `lora_from`: a two-expert model generating with both experts' LoRAs, each trained in its
own unit at the same seed (SVI 2.0 Pro ships a LoRA per expert, trained apart, #79)."""

from __future__ import annotations

import json
import re

import pytest
import torch

from cli import main
from harness.declare.experiment import load_experiment
from harness.declare.plan import make_plan, plan_inputs, unit_hash
from svi.config import ConfigError

PAIR = """
name: pair
config:
  model: {preset: tiny-a14b}
  lora: {rank: 4, alpha: 4}
  memory: {capacity: 4, budget_bytes: 16777216, warmup_steps: 1}
  train: {steps: 2, lr: 0.01, checkpoint_every: 2}
  generate: {steps: 2, chaining: latent, motion_latents: 1}
arms:
  base: {train: false, role: baseline}
  high: {overrides: {train.expert: high}}
  low: {overrides: {train.expert: low}}
  both: {train: false, lora_from: {high: high, low: low}}
seeds: [0]
suites: [{suite: consistent, length: 1s, limit: 1}]
metrics: subject_consistency
metrics_backend: toy  # the committed toy networks: a random-init ViT-B/16 costs tens of seconds
"""


def write(home, text: str, name: str = "pair.yaml"):
    path = home / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("both: {train: false, lora_from", "both: {lora_from"), "set train: false"),
        (("{high: high, low: low}", "{high: high, low: base}"), "'base', which is not a trained arm"),
        (("{high: high, low: low}", "{high: low, low: high}"), "which trains the low expert"),
        (("tiny-a14b", "tiny"), "for a two-expert model"),
    ],
)
def test_lora_from_is_checked_before_any_work(home, change, message):
    text = PAIR.replace(*change)
    if change[1] == "tiny":  # a one-transformer model: no train.expert either
        text = text.replace("{overrides: {train.expert: high}}", "{}").replace(
            "{overrides: {train.expert: low}}", "{}"
        )
    with pytest.raises(ConfigError, match=message):
        load_experiment(str(write(home, text)))


def test_the_borrowing_unit_is_replanned_when_a_lent_training_changes(home):
    def both_hash(text: str) -> str:
        exp, path = load_experiment(str(write(home, text)))
        plan = make_plan(exp, path)
        (unit,) = [u for u in plan.units if u.arm == "both"]
        return unit_hash(plan_inputs(plan, unit))

    before = both_hash(PAIR)
    assert both_hash(PAIR.replace("train.expert: low}", "train.expert: low, erft.p_img: 0.0}")) != before
    assert both_hash(PAIR.replace("steps: 2, lr", "steps: 3, lr")) != before  # the shared recipe too
    assert both_hash(PAIR.replace("name: pair", "name: pair\ndescription: another")) == before


def test_a_borrowing_unit_counts_as_trained_weights(home):
    """Its videos come from trained LoRAs, one per seed, so the statistics treat its seeds as trained
    models (the `trained` tag), though it trains nothing itself."""
    exp, path = load_experiment(str(write(home, PAIR)))
    units = {u.arm: u for u in make_plan(exp, path).units}
    assert not units["both"].train and units["both"].trained_weights
    assert units["high"].trained_weights and units["high"].lora_from == {}


def test_an_empty_lora_from_leaves_the_recorded_declaration_as_it_was():
    exp, _ = load_experiment("ablation_errors")
    assert all("lora_from" not in arm for arm in exp.model_dump(mode="json")["arms"].values())


@pytest.mark.slow
def test_both_experts_generate_with_their_own_units_loras(home):
    path = write(home, PAIR)
    # the borrowing arm alone: it trains the two units it borrows from first
    assert main(["run", str(path), "--arm", "both"]) == 0
    runs = home / "ws" / "runs" / "pair"
    loras = {e: runs / e / "seed0" / "train" / "lora.safetensors" for e in ("high", "low")}
    assert all(p.is_file() for p in loras.values())
    sidecar = next((runs / "both" / "seed0" / "videos").rglob("*.mp4")).with_suffix(".json")
    assert json.loads(sidecar.read_text())["metadata"]["model"]["lora"] == {
        e: str(p) for e, p in loras.items()
    }
    assert main(["run", str(path)]) == 0  # the rest: the lent trainings are done, not redone

    from harness.run.pipeline import arm_generator

    exp, source = load_experiment(str(path))
    units = {u.arm: u for u in make_plan(exp, source).units}

    def experts(arm: str, lora) -> list[dict[str, torch.Tensor]]:
        gen = arm_generator(units[arm].cfg, lora)()
        return [tf.state_dict() for tf in gen.bb.experts()]

    base = experts("base", None)
    both = experts("both", loras)
    high = experts("high", loras["high"])
    low = experts("low", loras["low"])

    def same(a, b) -> bool:
        return all(torch.equal(a[k], b[k]) for k in a)

    # the high-noise expert carries the high unit's LoRA, the low-noise expert the low unit's
    assert same(both[0], high[0]) and same(both[1], low[1])
    assert not same(both[0], base[0]) and not same(both[1], base[1])
    assert same(high[1], base[1]) and same(low[0], base[0])  # a single-expert unit leaves the other bare


def test_the_plan_names_the_lent_loras_and_prices_each_expert(home, capsys):
    assert main(["plan", "pro_experts_toy"]) == 0
    out = capsys.readouterr().out
    assert "both           seed 0  LoRAs of high_only (high), low_only (low)" in out
    assert "2 experts (high-noise, low-noise" in out
    assert "high_only seed 0: train the high-noise expert" in out
    assert re.search(r"both seed 0: generate \d+ clips", out) and "both seed 0: train" not in out
