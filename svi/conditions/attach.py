"""SVI-Talk's and SVI-Dance's conditioning, built from the config's `condition` section in one place.

    adapter = attach(backbone, cfg.condition, preset)   # audio adapter (+ backbone.audio_encoder) or pose encoder
    inputs, image_dropped = training_inputs(batch, cfg.condition, generator)   # the official dropouts
    streams = clip_streams(backbone, sample_files, cfg.generate, cfg.condition)   # per-clip inputs for a video

Training (svi/training/train.py), generation (`LongVideoGenerator.from_config`) and the harness call these, so a
model is trained and evaluated with the same adapter, encoder and weights. `kind: none` (Shot, Film)
attaches nothing and every function here is a no-op.

Weights: `condition.weights` names the adapter's file (MultiTalk's audio modules for talk, which the
official recipe keeps frozen; the pose encoder for dance, which trains with the LoRA and is saved in
the arm's LoRA file). A LoRA in the same file (the toy stand-ins fine-tune the DiT with their
adapter) is merged into the base weights first, so the SVI LoRA trains on top of that model. Without one: the toy preset starts from its committed stand-ins (`TOY_ADAPTERS`,
trained by `harness run pretrain_toy_talk` / `pretrain_toy_dance`), tiny from random initialisation,
and a real talk run stops with an error that says where to get MultiTalk's weights.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from svi.config import ConditionConfig, GenerateConfig

# The small audio encoder of the code-built presets: wav2vec2's conv stack and a 2-layer encoder.
SMALL_AUDIO_ENCODER = {"hidden_size": 32, "num_layers": 2, "heads": 2, "conv_dim": 16}
# ... and their audio projection: MultiTalk's (512 wide, 32 tokens of 768 per latent frame, 12.6M
# weights in its last layer alone) would outweigh the toy DiT five times over.
SMALL_AUDIO_ADAPTER = {"intermediate_dim": 64, "output_dim": 64, "context_tokens": 8}
# The toy world's stand-ins for MultiTalk's audio modules and UniAnimate-DiT's pose encoder: what
# `harness run pretrain_toy_talk` / `pretrain_toy_dance` train (their arm's lora.safetensors, copied here).
_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"  # svi/weights
TOY_ADAPTERS = {
    "audio": (_WEIGHTS / "toy_talk" / "multitalk_stand_in.safetensors", "pretrain_toy_talk"),
    "pose": (_WEIGHTS / "toy_dance" / "unianimate_stand_in.safetensors", "pretrain_toy_dance"),
}


def adapter_weights(cond: ConditionConfig, preset: str) -> str | Path | None:
    """The file the adapter starts from: `condition.weights`; for the toy preset the committed toy
    stand-in (except when pretraining it: train_adapter); None: random initialisation."""
    if cond.weights or preset != "toy" or cond.train_adapter:
        return cond.weights
    path, experiment = TOY_ADAPTERS[cond.kind]
    if not path.is_file():
        raise FileNotFoundError(
            f"the toy {cond.kind} adapter {path} is missing: run `harness run {experiment}` and copy its arm's "
            f"train/lora.safetensors there (or set condition.weights, or condition.train_adapter=true)"
        )
    return path


def committed_adapter_fingerprint(cond: ConditionConfig, preset: str) -> str | None:
    """The content hash of the committed toy stand-in the adapter loads (`adapter_weights`), None when
    it loads none of them (a named file, random initialisation, or no adapter)."""
    from svi.model.presets import files_fingerprint

    path = adapter_weights(cond, preset) if cond.kind != "none" else None
    return files_fingerprint(path) if path in {p for p, _ in TOY_ADAPTERS.values()} else None


def audio_encoder(cond: ConditionConfig, preset: str, seed: int = 0):
    """The wav2vec2 features of `cond.audio_encoder` (a local folder), or the code-built presets' small
    seeded one (tiny, toy); the real preset needs the folder."""
    from svi.conditions.audio import Wav2Vec2Features, check_wav2vec_folder

    if cond.audio_encoder:
        return Wav2Vec2Features.from_folder(check_wav2vec_folder(cond.audio_encoder))
    if preset in ("tiny", "toy"):
        return Wav2Vec2Features.random(seed=seed, **SMALL_AUDIO_ENCODER)
    check_wav2vec_folder(Path("condition.audio_encoder is not set"))  # raises, saying what to put where
    raise AssertionError  # pragma: no cover


def attach(backbone, cond: ConditionConfig, *, seed: int = 0):
    """Build the adapter `cond.kind` names, attach it to backbone.transformer (on its device and dtype)
    and load `cond.weights` into it. Audio: also sets `backbone.audio_encoder`. -> the adapter or None."""
    tf = backbone.transformer
    if cond.kind == "none":
        return None
    param = next(tf.parameters())
    if cond.kind == "audio":
        from svi.conditions.multitalk import MULTITALK_HELP, AudioAdapter, load_multitalk

        encoder = audio_encoder(cond, backbone.preset, seed)
        backbone.audio_encoder = encoder
        torch.manual_seed(seed)
        sizes = SMALL_AUDIO_ADAPTER if backbone.preset in ("tiny", "toy") else {}
        adapter = AudioAdapter.for_transformer(
            tf, audio_layers=encoder.num_layers, audio_dim=encoder.dim, **sizes
        )
        weights = adapter_weights(cond, backbone.preset)
        if weights:
            load_multitalk(adapter, weights)
        elif backbone.preset not in ("tiny", "toy"):
            raise FileNotFoundError(
                "condition.weights is not set: SVI-Talk keeps MultiTalk's audio modules frozen, so it needs "
                f"them. {MULTITALK_HELP}"
            )
    elif cond.kind == "pose":
        from svi.conditions.pose import PoseEncoder, load_pose_encoder

        torch.manual_seed(seed)
        adapter = PoseEncoder.for_transformer(tf)
        weights = adapter_weights(cond, backbone.preset)
        if weights:
            load_pose_encoder(adapter, weights)
    else:  # pragma: no cover - the schema allows no other kind
        raise ValueError(f"unknown condition kind {cond.kind!r}")
    if cond.train_adapter:
        adapter.trainable = True  # pretraining the toy stand-in of MultiTalk / UniAnimate-DiT
    adapter.to(device=param.device, dtype=param.dtype)
    if weights:  # a stand-in's fine-tune of the DiT travels with its adapter: merged into the base
        from svi.model.lora import fuse_lora_into_base, lora_tensors

        fuse_lora_into_base(tf, lora_tensors(weights))
    return adapter.attach(tf)


# -- training --------------------------------------------------------------------------------------


def training_inputs(
    batch: dict, cond: ConditionConfig, generator: torch.Generator
) -> tuple[dict[str, torch.Tensor], list[bool]]:
    """A training batch's adapter inputs with the official dropouts, drawn from `generator` (the
    recycler's, checkpointed), and which rows have their CLIP feature and y zeroed (dance: E_img is
    skipped on those rows). -> ({"audio": [B, F, 5, L, D]} or {"pose": [B, 3, F, H, W]}, [B] bools)."""
    b = len(batch["prompt"])
    if cond.kind == "none":
        return {}, [False] * b
    if cond.kind == "audio":
        from svi.conditions.multitalk import drop_audio

        windows, _ = drop_audio(batch["audio"], cond.p_drop_audio, generator)
        return {"audio": windows}, [False] * b
    from svi.conditions.pose import draw_dance_drops, drop_pose_rows

    drops = [draw_dance_drops(generator) for _ in range(b)]
    pose = drop_pose_rows(batch["pose"], [d.pose for d in drops])
    return {"pose": pose}, [d.image for d in drops]


# -- generation ------------------------------------------------------------------------------------


def audio_stream(encoder, path: str | Path, gen: GenerateConfig, cond: ConditionConfig) -> Callable:
    """Clip k's audio windows [F, 5, L, D] from a speech file: rows of the clip's frames (`aligned`,
    the range the generator gives) or from k F - K (`official`); None once the audio has run out."""
    from svi.conditions.audio import audio_windows, clip_audio_frames, read_audio

    features: list[torch.Tensor] = []  # [N, L, D], one row per video frame; computed at the first clip

    def stream(clip: int, start: int, stop: int) -> torch.Tensor | None:
        if not features:
            features.append(encoder(read_audio(path), fps=gen.fps))
        if cond.schedule == "official":
            start, stop = clip_audio_frames(clip, gen.num_frames, gen.motion_frames, official=True)
        if start >= features[0].shape[0]:
            return None
        return audio_windows(features[0], start, stop)

    return stream


def pose_stream(path: str | Path, gen: GenerateConfig, cond: ConditionConfig) -> Callable:
    """Clip k's pose maps [3, F, H, W] in [0, 1] from a pose video (looped past its end, as officially),
    fitted into the frame as the official inference does."""
    from svi.conditions.pose import pose_clip_frame_ids, read_pose_frames

    def stream(clip: int, start: int, stop: int) -> torch.Tensor:
        if cond.schedule == "official":
            ids = pose_clip_frame_ids(clip, gen.num_frames, gen.motion_frames, "official")
        else:
            ids = range(start, stop)
        return read_pose_frames(path, ids, gen.height, gen.width, resize="fit")

    return stream


def clip_streams(
    backbone, files: dict[str, Path | None], gen: GenerateConfig, cond: ConditionConfig
) -> dict[str, Callable] | None:
    """The streams a job of this model needs, from a sample's files ({"audio": path, "pose": path});
    None for kind none. A missing file is a ValueError naming what the sample lacks."""
    if cond.kind == "none":
        return None
    path = files.get(cond.kind)
    if path is None:
        what = "an audio file (wav, mp3, flac)" if cond.kind == "audio" else "a pose video (pose.mp4)"
        raise ValueError(f"a {cond.kind}-conditioned model needs {what} for every video")
    if cond.kind == "audio":
        return {"audio": audio_stream(backbone.audio_encoder, path, gen, cond)}
    return {"pose": pose_stream(path, gen, cond)}
