"""One path per value: an arm's overrides stay typed from the YAML to the configuration, each declared
arm is validated once per process however many seeds it has, and `harness run` reads its experiment
file once."""

import pytest

from tests.harness.mini import mini_experiment


@pytest.fixture()
def declared(tmp_path):
    path = tmp_path / "once.yaml"
    text = mini_experiment("once", full="{overrides: {erft.p_img: 0.25, train.lr: 1.0e-4}}")
    path.write_text(text.replace("seeds: [0]", "seeds: [0, 1, 2]"))
    return path


def test_an_arm_is_validated_once_however_many_seeds(declared, monkeypatch):
    from harness.declare import experiment
    from harness.declare.plan import make_plan

    calls = []
    real = experiment.build_config
    monkeypatch.setattr(
        experiment, "build_config", lambda raw, source, *a: calls.append(source) or real(raw, source, *a)
    )
    exp, source = experiment.load_experiment(str(declared))
    assert len(calls) == 2  # base and full, at load
    plan = make_plan(exp, source)
    assert len(calls) == 2 and len(plan.units) == 6  # the 6 units reuse them
    full = [u for u in plan.units if u.arm == "full"]
    assert [u.cfg.train.seed for u in full] == [0, 1, 2] and len({id(u.cfg) for u in full}) == 3  # copies
    assert exp.arm_config("full", source, extra={"erft.p_img": 0.5}).erft.p_img == 0.5 and len(calls) == 3


def test_overrides_reach_the_configuration_typed(declared, monkeypatch):
    """No arm override is turned into text and parsed again: with the command-line parser gone, the
    arms still resolve."""
    from harness.declare import experiment

    exp, source = experiment.load_experiment(str(declared))
    monkeypatch.setattr(experiment, "parse_override", lambda text: pytest.fail(f"parsed {text!r} again"))
    cfg = exp.arm_config("full", source, extra={"train.steps": 7})
    assert cfg.erft.p_img == 0.25 and cfg.train.lr == pytest.approx(1e-4) and cfg.train.steps == 7


def test_run_reads_its_experiment_file_once(declared, home, monkeypatch, capsys):
    from cli import main
    from harness.declare import experiment

    reads = []
    real = experiment.read_mapping
    monkeypatch.setattr(experiment, "read_mapping", lambda p: reads.append(str(p)) or real(p))
    main(["run", str(declared), "--arm", "nope"])  # refused after loading: no such arm
    assert reads == [str(declared)]
