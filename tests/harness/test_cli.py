"""The `harness` command line: validation happens before anything is launched."""

import pytest

from cli import main
from harness.run.launch import child_env, threads_per_rank, train_command


def test_train_rejects_a_bad_override_with_exit_code_2(capsys, tmp_path):
    rc = main(["train", "erft.p_img=2", f"train.output_dir={tmp_path}"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "erft.p_img" in err and "less than or equal to 1" in err
    assert not list(tmp_path.iterdir())  # nothing written, nothing launched


def test_launch_commands():
    one = train_command("c.yaml", ["train.steps=3"])
    assert one[1:] == ["-m", "svi.training.train", "--config", "c.yaml", "train.steps=3"]
    tr = train_command("c.yaml", nproc=4, launcher="torchrun", master_port=29999)
    assert tr[1:3] == ["-m", "torch.distributed.run"] and "4" in tr and "29999" in tr
    ds = train_command("c.yaml", nproc=2, launcher="deepspeed", master_port=29999)
    assert ds[0].endswith("deepspeed") and ["--num_gpus", "2"] == ds[ds.index("--num_gpus") :][:2]
    assert ds[ds.index("--module") + 1] == "svi.training.train"
    multi = train_command("c.yaml", hostfile="hosts", nproc=8)
    assert "--hostfile" in multi
    with pytest.raises(ValueError, match="one process"):
        train_command("c.yaml", nproc=2, launcher="none")


def test_threads_are_the_cores_shared_by_this_hosts_ranks(monkeypatch):
    """One training process uses every core; N ranks on one host use cores / N each (the demo's
    trainings used to run on one of two cores: 1.8 s per step, load average 1.0)."""
    assert threads_per_rank(1, cores=2) == 2
    assert threads_per_rank(2, cores=2) == 1
    assert threads_per_rank(4, cores=16) == 4
    assert threads_per_rank(3, cores=2) == 1  # never zero
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert child_env()["OMP_NUM_THREADS"] == "8"
    assert child_env(ranks=2)["OMP_NUM_THREADS"] == "4"
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice wins
    assert child_env(ranks=2)["OMP_NUM_THREADS"] == "3"
