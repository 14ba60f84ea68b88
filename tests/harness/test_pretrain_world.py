"""Which toy world a pretraining and a toy model's inputs are made in (world 2 unless declared)."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from harness.declare.pretrain_experiment import load
from harness.run.provision import toy_world
from svi.config import ConfigError
from svi.model.presets import TOY_WEIGHTS

EXPERIMENTS = Path(__file__).resolve().parents[2] / "configs" / "experiments"


def declaration(name: str, overrides=()):
    path = EXPERIMENTS / f"{name}.yaml"
    return load(path, yaml.safe_load(path.read_text()), list(overrides))


def test_world_version_sets_the_world_the_model_records():
    w3 = declaration("pretrain_toy_w3")
    assert w3.world.version == 3 and w3.pretrain.toy_world == 3 and w3.world_key()["version"] == 3
    w2 = declaration("pretrain_toy")
    assert w2.pretrain.toy_world == 2 and w2.pretrain.vae.base_dim is None
    # world 2's training set keeps the folder key it had before worlds were declared
    assert w2.world_key() == {k: v for k, v in w2.world.model_dump().items() if k != "version"}
    with pytest.raises(ConfigError, match="set world.version alone"):
        declaration("pretrain_toy_w3", ["pretrain.toy_world=2"])
    with pytest.raises(ConfigError, match="version"):
        declaration("pretrain_toy", ["world.version=4"])


def test_a_toy_models_inputs_are_written_in_its_weights_world(tmp_path):
    def cfg(weights):
        return SimpleNamespace(model=SimpleNamespace(preset="toy", weights=weights))

    assert toy_world(cfg(None)) == json.loads((TOY_WEIGHTS / "toy_world.json").read_text())["toy_world"]
    (tmp_path / "toy_world.json").write_text(json.dumps({"toy_world": 3}))
    assert toy_world(cfg(str(tmp_path))) == 3


def test_init_run_names_a_pretraining_of_this_workspace(tmp_path, monkeypatch):
    """`init: run:NAME` is NAME's model folder under HARNESS_HOME, refused before any work until it exists."""
    import shutil

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="run `harness run pretrain_toy_w3` first"):
        declaration("pretrain_toy_w3_first", ["pretrain.init=run:pretrain_toy_w3"])
    with pytest.raises(ConfigError, match="init run"):
        declaration("pretrain_toy_w3_first", ["pretrain.init=run:../elsewhere"])
    model = tmp_path / "runs" / "pretrain_toy_w3" / "pretrain" / "model"
    shutil.copytree(TOY_WEIGHTS, model)
    made = declaration("pretrain_toy_w3_first", ["pretrain.init=run:pretrain_toy_w3"])
    assert made.pretrain.init == str(model)
