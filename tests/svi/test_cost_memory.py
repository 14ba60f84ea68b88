"""The plan's memory estimate (svi/model/cost.py), with known answers worked by hand."""

from svi.model.cost import DiTDims, block_working_bytes, inference_memory, training_memory

# 2 layers, width 4, FFN 8: small enough to count every term by hand
DIMS = DiTDims(layers=2, dim=4, ffn_dim=8, text_dim=6, image_dim=None, in_channels=4, out_channels=4,
               patch=(1, 2, 2), freq_dim=8)  # fmt: skip


def test_one_blocks_working_set_is_counted_term_by_term():
    # 10 L D + 2 L F + 2 (text + image) D values at 2 bytes: (10*10*4 + 2*10*8 + 2*(3+2)*4) * 2
    assert block_working_bytes(DIMS, video=10, text=3, image=2) == (400 + 160 + 40) * 2


def test_generation_holds_the_weights_and_one_block():
    mem = inference_memory(DIMS, params=100, video=10, text=3, image=2)
    assert mem == {"weights": 200, "activations": 1200, "total": 1400}


def test_training_with_checkpointing_keeps_every_blocks_input_and_one_block():
    mem = training_memory(DIMS, params=100, trainable=10, video=10, text=3, image=2, world=2)
    # weights 100 x 2; gradients 10 x 2 / 2; optimizer 10 x 12 / 2; activations 2 x 10 x 4 x 2 + 1200
    assert mem == {"weights": 200, "gradients": 10, "optimizer": 60, "activations": 1360, "total": 1630}
