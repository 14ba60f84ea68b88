"""The I3D video network behind FVD: loading the published TorchScript weights, and a random stand-in.

FVD uses the Kinetics-400 Inception-I3D of the TF-Hub FVD code. The common PyTorch ports load it as
the TorchScript file `i3d_torchscript.pt` published with StyleGAN-V's FVD code and call it as

    model(clips, rescale=False, resize=False, return_features=True)   # clips [B, 3, 16, 224, 224] in [-1, 1]
                                                                      # -> [B, 400] pre-softmax logits

`rescale=False, resize=False` because the caller has already resized to 224x224 and scaled to [-1, 1]
(`scoring/fvd.py` does it, so both networks see identical inputs); `return_features=True`
returns the 400 logits before the softmax, which are the FVD features.

Without the weights (tests, machines without internet) `build_random_i3d` makes the same architecture
(Carreira & Zisserman 2017, "Quo Vadis, Action Recognition?": Inception-v1 inflated to 3D) with random
weights and the same call signature. Its numbers are not comparable to published FVDs; results made
with it are tagged `backend="random"`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

NUM_CLASSES = 400
I3D_FILENAME = "i3d_torchscript.pt"


class Unit3d(nn.Sequential):
    """Conv3d (no bias) + BatchNorm + ReLU, the building block of every I3D layer."""

    def __init__(self, c_in: int, c_out: int, kernel: int | tuple[int, int, int], stride: int = 1):
        kernel = (kernel,) * 3 if isinstance(kernel, int) else kernel
        # Symmetric k // 2 padding gives TF "SAME" output sizes for the odd kernels used here.
        padding = tuple(k // 2 for k in kernel)
        super().__init__(
            nn.Conv3d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm3d(c_out, eps=1e-3, momentum=0.01),
            nn.ReLU(inplace=True),
        )


class InceptionBlock(nn.Module):
    """Mixed_* block: 1x1x1 | 1x1x1 -> 3x3x3 | 1x1x1 -> 3x3x3 | 3x3x3 maxpool -> 1x1x1, concatenated."""

    def __init__(self, c_in: int, widths: tuple[int, int, int, int, int, int]):
        super().__init__()
        b0, b1_reduce, b1, b2_reduce, b2, b3 = widths
        self.branch0 = Unit3d(c_in, b0, 1)
        self.branch1 = nn.Sequential(Unit3d(c_in, b1_reduce, 1), Unit3d(b1_reduce, b1, 3))
        self.branch2 = nn.Sequential(Unit3d(c_in, b2_reduce, 1), Unit3d(b2_reduce, b2, 3))
        self.branch3 = nn.Sequential(nn.MaxPool3d(3, stride=1, padding=1), Unit3d(c_in, b3, 1))
        self.out_channels = b0 + b1 + b2 + b3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch0, self.branch1, self.branch2, self.branch3)
        return torch.cat([branch(x) for branch in branches], dim=1)


# (name, input channels, branch widths) of the Mixed blocks, from the paper's Inception-v1 table.
_MIXED: dict[str, tuple[int, tuple[int, int, int, int, int, int]]] = {
    "mixed_3b": (192, (64, 96, 128, 16, 32, 32)),  # -> 256
    "mixed_3c": (256, (128, 128, 192, 32, 96, 64)),  # -> 480
    "mixed_4b": (480, (192, 96, 208, 16, 48, 64)),  # -> 512
    "mixed_4c": (512, (160, 112, 224, 24, 64, 64)),  # -> 512
    "mixed_4d": (512, (128, 128, 256, 24, 64, 64)),  # -> 512
    "mixed_4e": (512, (112, 144, 288, 32, 64, 64)),  # -> 528
    "mixed_4f": (528, (256, 160, 320, 32, 128, 128)),  # -> 832
    "mixed_5b": (832, (256, 160, 320, 32, 128, 128)),  # -> 832
    "mixed_5c": (832, (384, 192, 384, 48, 128, 128)),  # -> 1024
}


class InceptionI3d(nn.Module):
    """Inception-I3D: [B, 3, T, H, W] in [-1, 1] -> [B, 400] Kinetics-400 logits.

    At the FVD input (T=16, 224x224) the feature map before the head is [B, 1024, 2, 7, 7]; the paper
    averages it with a [2, 7, 7] pool, which here is an adaptive global average so other sizes work too.
    """

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()

        def mixed(name: str) -> InceptionBlock:
            return InceptionBlock(*_MIXED[name])

        self.features = nn.Sequential(
            Unit3d(3, 64, 7, stride=2),  # conv3d_1a_7x7      [B, 64, T/2, H/2, W/2]
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), ceil_mode=True),  # pool_2a: H/4
            Unit3d(64, 64, 1),  # conv3d_2b_1x1
            Unit3d(64, 192, 3),  # conv3d_2c_3x3
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), ceil_mode=True),  # pool_3a: H/8
            mixed("mixed_3b"),
            mixed("mixed_3c"),  # [B, 480, T/2, H/8, W/8]
            nn.MaxPool3d(3, stride=2, padding=1, ceil_mode=True),  # pool_4a: T/4, H/16
            mixed("mixed_4b"),
            mixed("mixed_4c"),
            mixed("mixed_4d"),
            mixed("mixed_4e"),
            mixed("mixed_4f"),  # [B, 832, T/4, H/16, W/16]
            nn.MaxPool3d(2, stride=2, ceil_mode=True),  # pool_5a: T/8, H/32
            mixed("mixed_5b"),
            mixed("mixed_5c"),  # [B, 1024, T/8, H/32, W/32]
        )
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(0.5)
        self.logits = nn.Conv3d(1024, num_classes, 1)  # the paper's 1x1x1 classifier, with bias

    def forward(
        self, x: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = True
    ) -> torch.Tensor:
        """Same signature as the TorchScript model; preprocessing is the caller's job here."""
        if rescale or resize:
            raise ValueError(
                "InceptionI3d expects clips already resized and scaled to [-1, 1]: call it with "
                "rescale=False, resize=False (scoring.fvd.preprocess_frames does both)"
            )
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"expected clips [B, 3, T, H, W], got {tuple(x.shape)}")
        h = self.features(x)  # [B, 1024, t, h, w]
        logits = self.logits(self.dropout(self.pool(h))).flatten(1)  # [B, 400]
        return logits if return_features else F.softmax(logits, dim=1)


def build_random_i3d(seed: int = 0) -> InceptionI3d:
    """The I3D architecture with seeded random weights, in eval mode: the stand-in without weights."""
    generator = torch.Generator().manual_seed(seed)
    model = InceptionI3d()
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            # He init keeps activations at a usable scale through the ~20 ReLU layers (the default init
            # shrinks them geometrically, which would leave near-zero, ill-conditioned features).
            fan_in = (
                module.in_channels * module.kernel_size[0] * module.kernel_size[1] * module.kernel_size[2]
            )
            with torch.no_grad():
                module.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=generator)
                if module.bias is not None:
                    module.bias.normal_(0.0, 0.1, generator=generator)
    return model.eval()


def default_i3d_path() -> Path:
    """`$VBENCH_CACHE_DIR/fvd/i3d_torchscript.pt`, VBENCH_CACHE_DIR defaulting to ~/.cache/vbench."""
    cache = os.environ.get("VBENCH_CACHE_DIR") or os.path.join("~", ".cache", "vbench")
    return Path(cache).expanduser() / "fvd" / I3D_FILENAME


def load_i3d(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Load the TorchScript I3D (eval mode) from `path`, or from `default_i3d_path()` when None.

    Never downloads: a missing file is a FileNotFoundError that says where to put it.
    """
    file = Path(path).expanduser() if path is not None else default_i3d_path()
    if not file.is_file():
        raise FileNotFoundError(
            f"FVD needs the I3D weights at {file}, which does not exist. On a machine with internet, get "
            f"{I3D_FILENAME} from the StyleGAN-V FVD release (the file its src/metrics/frechet_video_distance.py "
            f"downloads, https://www.dropbox.com/s/ge9e5ujwgetktms/{I3D_FILENAME}) and copy it to {file} "
            "(or set VBENCH_CACHE_DIR to the folder holding fvd/, or pass the file's path explicitly)."
        )
    return torch.jit.load(str(file), map_location=device).eval()
