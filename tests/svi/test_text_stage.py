"""The toy pretraining's text stage (svi/training/text_stage.py): its pieces against known answers, and a
short stage on the committed toy umT5 that learns, resumes bit for bit, and is what the DiT then reads."""

from __future__ import annotations

import json

import pytest
import torch

from svi.model.backbone import TOY_WEIGHTS, load_wan_i2v
from svi.training import pretrain, text_stage
from svi.training.text_stage import (
    STATE_FILE,
    TextStage,
    bag_of_words,
    exact_share,
    load_text_state,
    masked_mean,
    split_prompts,
    train_text,
    vocabulary,
    words,
)

PROMPTS = [
    "A red square bounces around. The camera moves slowly left.",
    "A blue circle bounces around. The camera moves steadily down and to the right.",
    "A red circle bounces around. The camera moves slowly up.",
    "A talking head in front of a grey wall.",
]


def test_words_vocabulary_and_bag_of_words_known_answers():
    assert words("The camera moves slowly left.") == ["the", "camera", "moves", "slowly", "left"]
    vocab = vocabulary(PROMPTS[:2])
    assert vocab == sorted(set(vocab)) and "left" in vocab and "right" in vocab and "talking" not in vocab
    bag = bag_of_words(["moves left, left.", "talking wall"], vocab)  # [2, V]
    assert bag.shape == (2, len(vocab))
    assert bag[0].sum() == 2 and bag[0, vocab.index("left")] == 1 and bag[0, vocab.index("moves")] == 1
    assert bag[1].sum() == 0  # words outside the vocabulary are left out


def test_masked_mean_known_answer_and_empty_rows():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[5.0, 6.0], [0.0, 0.0], [0.0, 0.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    assert torch.equal(masked_mean(hidden, mask), torch.tensor([[2.0, 3.0], [5.0, 6.0]]))
    assert torch.equal(masked_mean(hidden, torch.zeros(2, 3)), torch.zeros(2, 2))  # no tokens: zeros


def test_split_prompts_is_seeded_disjoint_and_whole():
    prompts = [f"prompt {i}" for i in range(20)] * 2  # repeats count once
    train, held = split_prompts(prompts, 0.25, seed=3)
    assert len(held) == 5 and len(train) == 15 and not set(train) & set(held)
    assert set(train) | set(held) == set(prompts)
    assert split_prompts(prompts, 0.25, seed=3) == (train, held)
    assert split_prompts(prompts, 0.25, seed=4) != (train, held)


def test_exact_share_known_answers():
    logits = torch.tensor([[1.0, -1.0, 2.0], [1.0, 1.0, -2.0]])
    target = torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    assert exact_share(logits, target) == 0.5  # the second row gets word 1 wrong
    assert exact_share(logits, target, [0, 2]) == 1.0  # but not words 0 and 2


def test_text_hidden_does_not_depend_on_the_padding():
    """The stage trains on prompts padded to the longest one; generation pads them to the encoder's
    limit. The padding is masked out of umT5's attention, so a prompt's states agree; the sums over the
    keys run over different lengths (zeros added where masked), hence a float tolerance, not equality."""
    torch.set_num_threads(1)
    bb = load_wan_i2v(TOY_WEIGHTS, torch.float32, preset="toy")
    with torch.no_grad():
        short, mask = bb.text_hidden(PROMPTS, longest=True)  # [4, L, 64]
        full, full_mask = bb.text_hidden(PROMPTS)  # [4, 512, 64]
    n = short.shape[1]
    assert full.shape[1] == bb.text_limit and n < bb.text_limit
    assert torch.equal(full_mask[:, :n], mask) and not full_mask[:, n:].any()
    torch.testing.assert_close(full[:, :n], short, rtol=1e-5, atol=1e-5)
    # encode_text runs text_hidden at the limit's padding: the same arithmetic, so equal bit for bit
    assert torch.equal(bb.encode_text(PROMPTS)[:, :n], full[:, :n])


def test_a_short_stage_learns_and_resumes_bit_for_bit(tmp_path, monkeypatch):
    """On one thread the steps' arithmetic is the same whether run at once or resumed after a crash (the
    read-out from the seed, the batch and umT5's dropout from the step), so the weights are equal bit
    for bit."""
    torch.set_num_threads(1)
    prompts = PROMPTS * 3
    stage = TextStage(steps=6, batch=4, lr=3e-3, warmup_steps=1, held_out=0.25)
    once = load_wan_i2v(TOY_WEIGHTS, torch.float32, preset="toy")
    start = [p.detach().clone() for p in once.text_encoder.parameters()]
    train_text(once, stage, tmp_path / "once", prompts, seed=0, checkpoint_every=3)
    records = [json.loads(x) for x in (tmp_path / "once" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[-1]["text/loss"] < records[0]["text/loss"]
    assert "text/exact_held_out" in records[2] and "text/camera_held_out" in records[5]
    assert "text/exact_held_out" not in records[0]
    assert any(not torch.equal(a, b) for a, b in zip(start, once.text_encoder.parameters()))
    assert not once.text_encoder.training and not any(p.requires_grad for p in once.text_encoder.parameters())

    calls = []

    def crashing(*args):  # the 5th bag: step 4's, after step 3's checkpoint and its held-out bag
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("killed")
        return bag_of_words(*args)

    monkeypatch.setattr(text_stage, "bag_of_words", crashing)
    with pytest.raises(RuntimeError, match="killed"):
        train_text(
            load_wan_i2v(TOY_WEIGHTS, torch.float32, preset="toy"), stage, tmp_path / "split", prompts, 0, 3
        )
    monkeypatch.undo()
    resumed = load_wan_i2v(TOY_WEIGHTS, torch.float32, preset="toy")
    train_text(resumed, stage, tmp_path / "split", prompts, 0, 3)
    for a, b in zip(once.text_encoder.parameters(), resumed.text_encoder.parameters()):
        assert torch.equal(a, b)
    records = [json.loads(x) for x in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    fresh = load_wan_i2v(TOY_WEIGHTS, torch.float32, preset="toy")
    assert load_text_state(fresh.text_encoder, tmp_path / "once") == 6
    for a, b in zip(once.text_encoder.parameters(), fresh.text_encoder.parameters()):
        assert torch.equal(a, b)
    assert load_text_state(fresh.text_encoder, tmp_path / "none") == 0
    with pytest.raises(ValueError, match="no prompts"):
        train_text(fresh, TextStage(steps=1), tmp_path / "x", [], 0, 1)


def test_the_pretraining_runs_the_text_stage_before_the_dit_caches_its_contexts(clip_folder, tmp_path):
    """With pretrain.text.steps the exported umT5 is the text stage's, and the DiT's cached contexts
    come from it; the default (steps 0) runs no text stage."""
    torch.set_num_threads(1)
    cfg = pretrain.PretrainConfig.model_validate(
        {
            "data": {"root": str(clip_folder)},
            "init": "toy",
            "text": {"steps": 2, "batch": 2, "warmup_steps": 1, "held_out": 0.0},
            "dit": {"steps": 1, "batch": 2, "warmup_steps": 1, "windows_per_clip": 1},
            "checkpoint_every": 1,
            "output_dir": str(tmp_path / "run"),
        }
    )
    folder = pretrain.pretrain(cfg)
    made = load_wan_i2v(folder, torch.float32, preset="toy")
    stage = load_wan_i2v(TOY_WEIGHTS, torch.float32, preset="toy")
    assert load_text_state(stage.text_encoder, tmp_path / "run") == 2
    for a, b in zip(stage.text_encoder.parameters(), made.text_encoder.parameters()):
        assert torch.equal(a.half(), b.half())  # the folder stores fp16
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in records] == ["text", "text", "dit"]
    cache = torch.load(tmp_path / "run" / "cache.pt")
    with torch.no_grad():
        prompt = pretrain.load_clips(cfg)[1][0]
        expected = stage.encode_text([prompt])[0].half()
    # the cache encodes windows in batches, this one prompt alone: float32 sums in another order, then
    # fp16, so equal to fp16's rounding (one step of fp16 at these magnitudes), not bit for bit
    torch.testing.assert_close(cache["context"][0].float(), expected.float(), rtol=2e-3, atol=2e-3)
    assert not (tmp_path / "plain" / STATE_FILE).exists()
    assert pretrain.PretrainConfig().text.steps == 0
