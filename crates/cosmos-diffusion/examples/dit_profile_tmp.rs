//! Temporary: per-op timing of one DiT block at the benchmark size.
use std::time::Instant;

use cosmos_diffusion::{DitConfig, NoiseGenerator};
use cosmos_nn::attention::split_heads;
use cosmos_nn::burn::tensor::{Device, Tensor};
use cosmos_nn::norm::layer_normalize;
use cosmos_nn::rope::apply_rotary;

fn t<const D: usize>(
    label: &str,
    acc: &mut Vec<(String, f64)>,
    f: impl FnOnce() -> Tensor<D>,
) -> Tensor<D> {
    let s = Instant::now();
    let y = f();
    let _ = y
        .clone()
        .slice(core::array::from_fn::<_, D, _>(|_| 0..1))
        .into_data();
    let e = s.elapsed().as_secs_f64();
    if let Some(x) = acc.iter_mut().find(|(l, _)| l == label) {
        x.1 += e;
    } else {
        acc.push((label.to_string(), e));
    }
    y
}

fn main() {
    let device = Device::flex();
    let config = DitConfig {
        in_channels: 16,
        out_channels: 16,
        num_attention_heads: 16,
        attention_head_dim: 64,
        num_layers: 2,
        text_embed_dim: 1024,
        adaln_lora_dim: 256,
        ..DitConfig::default()
    };
    let dit = config.init(&device).unwrap();
    let mut rng = NoiseGenerator::new(0);
    let x0 = rng.tensor([1, 1280, 1024], &device);
    let ctx = rng.tensor([1, 64, 1024], &device);
    let emb = rng.tensor([1, 1024], &device);
    let temb = rng.tensor([1, 3072], &device);
    let pos = dit.positions([5, 32, 32], Some(24.0)).unwrap();
    let block = &dit.transformer_blocks[0];
    for round in 0..3 {
        let mut acc: Vec<(String, f64)> = vec![];
        let start = Instant::now();
        let mut x = x0.clone();
        for _ in 0..2 {
            x = t("add_pos", &mut acc, || {
                x.clone() + pos.extra.clone().unwrap()
            });
            let v = block.norm1.vectors(emb.clone(), Some(temb.clone()));
            let ln = t("layernorm", &mut acc, || layer_normalize(x.clone(), 1e-6));
            let h = t("modulate", &mut acc, || {
                ln * (v[1].clone() + 1.0) + v[0].clone()
            });
            let a = &block.attn1;
            let q = t("linear_qkv", &mut acc, || a.q.forward(h.clone()));
            let k = t("linear_qkv", &mut acc, || a.k.forward(h.clone()));
            let vv = t("linear_qkv", &mut acc, || a.v.forward(h.clone()));
            let q = t("split", &mut acc, || split_heads(q, 16));
            let k = t("split", &mut acc, || split_heads(k, 16));
            let vv = t("split", &mut acc, || split_heads(vv, 16));
            let q = t("qk_rmsnorm", &mut acc, || {
                a.q_norm.as_ref().unwrap().forward(q)
            });
            let k = t("qk_rmsnorm", &mut acc, || {
                a.k_norm.as_ref().unwrap().forward(k)
            });
            let r = &pos.rotary;
            let q = t("rope", &mut acc, || {
                apply_rotary(q, r.cos.clone(), r.sin.clone(), r.layout)
            });
            let k = t("rope", &mut acc, || {
                apply_rotary(k, r.cos.clone(), r.sin.clone(), r.layout)
            });
            let y = t("sdpa_self", &mut acc, || {
                cosmos_diffusion::cpu::attention(q, k, vv)
            });
            let y = t("linear_out", &mut acc, || a.out.forward(y));
            x = t("gate_add", &mut acc, || x.clone() + v[2].clone() * y);
            // cross
            let v = block.norm2.vectors(emb.clone(), Some(temb.clone()));
            let ln = t("layernorm", &mut acc, || layer_normalize(x.clone(), 1e-6));
            let h = t("modulate", &mut acc, || {
                ln * (v[1].clone() + 1.0) + v[0].clone()
            });
            let y = t("cross_attn_total", &mut acc, || {
                block.attn2.forward(h, Some(ctx.clone()), None, None)
            });
            x = t("gate_add", &mut acc, || x.clone() + v[2].clone() * y);
            let v = block.norm3.vectors(emb.clone(), Some(temb.clone()));
            let ln = t("layernorm", &mut acc, || layer_normalize(x.clone(), 1e-6));
            let h = t("modulate", &mut acc, || {
                ln * (v[1].clone() + 1.0) + v[0].clone()
            });
            let h = t("ff_linear1", &mut acc, || block.ff.proj_in.forward(h));
            let h = t("gelu", &mut acc, || cosmos_diffusion::cpu::gelu(h));
            let h = t("ff_linear2", &mut acc, || block.ff.proj_out.forward(h));
            x = t("gate_add", &mut acc, || x.clone() + v[2].clone() * h);
        }
        let total = start.elapsed().as_secs_f64();
        if round > 0 {
            println!("round {round}: total {total:.3}");
            for (l, e) in &acc {
                println!("  {l:18} {e:.4}");
            }
        }
    }
}
