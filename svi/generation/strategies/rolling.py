"""Rolling diffusion (`generate.strategy=rolling`): a window of latent frames at noise levels rising
along it, denoised together, emitting clean frames at the front and taking fresh noise at the back.

Paper: Ruhe, Heek, Salimans, Hoogeboom, "Rolling Diffusion Models" (ICML 2024); StreamDiT's streaming
buffer samples in the same order. Frame i of a window of W frames sits at local time t_i = (i + t) / W,
so the noise level rises from the front to the back; as t runs from 1 to 0 every frame descends by one
window position's worth of levels, the front frame becomes clean and leaves the window, the others move
forward and a frame of pure noise enters at the back.

On this backbone the window is one Wan I2V clip of F_lat latent frames:
- its first L latent frames hold the condition, built from what was emitted before exactly as chaining
  builds clip k's from clip k - 1 (`generate.chaining`: the last K decoded frames re-encoded, or the
  anchor and the last M latents); the other F_lat - L are G = `rolling_stages` groups of E = (F_lat - L) / G
  latent frames (G plays Ruhe et al.'s W, in groups of E frames);
- on the shifted schedule sigma_0 = 1 > ... > sigma_N = 0 (N = steps, n = N / G), group g (0 = front)
  starts each shift at grid index (G - 1 - g) n and the condition rides with the front group
  (`window_levels`). A shift is n Euler steps, every latent frame j with its own level:
      x_j <- x_j + (sigma_{i_j + 1} - sigma_{i_j}) v_j(x, sigma_{i_0}, ..., sigma_{i_F})
  with the transformer's timestep per token ([B, seq_len], `GuidedVelocity`). Then the front group and
  the condition are clean: they are decoded, the condition is rebuilt from the emitted frames (and the
  CLIP feature, as chaining does), the groups move forward by one and E latent frames of fresh noise
  enter at the back at sigma = 1. The condition frames are re-noised from their clean latent c to the
  front group's level at each shift: x = (1 - sigma) c + sigma eps.
- every latent frame still takes all N steps, and a clip's worth of new frames costs N forwards of one
  window, as in chaining; G shifts make one clip of the assembled video (F - lead new frames, the same
  frame arithmetic as chaining, so videos of N clips have the same length).
- start: clip 0 is chaining's clip 0 (the reference image); the window of clip 1 starts from noise and
  a diagonal warm-up (Ruhe et al. start from a separately sampled first window): in phase p = 0 .. G - 2
  (n steps each) the condition and groups 0 .. p descend while the others wait at sigma = 1, which brings
  the window to its staggered levels (`warmup_moves`).
- noise: clip k + 1's noise (`noise_seed(scheme, seed, k + 1)`) enters group by group during clip k; the
  condition's noise at a shift comes from clip k's generator: its first draw at shift 0 (the clip
  noise), later draws after it.

Reduction (tested): with G = 1 there is one group and no warm-up; each shift is a whole clip at one level
from its own clip noise, conditioned on the previous clip's end: the frames are bit-identical to
`strategy=chain` with the same chaining.

Simplified / not faithful: the base Wan model was trained with one noise level per clip, so a window of
rising levels is off its training distribution unless the model was trained with per-frame noise levels
(Diffusion Forcing: `forcing` in svi/config.py); Rolling Diffusion trains with its rolling schedule.
The levels follow the shifted 50-step grid rather than Ruhe et al.'s continuous local time; the prompt of
a shift is the prompt of the clip being emitted; the decoded frames of each shift are decoded with their
condition in front, as a chained clip is. UniPC is not available (each frame has its own level).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from svi import flow
from svi.generation.sampling import GuidedVelocity, noise_generator

if TYPE_CHECKING:
    from tqdm.auto import tqdm

    from svi.generation.generator import LongVideoGenerator
    from svi.generation.video import VideoState


def window_levels(lead: int, group: int, stages: int, per_shift: int) -> torch.Tensor:
    """Grid index of each latent frame of the window at the start of a shift, long [lead + stages group]:
    the condition rides with the front group at (G - 1) n; group g starts at (G - 1 - g) n."""
    front = (stages - 1) * per_shift
    groups = [(stages - 1 - g) * per_shift for g in range(stages) for _ in range(group)]
    return torch.tensor([front] * lead + groups, dtype=torch.long)


def warmup_moves(lead: int, group: int, stages: int, phase: int) -> torch.Tensor:
    """Which latent frames descend in warm-up phase p (0 .. G - 2): the condition and groups 0 .. p.
    bool [lead + stages group]; over the G - 1 phases of n steps they reach `window_levels`."""
    return torch.tensor([True] * lead + [g <= phase for g in range(stages) for _ in range(group)])


def frame_euler_step(
    x: torch.Tensor, v: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor
) -> torch.Tensor:
    """Euler with one level per latent frame: x [B, C, F, h, w], v alike, sigma and sigma_next [F]
    (float64): x_j + (sigma_next_j - sigma_j) v_j. A frame whose level does not change keeps x_j."""
    step = (sigma_next - sigma).to(x.dtype).view(1, 1, -1, 1, 1)
    return x + step * v


def clip_noises(
    seed: int, clip: int, shape: tuple[int, ...], lead: int, extra: int, scheme: str = "streams"
) -> tuple:
    """Clip `clip`'s noise [1, *shape] (exactly `LongVideoGenerator.clip_noise` under generate.noise
    `scheme`) and, drawn after it from the same generator, `extra` noises [extra, 1, C, lead, h, w] for
    the condition at the later shifts."""
    g = noise_generator(scheme, seed, clip)
    base = torch.randn((1, *shape), generator=g)
    c, _, h, w = shape
    return base, torch.randn((extra, 1, c, lead, h, w), generator=g)


class Rolling:
    """The rolling window over the generator's loop: a round is one clip of every video in the batch."""

    def prepare(self, gen: LongVideoGenerator, video: VideoState) -> bool:
        return gen._next_prompt(video)

    def advance(self, gen, videos, neg_context, progress) -> int:
        first = [v for v in videos if v.next_clip == 0]
        later = [v for v in videos if v.next_clip > 0]
        if first:  # clip 0 is chaining's (conditioned on the reference image)
            gen.chain_round(first, neg_context, progress)
        if later:
            self._roll(gen, later, neg_context, progress)
        return len(videos)

    @torch.no_grad()
    def _roll(
        self,
        gen: LongVideoGenerator,
        videos: Sequence[VideoState],
        neg_context: torch.Tensor | None,
        progress: tqdm | None,
    ) -> None:
        """Clip k >= 1 of every video: (warm-up,) G shifts, then the clip is recorded as chaining's."""
        cfg, bb, dev = gen.cfg, gen.bb, gen.device
        r = bb.temporal_ratio
        stages = cfg.rolling_stage_count(r)
        n = cfg.steps // stages
        lead, f_lat = cfg.restated_latents(r), cfg.latent_frames(r)
        group = (f_lat - lead) // stages
        shape = gen.latent_shape
        grid = torch.cat([flow.shifted_sigmas(cfg.steps, cfg.shift), torch.zeros(1, dtype=torch.float64)])
        b = len(videos)

        refs = torch.cat([v.reference for v in videos])  # [B, 3, H, W]
        anchors = torch.cat([v.anchor for v in videos]) if cfg.chaining == "latent" else None
        context = bb.encode_text([v.prompt for v in videos])  # [B, L, D]
        noises = [clip_noises(v.seed, v.next_clip, shape, lead, stages - 1, cfg.noise) for v in videos]
        upcoming = torch.cat([gen.clip_noise(v.seed, v.next_clip + 1) for v in videos]).to(dev)
        fresh = [v.state.get("window") is None for v in videos]  # clip 1: the window starts here
        x = torch.cat(
            [base if new else v.state["window"].cpu() for v, (base, _), new in zip(videos, noises, fresh)]
        ).to(dev)  # [B, 16, F_lat, h, w]
        chains = [v.chain for v in videos]
        y = gen._condition(refs, chains, anchors)  # [B, 20, F_lat, h, w]
        image = gen.clip_contexts(refs, chains)
        levels = window_levels(lead, group, stages, n)

        rows = [i for i, new in enumerate(fresh) if new]
        if rows and stages > 1:  # the diagonal warm-up of a new window
            velocity = GuidedVelocity(
                bb.transformer, y[rows], context[rows], neg_context, _rows(image, rows), cfg
            )
            xw, at = x[rows], torch.zeros_like(levels)
            for phase in range(stages - 1):
                moves = warmup_moves(lead, group, stages, phase).long()
                for _ in range(n):
                    sig, sig_next = grid[at], grid[at + moves]
                    xw = frame_euler_step(xw, velocity(xw, sig.expand(len(rows), -1)), sig, sig_next)
                    at = at + moves
                    _tick(progress)
            assert torch.equal(at, levels)
            x[rows] = xw

        videos_out: list[list[torch.Tensor]] = [[] for _ in videos]  # decoded pieces of each clip
        latents_out: list[list[torch.Tensor]] = [[] for _ in videos]
        for shift in range(stages):
            # the condition, clean in y, re-noised to the front group's level (not right after a warm-up)
            sigma_front = float(grid[levels[0]])
            for i in range(b):
                if shift == 0 and fresh[i]:
                    continue
                base, extra = noises[i]
                eps = (base[:, :, :lead] if shift == 0 else extra[shift - 1]).to(dev)
                x[i : i + 1, :, :lead] = flow.interpolate(y[i : i + 1, 4:, :lead].float(), eps, sigma_front)
            velocity = GuidedVelocity(bb.transformer, y, context, neg_context, image, cfg)
            at = levels.clone()
            for _ in range(n):
                sig, sig_next = grid[at], grid[at + 1]
                if bool((at == at[0]).all()):  # one level: exactly chaining's step
                    s, s_next = float(sig[0]), float(sig_next[0])
                    x = flow.euler_step(x, velocity(x, s), s, s_next)
                else:
                    x = frame_euler_step(x, velocity(x, sig.expand(b, -1)), sig, sig_next)
                at = at + 1
                _tick(progress)
            # the condition and the front group are clean: decode them, emit the group
            front = x[:, :, : lead + group]  # [B, 16, L + E, h, w]
            decoded = bb.decode_latents(front)  # [B, 3, lead frames + r E, H, W]
            skip = 0 if shift == 0 else cfg.restated_frames(r)
            for i in range(b):
                videos_out[i].append(decoded[i : i + 1, :, skip:])
                latents_out[i].append(front[i : i + 1, :, 0 if shift == 0 else lead :])
            chains = [gen._next_chain(decoded[i : i + 1], front[i : i + 1]) for i in range(b)]
            # the groups move forward by one; clip k + 1's group `shift` enters at the back, at sigma 1
            enter = upcoming[:, :, lead + shift * group : lead + (shift + 1) * group]
            x = torch.cat([x[:, :, :lead], x[:, :, lead + group :], enter], dim=2)
            if shift < stages - 1:
                y = gen._condition(refs, chains, anchors)
                image = gen.clip_contexts(refs, chains)
        for i, v in enumerate(videos):
            v.state["window"] = x[i : i + 1].clone()  # clip k + 1's groups, at their staggered levels
            clip = torch.cat(videos_out[i], dim=2)  # [1, 3, F, H, W]
            latent = torch.cat(latents_out[i], dim=2)  # [1, 16, F_lat, h, w]
            gen._record(v, clip, latent)


def _rows(x: torch.Tensor | None, rows: list[int]) -> torch.Tensor | None:
    return None if x is None else x[rows]


def _tick(progress: tqdm | None) -> None:
    if progress is not None:
        progress.update(1)
