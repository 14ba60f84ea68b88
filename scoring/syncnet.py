"""SyncNet v2 (Chung & Zisserman 2016, "Out of time"), the network behind Sync-C / Sync-D, in torch.

The layers are those of joonson/syncnet_python's `SyncNetModel.py` in the same order, so its published
weights `syncnet_v2.model` (a state dict saved with torch.save, keys without a prefix such as
"netcnnaud.0.weight") load by name:

    audio: MFCC [N, 1, 13, 20] -> 2-D CNN -> [N, 512, 1, 1] -> FC 512-512-1024 -> [N, 1024]
    lips:  crops [N, 3, 5, 224, 224] -> 3-D CNN -> [N, 512, 1, 1, 1] -> FC 512-512-1024 -> [N, 1024]

The lip stream takes five consecutive 224 x 224 face crops as the reference reads them with OpenCV:
BGR, float 0-255, no normalisation. The published file predates BatchNorm's `num_batches_tracked`
buffer (PyTorch 0.4.1), which only matters in training, so a file without it loads; any other missing
or unexpected key is an error. `SyncNet` implements `scoring.sync.SyncModel`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

EMBEDDING_DIM = 1024
WEIGHTS_URL = "http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model"


def _conv_bn_relu(conv: nn.Module, bn: nn.Module) -> list[nn.Module]:
    return [conv, bn, nn.ReLU(inplace=True)]


def _audio_cnn() -> nn.Sequential:
    """[N, 1, 13, 20] -> [N, 512, 1, 1]: 13 x 20 -> pool (3, 3) stride (1, 2) -> 11 x 9 -> pool 3 stride 2
    -> 5 x 4 -> a (5, 4) convolution."""
    return nn.Sequential(
        *_conv_bn_relu(nn.Conv2d(1, 64, 3, padding=1), nn.BatchNorm2d(64)),
        nn.MaxPool2d(1, 1),
        *_conv_bn_relu(nn.Conv2d(64, 192, 3, padding=1), nn.BatchNorm2d(192)),
        nn.MaxPool2d(3, stride=(1, 2)),
        *_conv_bn_relu(nn.Conv2d(192, 384, 3, padding=1), nn.BatchNorm2d(384)),
        *_conv_bn_relu(nn.Conv2d(384, 256, 3, padding=1), nn.BatchNorm2d(256)),
        *_conv_bn_relu(nn.Conv2d(256, 256, 3, padding=1), nn.BatchNorm2d(256)),
        nn.MaxPool2d(3, stride=2),
        *_conv_bn_relu(nn.Conv2d(256, 512, (5, 4)), nn.BatchNorm2d(512)),
    )


def _lip_cnn() -> nn.Sequential:
    """[N, 3, 5, 224, 224] -> [N, 512, 1, 1, 1]: the first convolution spans the 5 frames; the rest is 2-D
    (224 -> 109 -> 54 -> 26 -> 13 -> 6 -> a 6 x 6 convolution)."""
    return nn.Sequential(
        *_conv_bn_relu(nn.Conv3d(3, 96, (5, 7, 7), stride=(1, 2, 2)), nn.BatchNorm3d(96)),
        nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2)),
        *_conv_bn_relu(
            nn.Conv3d(96, 256, (1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)), nn.BatchNorm3d(256)
        ),
        nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        *_conv_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256)),
        *_conv_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256)),
        *_conv_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256)),
        nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2)),
        *_conv_bn_relu(nn.Conv3d(256, 512, (1, 6, 6)), nn.BatchNorm3d(512)),
    )


def _head(dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, dim))


class SyncNet(nn.Module):
    """SyncNet v2: audio and lip embeddings whose Euclidean distance is small when they are in sync.

    Attribute names are the reference file's key prefixes (netcnnaud, netfcaud, netcnnlip, netfclip).
    """

    crop_size = 224

    def __init__(self, embedding_dim: int = EMBEDDING_DIM, backend: str = "syncnet_v2") -> None:
        super().__init__()
        self.netcnnaud = _audio_cnn()
        self.netfcaud = _head(embedding_dim)
        self.netfclip = _head(embedding_dim)
        self.netcnnlip = _lip_cnn()
        self.backend = backend
        self.eval()

    @classmethod
    def random(cls, seed: int = 0) -> SyncNet:
        """Random initialisation (tests, speed): the same pipeline, numbers that mean nothing."""
        with torch.random.fork_rng(devices=[]):  # leave the caller's random stream alone
            torch.manual_seed(seed)
            return cls(backend="random-init")

    def embed_audio(self, mfcc: torch.Tensor) -> torch.Tensor:
        """mfcc [N, 1, 13, 20] (13 coefficients x 20 steps of 10 ms) -> [N, 1024]."""
        return self.netfcaud(self.netcnnaud(mfcc).flatten(1))

    def embed_video(self, frames: torch.Tensor) -> torch.Tensor:
        """frames [N, 3, 5, 224, 224] BGR float 0-255 (five consecutive face crops) -> [N, 1024]."""
        return self.netfclip(self.netcnnlip(frames).flatten(1))


def load_syncnet(path: str | os.PathLike, device: str | torch.device = "cpu") -> SyncNet:
    """SyncNet v2 with the reference's weights from `path` (syncnet_v2.model), in eval mode.

    Never downloads: a missing file is a FileNotFoundError that says where to get it and put it; a file
    with other keys or shapes is a ValueError naming them.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"SyncNet v2 weights not found at {path}. On a machine with internet, download syncnet_v2.model "
            f"from {WEIGHTS_URL} (the file joonson/syncnet_python's download_model.sh fetches) and copy it "
            "to that path (by default <VBENCH_CACHE_DIR>/syncnet/syncnet_v2.model)."
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict like syncnet_v2.model")
    model = SyncNet()
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise ValueError(
            f"{path} is not a SyncNet v2 state dict (syncnet_v2.model): missing keys {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}, unexpected keys {unexpected[:5]}"
            f"{' ...' if len(unexpected) > 5 else ''}"
        )
    state = {**{k: v for k, v in own.items() if k.endswith("num_batches_tracked")}, **state}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:  # shape mismatches
        raise ValueError(f"{path} does not fit SyncNet v2: {e}") from None
    return model.to(device).eval()
