"""Fixtures of the model and training tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    """Three small clips in the official layout (the pretraining tests' data)."""
    from toyworld.synthetic import write_dataset

    root = tmp_path_factory.mktemp("clips")
    write_dataset(root, categories=("moving",), videos_per_category=3, num_frames=20, height=64, width=64)
    return root
