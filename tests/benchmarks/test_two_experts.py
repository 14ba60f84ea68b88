"""benchmarks/perf/two_experts.py: the clip's split between the experts (known answers at SVI's boundary),
and a liveness run of the whole path on the test-size two-expert model."""

import json

from benchmarks.perf import two_experts as te


def test_steps_split_at_svis_boundary():
    # shift 5: sigma' = 5 s / (1 + 4 s) >= 0.875 exactly when s >= 7 / 12. 50 steps: s = 1, 0.98, ..., 0.6 high.
    assert te.steps_per_expert(50, 5.0, 0.875) == [21, 29]
    # 8 steps: s = 1, 7/8, 3/4, 5/8 (sigma' 1, 0.972, 0.9375, 0.893) high, the rest low
    assert te.steps_per_expert(8, 5.0, 0.875) == [4, 4]
    assert te.steps_per_expert(8, 5.0, 0.0) == [8, 0]  # boundary 0: the high-noise expert throughout


def test_a_clip_runs_through_both_experts(tmp_path):
    out = tmp_path / "two_experts.json"
    te.main(["--preset", "tiny-a14b", "--device", "cpu", "--frames", "5", "--height", "32", "--width", "32",
             "--steps", "4", "--out", str(out)])  # fmt: skip
    result = json.loads(out.read_text())
    gen = result["generate"]
    assert gen["steps_per_expert"] == gen["steps_per_expert_expected"] == {"high-noise": 2, "low-noise": 2}
    assert [t["expert"] for t in result["train"]] == ["high-noise", "low-noise"]
    assert all(t["median_seconds"] > 0 for t in result["train"])
    assert result["planned"]["generate_weights_bytes"] > gen["weights_bytes"]  # the plan counts LoRA layers
