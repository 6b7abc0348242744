"""Speed and memory of one diffusers CosmosTransformer3DModel forward at the configuration of
`cargo run --release -p cosmos-diffusion --example dit_speed`, for a same-machine, same-session comparison.

    python scripts/reference/dit_speed.py        # needs torch and diffusers (CPU is enough)

Ends with `forward_s=<min of 3> peak_rss_mb=<MB>` like the Rust example.
"""
import resource
import time

import torch
from diffusers import CosmosTransformer3DModel

torch.manual_seed(0)
model = CosmosTransformer3DModel(
    in_channels=16,
    out_channels=16,
    num_attention_heads=16,
    attention_head_dim=64,
    num_layers=2,
    text_embed_dim=1024,
    adaln_lora_dim=256,
    patch_size=(1, 2, 2),
    extra_pos_embed_type="learnable",
).eval()
x = torch.randn(1, 16, 5, 32, 32)
context = torch.randn(1, 64, 1024)
timestep = torch.full((1,), 0.25 * torch.log(torch.tensor(3.7)).item())
padding_mask = torch.zeros(1, 1, 256, 256)
times = []
cpu = []
with torch.no_grad():
    for run in range(4):
        c0 = time.process_time()
        t0 = time.perf_counter()
        model(
            hidden_states=x,
            timestep=timestep,
            encoder_hidden_states=context,
            fps=24,
            padding_mask=padding_mask,
            return_dict=False,
        )
        if run > 0:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"torch {torch.__version__} threads {torch.get_num_threads()}: runs {['%.4f' % t for t in times]}")
print(f"cpu_s_per_forward={sum(cpu) / len(cpu):.3f}")
print(f"forward_s={min(times):.4f} peak_rss_mb={peak:.0f}")
