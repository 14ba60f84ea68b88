"""The `harness` command line: validation happens before anything is launched."""

import pytest

from harness.cli import main
from harness.launch import train_command


def test_train_rejects_a_bad_override_with_exit_code_2(capsys, tmp_path):
    rc = main(["train", "erft.p_img=2", f"train.output_dir={tmp_path}"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "erft.p_img" in err and "less than or equal to 1" in err
    assert not list(tmp_path.iterdir())  # nothing written, nothing launched


def test_launch_commands():
    one = train_command("c.yaml", ["train.steps=3"])
    assert one[1:] == ["-m", "svi.train", "--config", "c.yaml", "train.steps=3"]
    tr = train_command("c.yaml", nproc=4, launcher="torchrun", master_port=29999)
    assert tr[1:3] == ["-m", "torch.distributed.run"] and "4" in tr and "29999" in tr
    ds = train_command("c.yaml", nproc=2, launcher="deepspeed", master_port=29999)
    assert ds[0].endswith("deepspeed") and ["--num_gpus", "2"] == ds[ds.index("--num_gpus") :][:2]
    assert ds[ds.index("--module") + 1] == "svi.train"
    multi = train_command("c.yaml", hostfile="hosts", nproc=8)
    assert "--hostfile" in multi
    with pytest.raises(ValueError, match="one process"):
        train_command("c.yaml", nproc=2, launcher="none")
