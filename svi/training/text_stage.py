"""The toy pretraining's text stage: umT5 taught which words its world's prompts contain.

Wan's umT5 comes pretrained on text, so its features already name what the words mean. The toy
presets' umT5 is a 2-layer, 64-wide encoder over bytes at its seeded random initialisation. On its
features no toy world-3 DiT learned to read the camera's heading, after 3,000 to 11,000 steps, with
the encoder frozen or trained along with the DiT (docs/guides/toyworld_record.md).

This stage stands in for a text pretraining at toy scale. It uses only the training prompts: umT5
learns, for every word of the prompts' vocabulary, whether the prompt contains it. The read-out is a
linear layer on the masked mean of the prompt's token states, with one binary cross-entropy per word,
and it is dropped afterwards. What stays is an encoder whose token states carry the prompt's words.
The DiT stage that follows caches its contexts from this encoder.

Each step logs `text/loss`; every `checkpoint_every` steps (and at the end) the stage also logs the
share of held-out prompts whose every word it decides right (`text/exact_held_out`), and the same
share for the camera's words alone (`text/camera_held_out`: "left", "right", "up", "down", "slowly",
"steadily"). The held-out prompts are a seeded tenth of the distinct prompts, never trained on.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import torch
from pydantic import Field
from tqdm import tqdm

from svi.config import Section
from svi.files import append_jsonl, atomic_torch_save, to_cpu, truncate_jsonl
from svi.training.schedule import lr_at

log = logging.getLogger(__name__)

# The words a world-3 prompt states the camera's path with (toyworld.world.Camera's phrase).
CAMERA_WORDS = ("left", "right", "up", "down", "slowly", "steadily")
STATE_FILE = "text_state.pt"


class TextStage(Section):
    # 0: no text stage (umT5 as the preset or `init` has it: the committed bases' seeded random one).
    steps: int = Field(0, ge=0)
    batch: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0)
    warmup_steps: int = Field(100, ge=0)
    held_out: float = Field(0.1, ge=0, lt=1)  # the share of distinct prompts kept out of training


def words(prompt: str) -> list[str]:
    """The lower-case words of a prompt, in order (letters only)."""
    return re.findall(r"[a-z]+", prompt.lower())


def vocabulary(prompts: list[str]) -> list[str]:
    """Every word of the prompts, sorted."""
    return sorted({w for p in prompts for w in words(p)})


def bag_of_words(prompts: list[str], vocab: list[str]) -> torch.Tensor:
    """[B, V] float: 1 where prompt b contains word v (words outside `vocab` are left out)."""
    index = {w: i for i, w in enumerate(vocab)}
    out = torch.zeros(len(prompts), len(vocab))
    for b, p in enumerate(prompts):
        for w in words(p):
            if w in index:
                out[b, index[w]] = 1.0
    return out


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """hidden [B, L, D], mask [B, L] (1: a prompt token) -> [B, D], the mean over each prompt's tokens."""
    m = mask.unsqueeze(-1).to(hidden.dtype)  # [B, L, 1]
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)


def split_prompts(prompts: list[str], held_out: float, seed: int) -> tuple[list[str], list[str]]:
    """The distinct prompts, split (seeded) into training and held-out ones."""
    distinct = sorted(set(prompts))
    order = torch.randperm(len(distinct), generator=torch.Generator().manual_seed(seed)).tolist()
    n_held = int(len(distinct) * held_out)
    held = sorted(distinct[i] for i in order[:n_held])
    train = sorted(distinct[i] for i in order[n_held:])
    return train, held


def exact_share(logits: torch.Tensor, target: torch.Tensor, columns: list[int] | None = None) -> float:
    """The share of rows whose every word decision (logit > 0) matches `target`, over `columns` or all."""
    decided = (logits > 0) == (target > 0)  # [B, V]
    if columns is not None:
        decided = decided[:, columns]
    return float(decided.all(dim=1).float().mean()) if len(decided) else float("nan")


def load_text_state(encoder: torch.nn.Module, out: Path) -> int:
    """Load the encoder of a text stage's state file in `out` into `encoder`; -> its step (0: none)."""
    path = Path(out) / STATE_FILE
    if not path.is_file():
        return 0
    state = torch.load(path, weights_only=False, map_location="cpu")
    encoder.load_state_dict(state["encoder"])
    return int(state["step"])


def train_text(bb, stage: TextStage, out: Path, prompts: list[str], seed: int, checkpoint_every: int) -> None:
    """Train `bb.text_encoder` on the prompts' bag of words (resumable from `out`/text_state.pt); leaves
    it in eval mode without gradients. The training prompts are drawn uniformly among the distinct ones."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    encoder = bb.text_encoder
    device = next(encoder.parameters()).device
    train, held = split_prompts(prompts, stage.held_out, seed)
    if not train:
        raise ValueError("the text stage has no prompts to train on: the training clips have none")
    vocab = vocabulary(train)
    camera = [vocab.index(w) for w in CAMERA_WORDS if w in vocab]
    with torch.random.fork_rng(devices=[]):  # the read-out's initialisation, from the seed
        torch.manual_seed(seed)
        head = torch.nn.Linear(encoder.config.d_model, len(vocab)).to(device)
    params = list(encoder.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=stage.lr, weight_decay=0.0)
    state_path = out / STATE_FILE
    step = 0
    if state_path.is_file():
        state = torch.load(state_path, weights_only=False, map_location=device)
        encoder.load_state_dict(state["encoder"])
        head.load_state_dict(state["head"])
        opt.load_state_dict(state["optimizer"])
        step = int(state["step"])
        truncate_jsonl(out / "metrics.jsonl", lambda r: r["stage"] == "text" and r["step"] > step)
        log.info("text: resumed at step %d", step)

    @torch.no_grad()
    def held_out_record() -> dict:
        if not held:
            return {}
        encoder.eval()
        hidden, mask = bb.text_hidden(held, longest=True)
        logits = head(masked_mean(hidden, mask))
        target = bag_of_words(held, vocab).to(device)
        encoder.train()
        return {"text/exact_held_out": exact_share(logits, target),
                "text/camera_held_out": exact_share(logits, target, camera) if camera else float("nan")}  # fmt: skip

    if step < stage.steps:
        encoder.train().requires_grad_(True)  # umT5's own dropout while it trains, as a text pretraining has
        bar = tqdm(total=stage.steps, initial=step, desc="pretrain text", unit="step")
        while step < stage.steps:
            t0 = time.perf_counter()
            for group in opt.param_groups:
                group["lr"] = lr_at(step, stage.lr, stage.warmup_steps, stage.steps)
            g = torch.Generator().manual_seed(seed * 7919 + step)
            chosen = [train[i] for i in torch.randint(0, len(train), (stage.batch,), generator=g).tolist()]
            target = bag_of_words(chosen, vocab).to(device)  # [B, V]
            # umT5's dropout drawn from the step, so that a resumed stage repeats it
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed * 7919 + step)
                hidden, mask = bb.text_hidden(chosen, longest=True)  # [B, L, D], [B, L]
                logits = head(masked_mean(hidden, mask))  # [B, V]
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}")
            record = {"stage": "text", "step": step, "text/loss": loss.item(),
                      "text/seconds_per_step": time.perf_counter() - t0}  # fmt: skip
            checkpoint = step % checkpoint_every == 0 or step == stage.steps
            if checkpoint:
                record.update(held_out_record())
            append_jsonl(out / "metrics.jsonl", record)  # before the state, as the other stages: a resume
            if checkpoint:  # from it keeps every step it logged, and truncates any logged after it
                atomic_torch_save(
                    to_cpu({"encoder": encoder.state_dict(), "head": head.state_dict(),
                            "optimizer": opt.state_dict(), "step": step, "vocabulary": vocab}),
                    state_path,
                )  # fmt: skip
        bar.close()
    encoder.eval().requires_grad_(False)
