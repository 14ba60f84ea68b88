"""`harness plan EXPERIMENT`: what an experiment will do and cost, before anything trains.

The dry run a cluster user needs before spending GPU-hours, and the power question a researcher
asks before spending a day: nothing is trained, generated or logged.

    units       every (arm, seed) with its folder, what the arm overrides and its training hash
    checks      every input check `harness run` makes first (weights, benchmark samples, clips)
    model       each distinct model configuration built on the meta device (no memory, no weights):
                the transformer from the preset's config (the weights folder's when named), the LoRA
                on its official targets, the talk / dance adapter; parameter counts, the adapted
                layers, and an official SVI LoRA file's keys checked against the layers they adapt; a
                two-expert preset (Wan 2.2 A14B) builds both experts and counts each, with a LoRA and
                a training run per expert (each on its own timestep range)
    cost        per unit: training and generation FLOPs (svi/model/cost.py, counted from the config),
                GPU-hours at a model FLOPs utilisation (measured by benchmarks/perf/real_scale.py, or
                the assumed default, saying which) and memory per GPU (ZeRO-2)
    power       with `--detect METRIC=VALUE`: the earlier run's variance components (the latest
                finished run of this experiment in the tracking store) and the samples x seeds that
                would detect that difference at 80% power, with unit-hours from that run's durations
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from harness.declare.plan import Plan

ASSUMED_MFU = 0.35  # a typical sustained utilisation of a 14B DiT in bf16 with checkpointing (assumed)


# -- units --------------------------------------------------------------------------------------------


def unit_lines(plan: Plan) -> list[str]:
    from harness.declare.plan import train_hash

    lines = [f"{plan.exp.name}: {len(plan.units)} unit(s) (arm x seed), {len(plan.exp.suites)} track(s)"]
    for u in plan.units:
        arm = plan.exp.arms[u.arm]
        what = (
            "untrained (the base model)"
            if not u.train
            else f"train {u.cfg.train.steps} steps, hash {train_hash(u.cfg)}"
        )
        if arm.lora_from:  # generates with other units' LoRAs (their training is counted there)
            what = "LoRAs of " + ", ".join(f"{a} ({e})" for e, a in arm.lora_from.items())
        changes = ", ".join(f"{k}={v}" for k, v in arm.overrides.items()) or "the base configuration"
        lines.append(f"  {u.arm:14s} seed {u.seed}  {what}; {changes}\n      -> {u.folder}")
    for s in plan.exp.suites:
        lines.append(f"  track {s.suite} {s.length}" + (f" (first {s.limit} samples)" if s.limit else ""))
    return lines


# -- the model on the meta device ----------------------------------------------------------------------


@dataclass
class MetaModel:
    preset: str
    source: str  # where the transformer's config came from
    params: int  # every transformer parameter, adapters and LoRA included
    trainable: int  # what training updates: the LoRA (and an adapter that trains)
    lora_layers: int  # linears carrying a LoRA
    adapter: str | None
    adapter_params: int
    dims: object  # svi.model.cost.DiTDims
    lora_check: str | None  # an official LoRA's keys against the model, when generate.lora names one
    experts: int = 1  # 2: params, trainable and lora_layers are per expert (each expert alike)
    expert_params: tuple[int, ...] = ()  # every expert's parameter count, high-noise first


def meta_model(cfg) -> MetaModel:
    """The arm's transformer, LoRA and conditioning adapter built on the meta device (no memory)."""
    import torch
    from diffusers import WanTransformer3DModel

    from svi.model.cost import DiTDims, preset_transformer_config
    from svi.model.lora import add_lora
    from svi.model.presets import get_preset

    preset = get_preset(cfg.model.preset)
    config, source = preset_transformer_config(cfg.model.preset, cfg.model.weights)
    with torch.device("meta"):
        tf = WanTransformer3DModel.from_config(config)
        adapter, adapter_params = _meta_adapter(tf, cfg)
        trainable = add_lora(tf, cfg.lora)
        experts = [tf]
        if preset.experts == 2:  # the low-noise expert, from its own config (transformer_2/)
            tf_2 = WanTransformer3DModel.from_config(
                preset_transformer_config(cfg.model.preset, cfg.model.weights, expert=1)[0]
            )
            add_lora(tf_2, cfg.lora)
            experts.append(tf_2)
    lora_layers = sum(1 for name, _ in tf.named_modules() if name.endswith(".lora_A"))
    params = sum(p.numel() for p in tf.parameters())
    files = [cfg.generate.lora, cfg.generate.lora_2]
    checks = [
        (f"{name}: " if len(experts) == 2 else "") + _check_lora_file(e, f)
        for e, f, name in zip(experts, files, ("high-noise expert", "low-noise expert"))
        if f
    ]
    if cfg.generate.lora_2 and len(experts) == 1:
        checks.append(f"{cfg.generate.lora_2}: generate.lora_2 is for a two-expert model; this one has one")
    check = "; ".join(checks) or None
    return MetaModel(
        preset.name,
        source,
        params,
        trainable,
        lora_layers,
        adapter,
        adapter_params,
        DiTDims.from_config(config),
        check,
        len(experts),
        tuple(sum(p.numel() for p in e.parameters()) for e in experts),
    )


def _meta_adapter(tf, cfg) -> tuple[str | None, int]:
    """The talk / dance adapter attached on the meta device (its weights are not read) -> (kind, params)."""
    kind = cfg.condition.kind
    if kind == "none":
        return None, 0
    if kind == "audio":
        from svi.conditions.multitalk import AudioAdapter

        adapter = AudioAdapter.for_transformer(tf)  # wav2vec2-base: 12 layers of 768
    else:
        from svi.conditions.pose import PoseEncoder

        adapter = PoseEncoder.for_transformer(tf)
    adapter.trainable = bool(cfg.condition.train_adapter)
    n = sum(p.numel() for p in adapter.parameters())
    adapter.attach(tf)
    return ("MultiTalk audio adapter" if kind == "audio" else "UniAnimate-DiT pose encoder"), n


def _check_lora_file(tf, path: str) -> str:
    """Which of a LoRA file's adapted layers exist in the model (keys read, tensors not loaded)."""
    from svi.model.lora import is_diffsynth_lora, lora_tensors, to_diffusers_lora

    p = Path(path)
    if not p.is_file():
        return f"{path}: no such file (generation would fail)"
    sd = {k: None for k in lora_tensors(p)}
    if not sd:
        return f"{path}: holds no LoRA tensors"
    if is_diffsynth_lora(sd):
        sd = to_diffusers_lora(sd)
    layers = {k.removeprefix("transformer.").split(".lora_")[0] for k in sd if ".lora_" in k}
    modules = {name for name, _ in tf.named_modules()}
    missing = sorted(layers - modules)
    if missing:
        return (
            f"{path}: {len(missing)} of {len(layers)} adapted layers are not in this model, e.g. {missing[0]}"
        )
    return f"{path}: all {len(layers)} adapted layers found in the model"


# -- cost -------------------------------------------------------------------------------------------


def unit_cost(
    cfg, model: MetaModel, *, samples: int, tracks: list[float], world: int, gpu: str, mfu: float
) -> dict:
    """FLOPs, GPU-hours and memory of one (arm, seed) unit: its training (if it trains) and the
    generation of `samples` videos on each track (its seconds). A two-expert model: training FLOPs,
    hours and memory are per expert (each trains alone, its weights alone on the GPU); a generation step
    runs one expert, so its FLOPs are one model's, and `generate_weights` holds both experts' bytes."""
    from svi.generation.sampling import lead_frames, total_frames
    from svi.model.cost import (
        TEXT_TOKENS,
        forward_flops,
        gpu_hours,
        image_tokens_for,
        peak_of,
        training_memory,
        video_tokens,
    )
    from svi.model.presets import get_preset

    arch = get_preset(cfg.model.preset).arch
    text = TEXT_TOKENS if arch is None else arch.max_text_tokens
    image = image_tokens_for(cfg.model.preset)
    d = cfg.data
    vae = get_preset(cfg.model.preset)
    train_video = video_tokens(latent_shape(d.num_frames, d.height, d.width, vae), model.dims.patch)
    per_sample = forward_flops(model.dims, train_video, text, image, cfg.lora.rank)["total"]
    t = cfg.train
    train_flops = 3 * per_sample * t.steps * t.micro_batch * t.grad_accum * world  # forward + backward
    g = cfg.generate
    gen_video = video_tokens(latent_shape(g.num_frames, g.height, g.width, vae), model.dims.patch)
    passes = (2 if g.guidance_scale > 1 else 1) + (1 if g.audio_guidance_scale else 0)
    per_clip = forward_flops(model.dims, gen_video, text, image)["total"] * g.steps * passes
    per_track = [g.clips_for(seconds) for seconds in tracks]
    clips = sum(per_track)
    gen_flops = per_clip * clips * samples
    # the minutes of video those clips make (each track's videos at least their declared length)
    minutes = sum(total_frames(n, g.num_frames, lead_frames(g)) for n in per_track) * samples / g.fps / 60
    peak = peak_of(gpu)
    memory = training_memory(
        model.dims, model.params, model.trainable, train_video, text, image, world=world,
        checkpointing=cfg.model.gradient_checkpointing,
    )  # fmt: skip
    return {
        "train_flops": train_flops,
        "train_gpu_hours": gpu_hours(train_flops, peak, mfu),
        "generate_flops": gen_flops,
        "generate_gpu_hours": gpu_hours(gen_flops, peak, mfu),
        "clips": clips * samples,
        "generated_minutes": minutes,
        "memory": memory,
        "generate_weights": sum(model.expert_params or (model.params,)) * 2,  # bf16, every expert
    }


def latent_shape(frames: int, height: int, width: int, preset=None) -> tuple[int, int, int, int]:
    """Wan's VAE latent of a clip: frames 1 + (F - 1) / 4; 16 channels and 8x smaller spatially (Wan 2.1's
    VAE), or the preset's VAE layout (`Preset.latent_channels`, `spatial_ratio`: Wan 2.2's 48 and 16x)."""
    from svi.model.presets import VAE_LAYOUTS

    channels, ratio = VAE_LAYOUTS["2.1"] if preset is None else (preset.latent_channels, preset.spatial_ratio)
    return (channels, (frames - 1) // 4 + 1, height // ratio, width // ratio)


def _gb(b: float) -> str:
    return f"{b / 1e9:.1f} GB"


def cost_lines(plan: Plan, *, world: int, gpu: str, mfu: float | None, samples: int | None) -> list[str]:
    """The model and cost section: one block per distinct model configuration."""
    used_mfu, how = (
        (mfu, "measured or given (--mfu)")
        if mfu
        else (ASSUMED_MFU, "assumed; measure it with benchmarks/perf/real_scale.py and pass --mfu")
    )
    n = samples or _samples_per_track(plan)
    tracks = [s.seconds for s in plan.exp.suites]
    lines = [
        f"cost on {gpu} GPUs, {world} per training, model FLOPs utilisation {used_mfu:.0%} ({how}); {n} samples per track"
        + (f", {plan.exp.draws} draws each" if plan.exp.draws > 1 else "")
    ]
    total = 0.0
    built: dict[str, MetaModel] = {}
    for u in plan.units:
        key = repr(
            (
                u.cfg.model.model_dump(),
                u.cfg.lora.model_dump(),
                u.cfg.condition.model_dump(),
                u.cfg.generate.lora,
                u.cfg.generate.lora_2,
            )
        )
        if key not in built:
            built[key] = meta_model(u.cfg)
            m = built[key]
            each = ""
            if m.experts == 2:
                counts = " and ".join(f"{n / 1e9:.2f} B" for n in m.expert_params)
                each = f"2 experts (high-noise, low-noise: {counts} parameters), per expert: "
            lines.append(
                f"  model {m.preset} ({m.source}): {each}{m.params / 1e9:.2f} B parameters, {m.trainable / 1e6:.1f} M "
                f"trainable, LoRA rank {u.cfg.lora.rank} on {m.lora_layers} linears"
                + (f", {m.adapter} ({m.adapter_params / 1e6:.1f} M)" if m.adapter else "")
            )
            if m.lora_check:
                lines.append(f"    LoRA file: {m.lora_check}")
        m = built[key]
        c = unit_cost(u.cfg, m, samples=n * plan.exp.draws, tracks=tracks, world=world, gpu=gpu, mfu=used_mfu)
        hours = (c["train_gpu_hours"] if u.train else 0.0) + c["generate_gpu_hours"]
        total += hours
        mem = c["memory"]
        # a trained unit of a two-expert model trains one expert (train.expert; experiment.py checks it)
        per = f" the {u.cfg.train.expert}-noise expert" if m.experts == 2 and u.cfg.train.expert else ""
        train = (
            f"train{per} {c['train_gpu_hours']:.1f} GPU-h ({c['train_flops']:.2e} FLOPs), "
            f"{_gb(mem['total'])} per GPU (weights {_gb(mem['weights'])}, optimizer {_gb(mem['optimizer'])}, "
            f"activations {_gb(mem['activations'])}); "
            if u.train
            else ""
        )
        both = f" (both experts' weights {_gb(c['generate_weights'])} bf16 per GPU)" if m.experts == 2 else ""
        per_minute = c["generate_gpu_hours"] / c["generated_minutes"] if c["generated_minutes"] else 0.0
        lines.append(
            f"  {u.arm} seed {u.seed}: {train}generate {c['clips']} clips {c['generate_gpu_hours']:.1f} GPU-h "
            f"({per_minute:.2f} GPU-h per generated minute){both}"
        )
    lines.append(
        f"  total about {total:.0f} GPU-hours (transformer FLOPs only: the frozen encoders, the VAE and data "
        "loading are not counted; memory leaves out the encoders, the CUDA context and allocator slack)"
    )
    return lines


def _samples_per_track(plan: Plan) -> int:
    """The samples a track will have: its limit, else the configured benchmark's count (8 by default for
    the synthetic / toy benchmarks the harness writes)."""
    limits = [s.limit for s in plan.exp.suites if s.limit]
    if limits:
        return max(limits)
    from harness.declare.plan import benchmark_folder

    root = benchmark_folder(plan.exp)
    if root is not None and plan.exp.suites:
        from scoring import suites

        try:
            folder = suites.suite_folder(root, plan.exp.suites[0].suite, plan.exp.suites[0].length)
            return len(suites.load_samples(folder, skip_bad=True, suite=plan.exp.suites[0].suite)[0])
        except (FileNotFoundError, ValueError, suites.BadSampleError):
            pass
    return plan.exp.toy_samples


# -- power from an earlier run ------------------------------------------------------------------------


def power_lines(plan: Plan, detect: dict[str, float], tracking_uri: str) -> list[str]:
    """For each metric in `detect` (display units), per comparison of the earlier run: its components
    and the designs (samples x seeds) that would detect the difference, with unit-hours."""
    from harness.tracking.store_reader import load_runs, load_samples
    from reports import stats as S
    from reports import tables as T
    from reports.frames import ReportError

    name = plan.exp.name
    try:
        runs = load_runs(name, tracking_uri)
        samples = load_samples(name, tracking_uri, runs.attrs["parent_run_id"])
    except (ReportError, LookupError) as e:
        return [
            f"power: no earlier run of {name} to estimate variance components from ({e}). Run it once, or a "
            f"pilot with fewer samples (`harness run {name} seeds=[0,1]`), then ask again."
        ]
    summary = T.summarize(
        runs, samples, list(plan.exp.arms), experiment=name, primary=plan.exp.primary,
        comparisons=plan.exp.comparison_pairs,
    )  # fmt: skip
    hours = unit_hours(runs, samples)
    lines = [
        f"power: from the earlier run {runs.attrs['parent_run_id']} ({len(T.finished(runs))} finished units); "
        f"{hours['how']}"
    ]
    arms = len(plan.exp.arms)
    tracks = max(1, len(plan.exp.suites))
    for metric, want in detect.items():
        info = T.metric_info(metric)
        rows = summary[(summary["metric"] == metric) & summary["p"].notna()]
        if rows.empty:
            lines.append(f"  {metric}: the earlier run has no tested difference of it")
            continue
        for rec in rows.to_dict("records"):
            comp = S.Components(rec["var_sample"], rec["var_seed"], rec["var_residual"])
            now = T.n_text(rec["delta_n_samples"], rec["n_seeds"])
            head = (
                f"  {rec['track']} {info.label}, {rec['arm']} - {rec['reference']}: now {now}, detects "
                f"{rec['mdd'] * info.scale:.{info.decimals + 1}f} at 80% power"
            )
            if not comp.seed_estimable:
                lines.append(
                    head + "; its seed component is unknown (one seed): run 2+ seeds to plan from it"
                )
                continue
            designs = S.plan(comp, want / info.scale)
            if not designs:
                lines.append(head + f"; {want:g} is not detectable within 2000 samples x 8 seeds")
                continue
            options = []
            for d in designs[:4]:
                unit = hours["train"] + hours["per_sample"] * d.n_samples * tracks
                options.append(
                    f"{d.n_samples} samples x {d.n_seeds} seeds, about {arms * d.n_seeds * unit:.1f} unit-hours"
                )
            lines.append(head + f"; to detect {want:g}: " + "; or ".join(options))
    return lines


def unit_hours(runs, samples) -> dict:
    """Hours of a unit on the machine of the earlier run: its training time and its time per video
    (generation and scoring), from the finished runs' durations. Untrained units are all videos, so
    they give the time per video; a trained unit's surplus over its videos is its training."""
    from reports import tables as T

    trained = T.trained_arms(runs)
    done = runs[(runs["status"] == "FINISHED") & runs["seconds"].notna()]
    rows = samples[samples["level"] == "video"]
    videos = rows.groupby("run_id").apply(lambda f: len(f[["sample", "track"]].drop_duplicates())).to_dict()
    timed = [(r.seconds, videos[r.run_id], trained[r.arm]) for r in done.itertuples() if videos.get(r.run_id)]
    per_video = [sec / n for sec, n, t in timed if not t]
    if per_video:
        pv = statistics.median(per_video)
        train = [max(0.0, sec - pv * n) for sec, n, t in timed if t]
        how = "unit-hours from the earlier run's durations (training; generation and scoring per video)"
    elif (
        timed
    ):  # no untrained unit to separate training: every second scales with the videos (an upper bound)
        pv, train = statistics.median(sec / n for sec, n, _ in timed), []
        how = "unit-hours from the earlier run's durations, all scaled with the videos (an upper bound)"
    else:
        return {
            "train": math.nan,
            "per_sample": math.nan,
            "how": "no finished unit with durations: no unit-hours",
        }
    return {"train": (statistics.median(train) if train else 0.0) / 3600, "per_sample": pv / 3600, "how": how}
