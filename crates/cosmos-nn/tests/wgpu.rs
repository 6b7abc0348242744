//! The shared layers on burn's wgpu backend agree with the flex CPU backend.
//!
//! Runs with `--features wgpu`. On a machine without a GPU, a software Vulkan driver (Debian's
//! `mesa-vulkan-drivers`, llvmpipe) provides the adapter; `COSMOS_WGPU_DEVICE=gpu` picks the
//! default hardware adapter instead.
#![cfg(feature = "wgpu")]

use cosmos_nn::adaln::AdaLnModulationConfig;
use cosmos_nn::attention::{MultiHeadAttentionConfig, Rotary};
use cosmos_nn::burn::module::Module;
use cosmos_nn::burn::tensor::module::conv3d;
use cosmos_nn::burn::tensor::ops::ConvOptions;
use cosmos_nn::burn::tensor::{Device, DeviceKind, Distribution, Tensor};
use cosmos_nn::rope::{Rope3d, RotaryLayout};

fn wgpu_device() -> Device {
    match std::env::var("COSMOS_WGPU_DEVICE").as_deref() {
        Ok("gpu") => Device::wgpu(DeviceKind::DefaultDevice),
        _ => Device::wgpu(DeviceKind::Cpu),
    }
}

fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    let a: Vec<f32> = a.into_data().convert::<f32>().try_to_vec().unwrap();
    let b: Vec<f32> = b.into_data().convert::<f32>().try_to_vec().unwrap();
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn same_data<const D: usize>(t: &Tensor<D>, device: &Device) -> Tensor<D> {
    Tensor::from_data(t.to_data(), device)
}

#[test]
fn attention_with_rope_matches_flex() {
    let cpu = Device::flex();
    let gpu = wgpu_device();
    let attn = MultiHeadAttentionConfig::new(32, 4, 8)
        .with_n_kv_heads(Some(2))
        .with_qk_norm(true)
        .init(&cpu);
    let rope = Rope3d::new([4, 2, 2], 10000.0, [2.0, 1.0, 1.0], 24.0);
    let x = Tensor::<3>::random([1, 12, 32], Distribution::Normal(0.0, 1.0), &cpu);
    let rotary = |device: &Device| {
        let (cos, sin) = rope.cos_sin([3, 2, 2], Some(24.0), RotaryLayout::Halves, device);
        Rotary {
            cos,
            sin,
            layout: RotaryLayout::Halves,
        }
    };
    let on_cpu = attn.forward(x.clone(), None, Some(&rotary(&cpu)), None);
    let attn_gpu = attn.clone().to_device(&gpu);
    let on_gpu = attn_gpu.forward(same_data(&x, &gpu), None, Some(&rotary(&gpu)), None);
    let d = max_diff(on_cpu, on_gpu);
    assert!(d < 1e-4, "attention differs by {d}");
}

#[test]
fn adaln_and_conv3d_match_flex() {
    let cpu = Device::flex();
    let gpu = wgpu_device();
    let m = AdaLnModulationConfig::new(16)
        .with_lora_dim(Some(4))
        .init(&cpu);
    let x = Tensor::<3>::random([2, 5, 16], Distribution::Normal(0.0, 1.0), &cpu);
    let c = Tensor::<2>::random([2, 16], Distribution::Normal(0.0, 1.0), &cpu);
    let (a, _) = m.forward(x.clone(), c.clone(), None);
    let (b, _) = m
        .clone()
        .to_device(&gpu)
        .forward(same_data(&x, &gpu), same_data(&c, &gpu), None);
    let d = max_diff(a, b);
    assert!(d < 1e-4, "adaln differs by {d}");

    let input = Tensor::<5>::random([1, 4, 5, 8, 8], Distribution::Normal(0.0, 1.0), &cpu);
    let weight = Tensor::<5>::random([6, 4, 3, 3, 3], Distribution::Normal(0.0, 0.2), &cpu);
    let opts = || ConvOptions::new([1, 1, 1], [1, 1, 1], [1, 1, 1], 1);
    let a = conv3d(input.clone(), weight.clone(), None, opts());
    let b = conv3d(
        same_data(&input, &gpu),
        same_data(&weight, &gpu),
        None,
        opts(),
    );
    let d = max_diff(a, b);
    assert!(d < 1e-4, "conv3d differs by {d}");
}
