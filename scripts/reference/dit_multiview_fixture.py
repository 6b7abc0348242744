"""Parity fixtures for NVIDIA's multi-view DiT, made with cosmos-predict1's own classes.

    python scripts/reference/dit_multiview_fixture.py COSMOS_PREDICT1_DIR OUT_DIR

COSMOS_PREDICT1_DIR is a checkout of nvidia-cosmos/cosmos-predict1 (the fixtures in
testdata/parity/diffusion/ were made at 4ed35faafd01cf3d18e8b98c3875eae63032027a). Needs torch,
torchvision, einops, numpy, safetensors, loguru, tqdm, omegaconf, attrs, pyyaml, iopath; runs on
the CPU in float32. Writes, for each of

- `dit_multiview_cosmos_predict1_small`: `MultiviewGeneralDIT`
  (diffusion/networks/general_dit_multiview.py), Text2World;
- `dit_video2world_multiview_cosmos_predict1_small`: `MultiviewVideoExtendGeneralDIT`
  (diffusion/networks/general_dit_video_conditioned_multiview.py), Video2World,

`NAME.safetensors` (the weights under the class's own state_dict names with the `net.` prefix
of a cosmos-predict1 `model.pt`, plus the `__input__` / `__output__` tensors) and `NAME.json`
(constructor arguments, forward call, shapes).

transformer_engine, megatron and pynvml are not installable on a CPU-only machine; the three
transformer_engine ops the network calls are replaced by plain PyTorch stand-ins (the same as
for the other `dit_*_cosmos_predict1_small` fixtures): RMSNorm `x·rsqrt(mean(x²) + eps)·w`,
DotProductAttention `softmax(q·kᵀ/√d)·v` in the "sbhd" layout, and apply_rotary_pos_emb with
the rotate-half convention on the first rotary dims. megatron's parallel_state only answers
"not initialised" (no context parallelism), pynvml is never called, and `Tensor.cuda()` (which
the RoPE classes call on their frequency ranges) returns the tensor unchanged.
"""
import json
import math
import sys
import types
from pathlib import Path

import torch


def install_standins():
    """Registers stand-ins for the modules a CPU-only machine lacks."""

    class RMSNorm(torch.nn.Module):
        def __init__(self, channels, eps=1e-6, **kwargs):
            super().__init__()
            self.eps = eps
            self.weight = torch.nn.Parameter(torch.ones(channels))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

    class DotProductAttention(torch.nn.Module):
        def __init__(self, heads, dim_head, qkv_format="sbhd", **kwargs):
            super().__init__()
            assert qkv_format == "sbhd"
            self.heads, self.dim_head = heads, dim_head

        def forward(self, q, k, v, **kwargs):
            # [s, b, h, d] -> [b, h, s, d]
            q, k, v = (t.permute(1, 2, 0, 3) for t in (q, k, v))
            scores = q @ k.transpose(-1, -2) / math.sqrt(self.dim_head)
            out = scores.softmax(-1) @ v  # [b, h, s, d]
            s, b = out.shape[2], out.shape[0]
            return out.permute(2, 0, 1, 3).reshape(s, b, self.heads * self.dim_head)

    def apply_rotary_pos_emb(t, freqs, tensor_format="sbhd", fused=True, **kwargs):
        assert tensor_format == "sbhd"
        rot = freqs.shape[-1]
        x, rest = t[..., :rot], t[..., rot:]
        x1, x2 = x.chunk(2, dim=-1)
        rotated = torch.cat([-x2, x1], dim=-1)
        x = x * freqs.cos() + rotated * freqs.sin()
        return torch.cat([x, rest], dim=-1)

    te = types.ModuleType("transformer_engine")
    te_pt = types.ModuleType("transformer_engine.pytorch")
    te_attn = types.ModuleType("transformer_engine.pytorch.attention")
    te_pt.RMSNorm = RMSNorm
    te_attn.DotProductAttention = DotProductAttention
    te_attn.apply_rotary_pos_emb = apply_rotary_pos_emb
    te.pytorch = te_pt
    te_pt.attention = te_attn
    sys.modules.update(
        {
            "transformer_engine": te,
            "transformer_engine.pytorch": te_pt,
            "transformer_engine.pytorch.attention": te_attn,
        }
    )
    megatron = types.ModuleType("megatron")
    core = types.ModuleType("megatron.core")
    parallel_state = types.ModuleType("megatron.core.parallel_state")
    parallel_state.is_initialized = lambda: False
    core.parallel_state = parallel_state
    megatron.core = core
    sys.modules.update(
        {"megatron": megatron, "megatron.core": core, "megatron.core.parallel_state": parallel_state}
    )
    sys.modules["pynvml"] = types.ModuleType("pynvml")
    # The RoPE classes build their frequency ranges with `.cuda()`; on the CPU they stay put.
    torch.Tensor.cuda = lambda self, *args, **kwargs: self


N_VIEWS = 3
VIEW_DIM = 4  # differs from N_VIEWS so that a mix-up of the two shows
T_PER_VIEW = 2
LATENT_HW = (8, 10)
TEXT_TOKENS_PER_VIEW = 4
FPS = 12.0
SIGMA = 3.7

CONFIG = dict(
    max_img_h=16,
    max_img_w=20,
    max_frames=8,
    in_channels=16,
    out_channels=16,
    patch_spatial=2,
    patch_temporal=1,
    concat_padding_mask=True,
    block_config="FA-CA-MLP",
    model_channels=64,
    num_blocks=2,
    num_heads=2,
    mlp_ratio=4.0,
    block_x_format="THWBD",
    crossattn_emb_channels=32,
    use_cross_attn_mask=False,
    pos_emb_cls="rope3d",
    pos_emb_learnable=False,
    pos_emb_interpolation="crop",
    affline_emb_norm=True,
    use_adaln_lora=True,
    adaln_lora_dim=16,
    rope_h_extrapolation_ratio=1.0,
    rope_w_extrapolation_ratio=1.0,
    rope_t_extrapolation_ratio=2.0,
    extra_per_block_abs_pos_emb=True,
    extra_per_block_abs_pos_emb_type="sincos",
    extra_h_extrapolation_ratio=1.0,
    extra_w_extrapolation_ratio=1.0,
    extra_t_extrapolation_ratio=1.0,
    n_views=N_VIEWS,
    view_condition_dim=VIEW_DIM,
    traj_condition_dim=0,
    concat_view_embedding=True,
    concat_traj_embedding=False,
    add_repeat_frame_embedding=True,
)


def perturb(net, generator):
    """Every parameter += 0.05·N(0,1) (norm weights 0.1·N(0,1)) so zero-initialised layers count."""
    with torch.no_grad():
        for name, p in net.named_parameters():
            scale = 0.1 if ("norm" in name or name.endswith("to_q.1.weight") or name.endswith("to_k.1.weight")) else 0.05
            p.add_(scale * torch.randn(p.shape, generator=generator))


def make(case, video2world, out_dir, commit):
    from cosmos_predict1.diffusion.conditioner import DataType
    from cosmos_predict1.diffusion.networks.general_dit_multiview import MultiviewGeneralDIT
    from cosmos_predict1.diffusion.networks.general_dit_video_conditioned_multiview import (
        MultiviewVideoExtendGeneralDIT,
    )

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1234 + int(video2world))
    cls = MultiviewVideoExtendGeneralDIT if video2world else MultiviewGeneralDIT
    net = cls(**CONFIG).eval()
    perturb(net, generator)

    t = N_VIEWS * T_PER_VIEW
    h, w = LATENT_HW
    x = torch.randn(1, 16, t, h, w, generator=generator)
    sigma = torch.tensor([SIGMA])
    timesteps = 0.25 * torch.log(sigma)
    crossattn = torch.randn(1, N_VIEWS * TEXT_TOKENS_PER_VIEW, 32, generator=generator)
    fps = torch.tensor([FPS])
    padding = torch.zeros(1, 1, h, w)
    padding[..., :, -2:] = 1.0  # a padded right border, so the channel is not constant
    frame_repeat = torch.tensor([[0.0, 1.0, 0.5]])
    inputs = {
        "x": x,
        "timesteps": timesteps,
        "crossattn_emb": crossattn,
        "fps": fps,
        "padding_mask": padding,
        "frame_repeat": frame_repeat,
    }
    kwargs = dict(inputs)
    kwargs["data_type"] = DataType.VIDEO
    if video2world:
        mask = torch.zeros(1, 1, N_VIEWS, T_PER_VIEW, h, w)
        mask[:, :, :, 0] = 1.0  # the first latent frame of every view conditions
        mask = mask.reshape(1, 1, t, h, w)
        inputs["condition_video_input_mask"] = mask
        kwargs["condition_video_input_mask"] = mask
    with torch.no_grad():
        out = net(**kwargs)
        again = net(**kwargs)
        # How much each multi-view ingredient matters (sanity: none of them is dead).
        checks = {}
        other = dict(kwargs)
        other["frame_repeat"] = torch.zeros_like(frame_repeat)
        checks["output_change_with_frame_repeat_zero_max_abs_diff"] = (net(**other) - out).abs().max().item()
        other = dict(kwargs)
        ctx = crossattn.clone()
        ctx[:, :TEXT_TOKENS_PER_VIEW] = 0.0
        other["crossattn_emb"] = ctx
        changed = (net(**other) - out).abs()
        per_view = changed.reshape(1, 16, N_VIEWS, T_PER_VIEW, h, w).amax(dim=(0, 1, 3, 4, 5))
        checks["output_change_per_view_with_view0_text_zeroed_max_abs_diff"] = per_view.tolist()
        saved = net.view_embeddings.weight.clone()
        net.view_embeddings.weight.add_(1.0)
        checks["output_change_with_view_embeddings_moved_max_abs_diff"] = (net(**kwargs) - out).abs().max().item()
        net.view_embeddings.weight.copy_(saved)

    tensors = {f"net.{k}": v.detach().contiguous() for k, v in net.state_dict().items()}
    io = {}
    for k, v in inputs.items():
        tensors[f"__{k}__"] = v.contiguous()
    tensors["__sigma__"] = sigma
    tensors["__output__"] = out.contiguous()
    for k, v in tensors.items():
        if k.startswith("__"):
            io[k] = {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out_dir / f"{case}.safetensors"))
    # The Video2World class is constructed with in_channels 16 and adds the mask channel itself;
    # the JSON gives the network's real input width, as the other Video2World fixtures do.
    config = dict(CONFIG, in_channels=17) if video2world else dict(CONFIG)
    meta = {
        "network_class": f"{cls.__module__}.{cls.__name__}",
        "reference": f"nvidia-cosmos/cosmos-predict1 @ {commit}: diffusion/networks/"
        "{general_dit_multiview.py, general_dit_video_conditioned_multiview.py, general_dit.py}, "
        "diffusion/module/{blocks.py, position_embedding.py, attention.py}",
        "made_by": "scripts/reference/dit_multiview_fixture.py (this project), transformer_engine "
        "ops replaced by plain PyTorch stand-ins (see the script)",
        "cosmos_predict1_config": config,
        "constructor_in_channels": CONFIG["in_channels"],
        "config_source": "diffusion/config/base/net.py FADITV2_Multiview_Config (n_views 6, "
        "view_condition_dim 6, add_repeat_frame_embedding, sincos extra per-block embedding, THWBD, "
        "AdaLN-LoRA, affline_emb_norm) at toy widths; n_views 3 and view_condition_dim 4 here",
        "checkpoint_naming": "cosmos-predict1 model.pt (net. prefix)",
        "forward_call": "net(x=__x__, timesteps=__timesteps__, crossattn_emb=__crossattn_emb__, "
        "fps=__fps__, padding_mask=__padding_mask__, frame_repeat=__frame_repeat__, "
        + ("condition_video_input_mask=__condition_video_input_mask__, " if video2world else "")
        + "data_type=DataType.VIDEO)",
        "n_views": N_VIEWS,
        "latent_frames_per_view": T_PER_VIEW,
        "text_tokens_per_view": TEXT_TOKENS_PER_VIEW,
        "layout": "views are concatenated along time: x [B, C, V*T, H, W] (view-major), "
        "crossattn_emb [B, V*M, D] (view v's tokens attend to the v-th block of M text tokens); "
        "input channels are [x, condition mask (Video2World), padding mask, view embedding "
        "(net.view_embeddings(v) + net.repeat_frame_embedding(frame_repeat[:, v]))]; RoPE and the "
        "sincos per-block embedding restart at t = 0 in every view",
        "fps": FPS,
        "sigma": [SIGMA],
        "checks": checks,
        "rerun_max_abs_diff": (again - out).abs().max().item(),
        "num_parameters": sum(p.numel() for p in net.parameters()),
        "state_dict_keys": list(tensors.keys()),
        "io": io,
    }
    (out_dir / f"{case}.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(case, "output", list(out.shape), "max", out.abs().max().item(), "checks", checks)


def main():
    repo, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    commit = sys.argv[3] if len(sys.argv) > 3 else "unknown"
    sys.path.insert(0, str(repo))
    install_standins()
    torch.set_num_threads(1)
    make("dit_multiview_cosmos_predict1_small", False, out_dir, commit)
    make("dit_video2world_multiview_cosmos_predict1_small", True, out_dir, commit)


if __name__ == "__main__":
    main()
