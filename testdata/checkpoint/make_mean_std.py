"""Writes `mean_std.pt`: a Cosmos continuous tokenizer's latent statistics as its Hugging Face
repositories ship them, `torch.save((mean, std))` of two float32 tensors `[1, C, T, 1, 1]`
(here C = 16 latent channels, T = 2 latent frames), without PyTorch, with the stand-in pickler
of make_pt_fixtures.py.

    python3 testdata/checkpoint/make_mean_std.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_pt_fixtures as pt  # noqa: E402

C, T = 16, 2
# mean[c, t] = (c - 8) / 16 + t / 4 and std[c, t] = 0.5 + c / 32 + t / 8: exact in f32.
mean = [(c - 8) / 16 + t / 4 for c in range(C) for t in range(T)]
std = [0.5 + c / 32 + t / 8 for c in range(C) for t in range(T)]
shape = (1, C, T, 1, 1)
pt.torch_save_zip(
    os.path.join(pt.HERE, "mean_std.pt"),
    (pt.Tensor(pt.Storage("f32", mean), shape), pt.Tensor(pt.Storage("f32", std), shape)),
)
