"""What a declaration may ask of the machine: every size it sets is bounded before any work.

The schema bounds each size on its own (svi/config.py MAX_*, harness/declare/experiment.py MAX_*);
what they make together (frames x height x width of a clip, through the model's width) is bounded
here by the plan's own memory estimate (svi/model/cost.py: a training process's weights, gradients,
optimizer and activations; a generation process's weights and one block's working set) against what
the unit runs on: one 80 GB GPU for the real Wan presets (the official recipe's), this machine's
memory for the small presets that run here. A sweep's workers are bounded by this machine's cores
and by its memory over one trial's estimate. Each refusal is one line naming the setting and the bound.
"""

from __future__ import annotations

import os

from svi.config import ConfigError

GPU_MEMORY_BYTES = 80e9  # an A100 / H100 80 GB, the official recipe's GPU
PROCESS_BYTES = 1 << 30  # a worker's Python, torch and MLflow before its model: about 1 GiB
TRAIN_SIZES = "data.num_frames, data.height, data.width"
GENERATE_SIZES = "generate.num_frames, generate.height, generate.width"


def machine_memory() -> int:
    """Bytes of physical memory of this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _gb(b: float) -> str:
    return f"{b / 1e9:,.1f} GB"


def capacity(cfg) -> tuple[float, str]:
    """(bytes, words) that one process of a unit with this configuration may use."""
    from svi.model.presets import get_preset

    if get_preset(cfg.model.preset).arch is None:  # the real Wan models: a GPU of the official recipe
        return GPU_MEMORY_BYTES, f"an 80 GB GPU (preset {cfg.model.preset})"
    return machine_memory(), f"this machine's {_gb(machine_memory())} (preset {cfg.model.preset} runs here)"


def unit_memory(cfg, model) -> dict[str, dict[str, float]]:
    """The plan's memory estimate of one unit's processes: {"train": parts, "generate": parts}, each
    with its "total" bytes (svi/model/cost.py); `model`: the unit's MetaModel (harness plan's)."""
    from harness.declare.preview import latent_shape
    from svi.model.cost import TEXT_TOKENS, image_tokens_for, inference_memory, training_memory, video_tokens
    from svi.model.presets import get_preset

    preset = get_preset(cfg.model.preset)
    text = TEXT_TOKENS if preset.arch is None else preset.arch.max_text_tokens
    image = image_tokens_for(cfg.model.preset)
    d, g = cfg.data, cfg.generate
    train_video = video_tokens(latent_shape(d.num_frames, d.height, d.width, preset), model.dims.patch)
    gen_video = video_tokens(latent_shape(g.num_frames, g.height, g.width, preset), model.dims.patch)
    weights = sum(model.expert_params or (model.params,))  # generation holds every expert
    return {
        "train": training_memory(
            model.dims,
            model.params,
            model.trainable,
            train_video,
            text,
            image,
            world=1,
            checkpointing=cfg.model.gradient_checkpointing,
        ),  # fmt: skip
        "generate": inference_memory(model.dims, weights, gen_video, text, image),
    }


def check_sizes(units) -> None:
    """Each unit's training (if it trains) and generation fit what it runs on, by the plan's estimate;
    else a ConfigError naming the arm, the settings, the estimate and the bound (one line)."""
    from harness.declare.preview import meta_model

    models: dict[str, object] = {}
    for u in units:
        key = repr((u.cfg.model.model_dump(), u.cfg.lora.model_dump(), u.cfg.condition.model_dump()))
        if key not in models:
            models[key] = meta_model(u.cfg)
        memory = unit_memory(u.cfg, models[key])
        limit, where = capacity(u.cfg)
        stages = (
            (("train", TRAIN_SIZES), ("generate", GENERATE_SIZES))
            if u.train
            else (("generate", GENERATE_SIZES),)
        )
        for stage, sizes in stages:
            need = memory[stage]["total"]
            if not need <= limit:
                section = u.cfg.data if stage == "train" else u.cfg.generate
                shown = f"{section.num_frames} frames of {section.height} x {section.width}"
                fix = f"lower {sizes}"
                if stage == "train" and not u.cfg.model.gradient_checkpointing:
                    fix = f"set model.gradient_checkpointing=true (the official setting) or {fix}"
                raise ConfigError(
                    f"arm {u.arm}: {stage} of {shown} needs about {_gb(need)} per process by the plan's "
                    f"estimate (activations {_gb(memory[stage]['activations'])}), more than {where} holds: "
                    f"{fix}"
                )


def max_workers(cfg, model) -> tuple[int, str]:
    """(the most sweep workers this machine holds, why): one per core, and, for a preset that runs
    here, as many as its memory holds of one trial's estimate (training and generation, the larger)."""
    cores = os.cpu_count() or 1
    per = PROCESS_BYTES
    limit, _ = capacity(cfg)
    if limit == machine_memory():
        memory = unit_memory(cfg, model)
        per += max(memory["train"]["total"], memory["generate"]["total"])
    by_memory = max(1, int(machine_memory() // per))
    if by_memory < cores:
        return (
            by_memory,
            f"this machine's {_gb(machine_memory())} holds {by_memory} trial(s) of about {_gb(per)}",
        )
    return cores, f"this machine has {cores} core(s)"


# What one plan may ask in all, unless `--allow-large` says it is meant: hours of generated video over
# every unit, track and sample. The shipped experiments ask at most about 11 hours (mechanisms: 8 arms x
# 3 seeds x 2 tracks x 8 samples x 100 s); a paper-scale evaluation (5 arms x 3 seeds x 2 tracks x 100
# samples x 250 s) about 200. Training steps are bounded per unit by the schema (MAX_STEPS) and units by
# MAX_UNITS; the video is what multiplies them into weeks.
MAX_PLAN_VIDEO_HOURS = 1000.0


def check_scale(plan, allow_large: bool = False) -> None:
    """Refuse (one line: what the plan asks, the bound, how to go past it) a plan whose generated video
    over all units, tracks, samples and draws exceeds MAX_PLAN_VIDEO_HOURS, unless `allow_large`. A track's
    samples are its `limit`, else the toy world's `toy_samples`; a real benchmark's count, unknown before
    it is read, counts as one sample (the plan's input check reads it)."""
    from svi.model.presets import get_preset

    if allow_large:
        return
    exp = plan.exp
    toy = any(get_preset(u.cfg.model.preset).toy_world for u in plan.units) and not exp.benchmark_root
    samples = sum(s.seconds * (s.limit or (exp.toy_samples if toy else None) or 1) for s in exp.suites)
    per_unit = samples * exp.draws  # each sample generated `draws` times
    hours = len(plan.units) * per_unit / 3600
    if hours > MAX_PLAN_VIDEO_HOURS:
        raise ConfigError(
            f"{exp.name} asks for {hours:,.0f} hours of generated video ({len(plan.units)} units x "
            f"{per_unit / 3600:,.1f} h each over {len(exp.suites)} track(s)), more than one plan may "
            f"({MAX_PLAN_VIDEO_HOURS:,.0f} h): lower seeds, arms, tracks, lengths, samples or draws, or pass "
            "--allow-large if it is meant"
        )
