"""Stable Video Infinity as a library (no MLflow, Optuna or CLI here; `harness/` drives it).

Module map (each builder reads its config section; entry points call these, never re-assemble them):
    config       the typed config schema (sections model, lora, erft, memory, data, train, generate,
                 condition, forcing),
                 YAML `extends`, dotted overrides; `GenerateConfig.lead_frames` (clip overlap)
    presets      the model-preset table (tiny, toy, wan2.1-i2v-14b): architecture, where the weights
                 come from, config defaults; weights-folder checks (torch-free)
    backbone     the Wan I2V components via diffusers; `load_backbone(cfg.model)` (dtype, attention,
                 device), `resolve_dtype`, `Backbone.settings()`
    lora         peft LoRA on the transformer: add, export, load (ours, diffusers, official SVI files)
    flow         flow-matching math (sigma = 1 is noise): schedules, interpolation, Euler step
    conditioning the I2V condition y: frame mask + VAE latent of condition frames and padding
    batch        a batch of clips -> latents, condition and encoder contexts for the ERFT step
    erft         one error-recycling fine-tuning step: error injection, banking, the loss (Recycler)
    forcing      the training mechanisms beside ERFT: Diffusion Forcing (a noise level per latent frame)
                 and clip-level Self-Forcing (conditioning on the model's rollout of the clip before)
    memory       the error replay memory (two banks slotted by timestep); `ReplayMemory.from_config`
    node_memory  one replay store per node in shared memory (`memory.scope: node`), one writer
    data         training clips in the official SVI data format
    train        the DeepSpeed training entry (`python -m svi.training.train`), checkpoints and resume
    probes       probe rollouts of the model being trained (`train.probe_every`)
    generate     the long-video generator, clip by clip; `LongVideoGenerator.from_config`
    strategies   `generate.strategy` beside chaining: rolling, framepack, freenoise, history guidance
    video_io     streaming long videos to disk as per-clip segments
    files        crash-safe writes (atomic replace, JSON lines) for resumable runs
    pretrain     pretraining the toy base model (VAE, then DiT) on the toy world
    adapters     extra conditioning streams on the Wan transformer (hooks; `conditioning(...)`)
    conditions   the `condition` section's adapter, dropouts and per-clip streams, built in one place
    talk, audio, talk_data   SVI-Talk: MultiTalk's audio adapter, wav2vec2 features, the talk layout
    pose, dance_data         SVI-Dance: UniAnimate-DiT's pose encoder, pose videos, the dance layout
"""
