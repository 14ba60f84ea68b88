"""The toy encoder: a small CNN trained on the toy world, the feature extractor of the `toy` backend.

Real VBench weights (DINO, CLIP, MUSIQ, I3D) cannot be used at toy scale, so the toy backend scores
toy-world videos with the same metric formulas on features from this network, trained on toy-world
frames the way MNIST-FID uses a classifier trained on MNIST. Its numbers are comparable between
arms scored with the same weights file, never with published VBench numbers.

Architecture (sizes live in `ToyEncoderConfig` and travel in the weights file's metadata):

    frames [N, 3, H, W] 0-255 -> resize to 64x64 (bilinear, antialiased), scale to [-1, 1]
    trunk: 4 conv3x3-BN-SiLU layers (widths 24, 48, 96, 128; strides 2, 2, 2, 1) -> [N, 128, 8, 8],
           global mean and max pooling -> h [N, 256] (position-free: a moving object keeps its
           embedding; the max keeps small objects visible beside the background that dominates the
           mean). A stride-1 first layer at 64x64 cost ~3x the time for no better held-out scores.
    three linear projections of h, each L2-normalised (the metrics compare them by cosine):
        object     [N, 64] -> number of objects; which (shape, colour) objects and colours are present
        background [N, 64] -> background kind and main colour (a gradient's two ends can swap, which
                   caps that label's accuracy)
        quality    [N, 32] -> severity in [0, 1] (sigmoid), a clean-vs-degraded logit and which
                   degradation (an auxiliary head: a direct signal per kind speeds learning); this one
                   also reads the per-channel spatial std of the first two layers (local contrast
                   energy at 32x32 and 16x16, where blur, noise and blocking show most)
    each head reads 10 * (unit embedding) (`ScaledLinear`), so outputs can be confident early on

The object targets are sets. The toy world labels object slots in depth order, and which object is
drawn first is invisible unless two overlap, so slot-wise heads would learn a guess. The slot labels
are turned into multi-hot targets over the (shape, colour) pairs and over the colours instead.

Training (`python -m benchmarks.metrics.toy_encoder --out ... --steps N --seed S`): fresh frames
every step from `benchmarks.toyworld.world.sample_labeled_frames` (a quarter rendered at 32x32, so
both toy resolutions are covered); half of them degraded by one of blur, noise, colour cast, JPEG
blockiness or contrast loss at a severity s ~ U(0.05, 1) (clean frames have s = 0). The attribute
heads see degraded frames too, so the object / background embeddings describe the scene's content,
not its quality. Loss = cross-entropies (background kind and colour, object count, degradation kind)
+ multi-label BCE (summed over classes) + BCE(clean logit) + 4 * BCE(severity logit, s), the last
with s as a soft target. Deterministic for a seed on a given machine and thread count
(torch.set_num_threads(2)). ~1000 steps of 64 frames take about 4-5 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IMAGE_SIZE = 64
DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "toy_encoder.safetensors"
DEGRADATIONS = ("blur", "noise", "colour_cast", "jpeg", "contrast")
ABSENT = -1  # label id of an absent object slot
EVAL_SEED_OFFSET = 1_000_000_000  # held-out frames come from seeds no training step uses
_SLOT = re.compile(r"object(\d+)_(shape|colour)$")

# sampler(n, seed=..., size=(H, W)) -> (frames uint8 [N, H, W, 3], labels name -> int64 [N])
Sampler = Callable[..., tuple[np.ndarray, dict[str, np.ndarray]]]


# ----------------------------------------------------------------------------------------------
# Config and model


@dataclass
class ToyEncoderConfig:
    image_size: int = IMAGE_SIZE
    widths: tuple[int, ...] = (24, 48, 96, 128)
    strides: tuple[int, ...] = (2, 2, 2, 1)
    object_dim: int = 64
    background_dim: int = 64
    quality_dim: int = 32
    # the label vocabularies: shapes, colours, background_kinds (names, in label-id order)
    vocab: dict[str, list[str]] = field(default_factory=dict)
    max_objects: int = 3
    # single-label heads (cross-entropy) and multi-label heads (BCE): name -> classes
    classes: dict[str, int] = field(default_factory=dict)
    sets: dict[str, int] = field(default_factory=dict)
    background_labels: tuple[str, ...] = ("background_kind", "background_colour")
    quality_labels: tuple[str, ...] = ("degradation",)
    head_scale: float = 10.0  # heads read head_scale * (unit embedding); see ScaledLinear
    quality_taps: int = 2  # early trunk layers whose per-channel spatial std also feeds `quality`

    @property
    def trunk_dim(self) -> int:
        return 2 * self.widths[-1]  # mean and max pooling

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ToyEncoderConfig:
        raw = json.loads(text)
        for key in ("widths", "strides", "background_labels", "quality_labels"):
            raw[key] = tuple(raw[key])
        return cls(**raw)

    @classmethod
    def for_vocab(
        cls, shapes: list[str], colours: list[str], background_kinds: list[str], max_objects: int, **sizes
    ) -> ToyEncoderConfig:
        """Head sizes from the toy world's vocabularies."""
        return cls(
            vocab={
                "shapes": list(shapes),
                "colours": list(colours),
                "background_kinds": list(background_kinds),
            },
            max_objects=max_objects,
            classes={
                "background_kind": len(background_kinds),
                "background_colour": len(colours),
                "num_objects": max_objects + 1,
                "degradation": 1 + len(DEGRADATIONS),  # 0 = clean
            },
            sets={"object_pairs": len(shapes) * len(colours), "object_colours": len(colours)},
            **sizes,
        )


def preprocess(frames: torch.Tensor, size: int = IMAGE_SIZE) -> torch.Tensor:
    """[N, 3, H, W] float 0-255 -> [N, 3, size, size] in [-1, 1] (bilinear, antialiased, no crop)."""
    x = frames.float()
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x / 127.5 - 1.0


class ScaledLinear(nn.Linear):
    """A linear head on a unit-length embedding, scaled first: W (scale * e) + b.

    Unit-length inputs cap a plain head's logits at |w|, and Adam grows weights only ~lr per step,
    so confident outputs (a sigmoid near 0 or 1, a clear argmax) would take thousands of steps.
    """

    def __init__(self, in_features: int, out_features: int, scale: float) -> None:
        super().__init__(in_features, out_features)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.scale * x)


def _conv_block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.SiLU())


class ToyEncoder(nn.Module):
    """Shared conv trunk, three L2-normalised embeddings, attribute and degradation heads."""

    def __init__(self, config: ToyEncoderConfig) -> None:
        super().__init__()
        self.config = config
        widths = (3, *config.widths)
        self.trunk = nn.Sequential(
            *[_conv_block(widths[i], widths[i + 1], s) for i, s in enumerate(config.strides)]
        )
        d = config.trunk_dim
        self.object_proj = nn.Linear(d, config.object_dim)
        self.background_proj = nn.Linear(d, config.background_dim)
        taps = sum(config.widths[: config.quality_taps])
        self.quality_proj = nn.Linear(d + taps, config.quality_dim)
        heads = {**config.classes, **config.sets}
        self.attribute_heads = nn.ModuleDict(
            {
                name: ScaledLinear(self._branch_dim(name), n, config.head_scale)
                for name, n in sorted(heads.items())
            }
        )
        self.severity_head = ScaledLinear(config.quality_dim, 1, config.head_scale)
        self.clean_head = ScaledLinear(config.quality_dim, 1, config.head_scale)  # logit of "not degraded"
        self.metadata: dict[str, str] = {}

    def branch_of(self, label: str) -> str:
        if label in self.config.background_labels:
            return "background"
        return "quality" if label in self.config.quality_labels else "object"

    def _branch_dim(self, label: str) -> int:
        c = self.config
        return {"background": c.background_dim, "quality": c.quality_dim, "object": c.object_dim}[
            self.branch_of(label)
        ]

    def embed(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x [N, 3, 64, 64] preprocessed -> trunk [N, 256] and L2-normalised object / background / quality."""
        early = []
        fmap = x
        for i, block in enumerate(self.trunk):
            fmap = block(fmap)
            if i < self.config.quality_taps:
                # Local contrast energy at full and half resolution: what blur lowers and noise,
                # blocking and ringing raise, before deeper layers average it away.
                early.append(fmap.std(dim=(2, 3)))  # [N, C_i]
        # fmap [N, C, 8, 8]. Max pooling keeps small objects visible; the mean is mostly background.
        h = torch.cat([fmap.mean(dim=(2, 3)), fmap.amax(dim=(2, 3))], dim=1)  # [N, 2 C]
        return {
            "trunk": h,
            "object": F.normalize(self.object_proj(h), dim=-1),
            "background": F.normalize(self.background_proj(h), dim=-1),
            "quality": F.normalize(self.quality_proj(torch.cat([h, *early], dim=1)), dim=-1),
        }

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Embeddings, `logits/<head>` [N, classes], `severity` [N] in [0, 1] (and its logit), `clean_logit` [N]."""
        out = self.embed(x)
        for name, head in self.attribute_heads.items():
            out[f"logits/{name}"] = head(out[self.branch_of(name)])
        out["severity_logit"] = self.severity_head(out["quality"])[:, 0]
        out["severity"] = torch.sigmoid(out["severity_logit"])
        out["clean_logit"] = self.clean_head(out["quality"])[:, 0]
        return out

    # -- weights file ----------------------------------------------------------------------------

    def save(self, path: str | Path, metadata: dict[str, str] | None = None) -> None:
        """Weights (float32) with the config and any extra string metadata in the safetensors header."""
        from safetensors.torch import save_file

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        meta = {"format": "pt", "model": "ToyEncoder", "config": self.config.to_json(), **(metadata or {})}
        save_file(state, str(path), metadata=meta)

    @classmethod
    def from_file(cls, path: str | Path | None = None, device: str | torch.device = "cpu") -> ToyEncoder:
        """The committed weights (default) or another file written by `save`, in eval mode."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        path = Path(path) if path is not None else DEFAULT_WEIGHTS
        if not path.is_file():
            raise FileNotFoundError(
                f"toy encoder weights not found at {path}; train them with "
                f"`python -m benchmarks.metrics.toy_encoder --out {path}`"
            )
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if "config" not in meta:
            raise ValueError(f"{path} has no 'config' metadata: not a file written by ToyEncoder.save")
        model = cls(ToyEncoderConfig.from_json(meta["config"]))
        model.load_state_dict(load_file(str(path)))
        model.metadata = meta
        return model.to(device).eval()


# ----------------------------------------------------------------------------------------------
# Synthetic degradations (numpy, one uint8 frame [H, W, 3] at a time; severity in [0, 1])


def degrade(frame: np.ndarray, kind: str, severity: float, rng: np.random.Generator) -> np.ndarray:
    """One degradation of a uint8 RGB frame [H, W, 3]; severity 0 is mild, 1 is strong."""
    s = float(np.clip(severity, 0.0, 1.0))
    x = frame.astype(np.float32)
    if kind == "blur":
        sigma = 0.4 + 2.1 * s  # pixels of the frame as rendered
        x = cv2.GaussianBlur(x, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)
    elif kind == "noise":
        x = x + rng.normal(0.0, 4.0 + 46.0 * s, size=x.shape)
    elif kind == "colour_cast":
        direction = rng.normal(size=3)
        x = x + (10.0 + 80.0 * s) * direction / (np.linalg.norm(direction) + 1e-8)
    elif kind == "jpeg":
        quality = int(round(60 - 55 * s))  # 60 (mild) .. 5 (8x8 blocks, colour bleeding)
        bgr = np.ascontiguousarray(frame[..., ::-1])
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("OpenCV could not JPEG-encode a frame")
        x = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32)
    elif kind == "contrast":
        keep = 1.0 - (0.15 + 0.75 * s)  # fraction of the contrast left
        x = x.mean() + keep * (x - x.mean())
    else:
        raise ValueError(f"unknown degradation {kind!r}; choose one of {', '.join(DEGRADATIONS)}")
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def degrade_batch(
    frames: np.ndarray, rng: np.random.Generator, p_degraded: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Degrade a random subset of uint8 frames [N, H, W, 3].

    Returns (frames, severity [N] float32 with 0 = clean, kind [N] int64: 0 = clean, 1 + DEGRADATIONS index).
    """
    out = frames.copy()
    severity = np.zeros(len(frames), dtype=np.float32)
    kinds = np.zeros(len(frames), dtype=np.int64)
    for i in range(len(frames)):
        if rng.random() < p_degraded:
            kinds[i] = 1 + int(rng.integers(len(DEGRADATIONS)))
            severity[i] = rng.uniform(0.05, 1.0)
            out[i] = degrade(frames[i], DEGRADATIONS[kinds[i] - 1], float(severity[i]), rng)
    return out, severity, kinds


# ----------------------------------------------------------------------------------------------
# Data and targets


def _world():
    try:
        from benchmarks.toyworld import world
    except ImportError as err:
        raise ImportError(
            f"training the toy encoder needs benchmarks.toyworld.world ({err}); is the toy world in this checkout?"
        ) from err
    return world


def world_config(**sizes) -> ToyEncoderConfig:
    """A config sized by the toy world's vocabularies."""
    w = _world()
    return ToyEncoderConfig.for_vocab(w.SHAPES, list(w.COLOURS), w.BACKGROUND_KINDS, w.MAX_OBJECTS, **sizes)


def targets(labels: dict[str, np.ndarray], config: ToyEncoderConfig) -> dict[str, torch.Tensor]:
    """The heads' targets from the toy world's labels.

    Single-label heads take their label as is (int64 [N]); `object_pairs` [N, shapes * colours] and
    `object_colours` [N, colours] are multi-hot sets built from the object slots (absent slots = -1).
    """
    n_colours = len(config.vocab["colours"])
    out = {name: torch.as_tensor(np.asarray(labels[name]), dtype=torch.int64) for name in config.classes}
    n = len(next(iter(labels.values())))
    pairs = torch.zeros(n, config.sets["object_pairs"])
    colours = torch.zeros(n, config.sets["object_colours"])
    slots = sorted({int(m.group(1)) for k in labels if (m := _SLOT.match(k))})
    rows = torch.arange(n)
    for i in slots:
        shape = torch.as_tensor(np.asarray(labels[f"object{i}_shape"]), dtype=torch.int64)
        colour = torch.as_tensor(np.asarray(labels[f"object{i}_colour"]), dtype=torch.int64)
        present = (shape != ABSENT) & (colour != ABSENT)
        pairs[rows[present], shape[present] * n_colours + colour[present]] = 1.0
        colours[rows[present], colour[present]] = 1.0
    out["object_pairs"], out["object_colours"] = pairs, colours
    return out


def make_batch(
    sampler: Sampler, n: int, seed: int, rng: np.random.Generator, small_fraction: float = 0.25
) -> tuple[torch.Tensor, dict[str, np.ndarray], torch.Tensor]:
    """n labelled frames (a `small_fraction` rendered at 32x32, then resized), about half degraded.

    Returns (x [n, 3, 64, 64] preprocessed, labels name -> int64 [n] with the toy world's labels and
    `degradation`, severity [n] float32).
    """
    n_small = int(round(n * small_fraction))
    xs, label_parts, severities = [], [], []
    for j, (count, size) in enumerate(((n - n_small, (64, 64)), (n_small, (32, 32)))):
        if not count:
            continue
        frames, labels = sampler(count, seed=seed * 2 + j, size=size)
        frames, severity, kinds = degrade_batch(np.asarray(frames, dtype=np.uint8), rng)
        xs.append(preprocess(torch.from_numpy(frames).permute(0, 3, 1, 2)))  # [count, 3, 64, 64]
        label_parts.append({k: np.asarray(v) for k, v in labels.items()} | {"degradation": kinds})
        severities.append(torch.from_numpy(severity))
    labels = {k: np.concatenate([p[k] for p in label_parts]) for k in label_parts[0]}
    return torch.cat(xs), labels, torch.cat(severities)


# ----------------------------------------------------------------------------------------------
# Training and evaluation


def losses(out: dict[str, torch.Tensor], target: dict[str, torch.Tensor], severity: torch.Tensor) -> dict:
    terms = {}
    for name, t in target.items():
        logits = out[f"logits/{name}"]
        if t.ndim == 1:  # single-label
            terms[name] = F.cross_entropy(logits, t)
        else:  # multi-label: summed over classes so a 48-way set weighs like one cross-entropy
            terms[name] = F.binary_cross_entropy_with_logits(logits, t, reduction="sum") / len(t)
    clean = (severity == 0).float()
    terms["clean"] = F.binary_cross_entropy_with_logits(out["clean_logit"], clean)
    # Severity as a soft binary target: BCE on the logit keeps its gradient (sigmoid - s) where an L1
    # on the sigmoid would vanish once the head saturates on the wrong side.
    terms["severity"] = 4.0 * F.binary_cross_entropy_with_logits(out["severity_logit"], severity)
    return terms


def _set_recall(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per frame: the share of the true set found among the top-k scores, k = the set's size. [N]."""
    k = target.sum(-1).long()  # [N]
    order = logits.argsort(dim=-1, descending=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(logits.shape[1]).expand_as(order))
    hit = (ranks < k[:, None]) & (target > 0)
    return hit.sum(-1) / k.clamp_min(1)


@torch.no_grad()
def evaluate(
    model: ToyEncoder, x: torch.Tensor, labels: dict, severity: torch.Tensor, batch: int = 256
) -> dict:
    """Held-out attribute accuracy, set recall of the objects, severity MAE, clean/degraded accuracy."""
    model.eval()
    outs = [model(x[i : i + batch]) for i in range(0, len(x), batch)]
    out = {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
    n = len(x)
    target = targets(labels, model.config)
    accuracy = {
        name: float((out[f"logits/{name}"].argmax(-1) == target[name]).float().mean())
        for name in model.config.classes
    }
    # Objects: recall@k of the (shape, colour) pairs and of the colours; shapes from the top-k pairs.
    pairs_recall = _set_recall(out["logits/object_pairs"], target["object_pairs"])
    n_colours = len(model.config.vocab["colours"])
    n_shapes = out["logits/object_pairs"].shape[1] // n_colours
    k = target["object_pairs"].sum(-1).long()
    top = out["logits/object_pairs"].argsort(-1, descending=True)
    shape_hits = []
    for i in range(n):  # multiset overlap of predicted and true shapes
        pred = torch.bincount(top[i, : k[i]] // n_colours, minlength=n_shapes)
        true = target["object_pairs"][i].view(-1, n_colours).sum(-1)
        shape_hits.append(float(torch.minimum(pred, true).sum() / max(1, int(k[i]))))
    accuracy["object_pair_recall"] = float(pairs_recall.mean())
    accuracy["object_colour_recall"] = float(
        _set_recall(out["logits/object_colours"], target["object_colours"]).mean()
    )
    accuracy["object_shape_recall"] = float(np.mean(shape_hits))
    accuracy["object_set_exact"] = float((pairs_recall == 1).float().mean())
    err = (out["severity"] - severity).abs()
    degraded = severity > 0
    return {
        "accuracy": accuracy,
        "severity_mae": float(err.mean()),
        "severity_mae_degraded": float(err[degraded].mean()) if degraded.any() else None,
        "severity_mae_clean": float(err[~degraded].mean()) if (~degraded).any() else None,
        "clean_accuracy": float(((out["clean_logit"] > 0) == ~degraded).float().mean()),
        "frames": n,
    }


def train(
    *,
    steps: int = 1000,
    seed: int = 0,
    batch_size: int = 64,
    lr: float = 3e-3,
    eval_frames: int = 1024,
    sampler: Sampler | None = None,
    config: ToyEncoderConfig | None = None,
    threads: int = 2,
    progress: bool = True,
) -> tuple[ToyEncoder, dict]:
    """Train from scratch; returns the model (eval mode) and a summary with held-out metrics."""
    from tqdm.auto import tqdm

    torch.set_num_threads(threads)
    sampler = sampler or _world().sample_labeled_frames
    config = config or world_config()
    started, cpu_started = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    model = ToyEncoder(config)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    warmup = max(1, min(100, steps // 10))

    def lr_factor(step: int) -> float:  # linear warm-up, then cosine decay to 5%
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, steps - warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    rng = np.random.default_rng(seed)
    model.train()
    bar = tqdm(range(steps), desc="toy encoder", unit="step", disable=not progress)
    for step in bar:
        x, labels, severity = make_batch(sampler, batch_size, seed * 100_000 + step, rng)
        loss = sum(losses(model(x), targets(labels, config), severity).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    train_seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    eval_rng = np.random.default_rng(EVAL_SEED_OFFSET + seed)
    summary = {
        "eval": evaluate(model, *make_batch(sampler, eval_frames, EVAL_SEED_OFFSET + seed, eval_rng)),
        "training": {
            "steps": steps,
            "seed": seed,
            "batch_size": batch_size,
            "lr": lr,
            "threads": threads,
            "train_seconds": round(train_seconds, 1),
            "train_cpu_seconds": round(cpu_seconds, 1),  # all threads; wall time on a busy machine misleads
            "torch": torch.__version__,
        },
    }
    return model.eval(), summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the toy encoder behind the `toy` metric backend.")
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS, help="safetensors file to write")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--eval-frames", type=int, default=1024, help="held-out frames for the report")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    model, summary = train(
        steps=args.steps,
        seed=args.seed,
        batch_size=args.batch_size,
        lr=args.lr,
        eval_frames=args.eval_frames,
        threads=args.threads,
    )
    model.save(
        args.out, metadata={"training": json.dumps(summary["training"]), "eval": json.dumps(summary["eval"])}
    )
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
