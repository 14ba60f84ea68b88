"""FreeNoise (`generate.strategy=freenoise`): the whole video as one latent sequence, denoised in
overlapping windows from rescheduled noise, the windows' predictions fused at every step.

Paper: Qiu, Xia, Zhang, He, Wang, Shan, Liu, "FreeNoise: Tuning-Free Longer Video Diffusion via Noise
Rescheduling" (ICLR 2024). A model that makes W frames makes a video of L > W frames:
- noise rescheduling (`reschedule_noise`): the initial noise of frames [0, W) is drawn; each later block
  of S frames is a random permutation of the block W frames before it,
      eps[i : i + S] = eps[i - W : i - W + S][perm],   i = W, W + S, ...
  so every window's noise is a local shuffle of the same W noises (long-range correlation without
  repetition);
- window fusion: windows of W frames every S frames (`window_starts`, the last one ending at L) are
  denoised at each step and fused per frame with position weights (`position_weights`: pyramid, more
  weight to a window's middle frames):
      v(j) = sum_w a_w(j) v_w(j - p_w),   a_w(j) = c(j - p_w) / sum_{w' covering j} c(j - p_w')
  (`fuse`). The step is then taken on the whole sequence.

On this backbone a window is one Wan I2V clip (W = F_lat latent frames) and the stride S is
`freenoise_stride` (default W // 4, at least 1). The sequence has L = F_lat + (N - 1)(F_lat - L_lead)
latent frames for N clips (L_lead: the restated latent frames of `generate.chaining`), so the video has
the same length as N chained clips. Window 0 is clip 0: the reference image known at its first frame
(chaining's clip-0 conditioning); later windows have no known frame: nothing marked, every frame the
padding (`svi.model.i2v_condition.free_condition`; with reference padding the image is still in every frame's
condition channels). Every window gets the reference's CLIP feature and the prompt of the clip its middle
frame belongs to. Clip k is decoded from the F_lat latent frames that end where it ends (like a chained
clip, its first restated frames dropped but in clip 0), so the decoder never holds the whole video.

Resume and streaming: the state (the whole latent sequence and the step) is saved after every step (each
step denoises every window of the video once); after the last step the clips are decoded and written one
by one, each saved. The windows of a step go through the transformer `batch_size` at a time; a round of
the generator's loop is one step (or one decoded clip) of each video. The video's length must be known
before the first step (`num_clips`), and every prompt is read then.

Reduction (tested): with one window (a one-clip video) the rescheduled noise is clip 0's noise, the
fusion returns the window's own velocity exactly, and the frames are bit-identical to `chain`'s.

Simplified / not faithful: FreeNoise fuses inside the temporal attention layers of a UNet (windowed
temporal attention, outputs averaged with the position weights); Wan is a DiT with full
spatio-temporal attention in every block, so fusing there means rewriting its attention. Here the
windows' velocity predictions are fused instead (the MultiDiffusion / Gen-L-Video form of window fusion,
with FreeNoise's weights). FreeNoise's motion injection for prompt changes (the prompt interpolated over
the denoising steps) is left out: a window takes one prompt. Euler only (the state is saved between
single steps). The memory of the state grows with the video: L latent frames, about 0.4 MB each at
480 x 832, so a 250 s video holds about 400 MB of latents.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from svi import flow
from svi.generation.sampling import GuidedVelocity, noise_generator, total_frames
from svi.generation.strategies.plans_ahead import required_clips, required_prompt
from svi.model.i2v_condition import free_condition
from svi.video_io import to_uint8_frames


def sequence_latents(num_clips: int, latent_frames: int, lead_latents: int) -> int:
    """L: latent frames of the whole sequence of N clips, F_lat + (N - 1)(F_lat - L_lead)."""
    return latent_frames + (num_clips - 1) * (latent_frames - lead_latents)


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """First latent frame of each window: 0, S, 2 S, ... and a last window ending at L if they miss it."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def position_weights(window: int, scheme: str = "pyramid") -> torch.Tensor:
    """A window's fusion weight per position, float64 [W]: pyramid min(i + 1, W - i) (1, 2, 3, 2, 1), or flat."""
    if scheme == "flat":
        return torch.ones(window, dtype=torch.float64)
    if scheme != "pyramid":
        raise ValueError(f"unknown fusion weights {scheme!r}; use pyramid or flat")
    i = torch.arange(window, dtype=torch.float64)
    return torch.minimum(i + 1, window - i)


def reschedule_noise(
    base: torch.Tensor, length: int, stride: int, generator: torch.Generator
) -> torch.Tensor:
    """FreeNoise's noise: base [B, C, W, h, w] for frames [0, W); frames [i, i + S) are a permutation (drawn
    from `generator`) of frames [i - W, i - W + S), for i = W, W + S, ... -> [B, C, L, h, w]."""
    window = base.shape[2]
    frames = list(base.unbind(2))
    for i in range(window, length, stride):
        perm = torch.randperm(stride, generator=generator)[: min(stride, length - i)]
        frames.extend(frames[i - window + j] for j in perm.tolist())
    return torch.stack(frames, dim=2)


def fusion_coefficients(starts: Sequence[int], length: int, weights: torch.Tensor) -> list[torch.Tensor]:
    """a_w [W] (float64) of each window: its position weights over the sum of the weights of every window
    covering the same frame, so the coefficients of a frame sum to 1 (one window: all ones, exactly)."""
    window = len(weights)
    total = torch.zeros(length, dtype=torch.float64)
    for p in starts:
        total[p : p + window] += weights
    return [weights / total[p : p + window] for p in starts]


def fuse(
    predictions: Iterable[torch.Tensor], starts: Sequence[int], length: int, weights: torch.Tensor
) -> torch.Tensor:
    """v [B, C, L, h, w] = sum_w a_w v_w from the windows' predictions [B, C, W, h, w] (in `starts` order;
    an iterable, so each window's prediction can be computed when it is needed)."""
    out = None
    for p, a, v in zip(starts, fusion_coefficients(starts, length, weights), predictions, strict=True):
        if out is None:
            out = v.new_zeros(*v.shape[:2], length, *v.shape[3:])
        out[:, :, p : p + len(a)] += a.to(v.dtype).view(1, 1, -1, 1, 1) * v
    return out


class FreeNoise:
    """The fused window sampler over the generator's loop: a round is one step (or one decoded clip) of
    every video in the batch; the windows of a step are batched up to `batch_size`."""

    def prepare(self, gen, video) -> bool:
        n = required_clips(video, "freenoise")
        if video.next_clip >= n:
            return False
        video.prompt = required_prompt(video, video.next_clip, "freenoise")
        return True

    @torch.no_grad()
    def advance(self, gen, videos, neg_context, progress) -> int:
        made = 0
        for v in videos:
            if v.state.get("step", 0) < gen.cfg.steps:
                self._step(gen, v, neg_context, progress)
            else:
                self._emit(gen, v)
                made += 1
        return made

    def _layout(self, gen) -> tuple[int, int, int]:
        """(F_lat: the window, L_lead: restated latent frames, S: the stride) of the generator's config."""
        cfg, r = gen.cfg, gen.bb.temporal_ratio
        return cfg.latent_frames(r), cfg.restated_latents(r), cfg.freenoise_window_stride(r)

    def _windows(self, gen, v, neg_context) -> list[tuple[list[int], GuidedVelocity]]:
        """The windows of video v, in chunks of batch_size: (their starts, their guided velocity), built
        once per video (the conditioning does not change between steps)."""
        if "windows" in v.cache:
            return v.cache["windows"]
        cfg, bb = gen.cfg, gen.bb
        f_lat, lead, stride = self._layout(gen)
        length = sequence_latents(v.job.num_clips, f_lat, lead)
        starts = window_starts(length, f_lat, stride)
        ref = v.reference  # [1, 3, H, W]
        first = gen._condition(ref, [None], v.anchor)  # chaining's clip 0: the reference known
        free = free_condition(bb, ref, cfg.num_frames, cfg.padding).to(first)  # nothing known
        image = gen.clip_contexts(ref, [None])  # the reference's CLIP feature
        # the prompt of the clip the window's middle frame belongs to
        clips = [min(v.job.num_clips - 1, _clip_of(p + f_lat // 2, f_lat, lead)) for p in starts]
        prompts = [required_prompt(v, k, "freenoise") for k in range(v.job.num_clips)]
        context = bb.encode_text(prompts)  # [N, L, D]
        chunks = []
        for i in range(0, len(starts), cfg.batch_size):
            part = starts[i : i + cfg.batch_size]
            rows = list(range(i, i + len(part)))
            velocity = GuidedVelocity(
                bb.transformer,
                torch.cat([first if p == 0 else free for p in part]),
                context[[clips[j] for j in rows]],
                neg_context,
                None if image is None else image.expand(len(part), -1, -1),
                cfg,
            )
            chunks.append((part, velocity))
        v.cache["windows"] = chunks
        return chunks

    def _step(self, gen, v, neg_context, progress) -> None:
        cfg = gen.cfg
        f_lat, lead, stride = self._layout(gen)
        length = sequence_latents(v.job.num_clips, f_lat, lead)
        if "x" not in v.state:  # FreeNoise's initial noise; its first window is clip 0's noise
            g = noise_generator(cfg.noise, v.seed, 0)
            base = torch.randn((1, *gen.latent_shape), generator=g)  # = gen.clip_noise(seed, 0)
            v.state.update(x=reschedule_noise(base, length, stride, g).to(gen.device), step=0)
        chunks = self._windows(gen, v, neg_context)
        x, step = v.state["x"], v.state["step"]
        grid = torch.cat([flow.shifted_sigmas(cfg.steps, cfg.shift), torch.zeros(1, dtype=torch.float64)])
        s, s_next = float(grid[step]), float(grid[step + 1])

        def predictions():
            for part, velocity in chunks:
                xs = torch.cat([x[:, :, p : p + f_lat] for p in part])  # [chunk, 16, F_lat, h, w]
                yield from velocity(xs, s).split(1)

        starts = [p for part, _ in chunks for p in part]
        fused = fuse(predictions(), starts, length, position_weights(f_lat, cfg.freenoise_weights))
        v.state.update(x=flow.euler_step(x, fused, s, s_next), step=step + 1)
        gen.save_state(v)
        if progress is not None:
            progress.update(1)

    def _emit(self, gen, v) -> None:
        """Decode and commit clip k: the F_lat latent frames ending where it ends."""
        cfg = gen.cfg
        f_lat, lead, _ = self._layout(gen)
        k = v.next_clip
        end = sequence_latents(k + 1, f_lat, lead)
        decoded = gen.bb.decode_latents(v.state["x"][:, :, end - f_lat : end])  # [1, 3, F, H, W]
        frames = to_uint8_frames(decoded[0])[0 if k == 0 else gen.lead :]
        v.next_clip = k + 1
        gen._commit(v, k, frames, total_frames(k, cfg.num_frames, gen.lead))


def _clip_of(latent: int, latent_frames: int, lead_latents: int) -> int:
    """The clip a latent frame of the sequence belongs to: clip 0 holds [0, F_lat), clip k the next
    F_lat - L_lead."""
    if latent < latent_frames:
        return 0
    return 1 + (latent - latent_frames) // (latent_frames - lead_latents)
