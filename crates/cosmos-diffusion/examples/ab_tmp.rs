//! Temporary: A/B of attention and GELU paths, interleaved to cancel machine load.
use cosmos_diffusion::NoiseGenerator;
use cosmos_nn::attention::{merge_heads, scaled_dot_product_attention};
use cosmos_nn::burn::tensor::{Device, Tensor};
use std::time::Instant;

fn time<F: FnMut()>(mut f: F) -> f64 {
    let s = Instant::now();
    f();
    s.elapsed().as_secs_f64()
}

fn main() {
    let device = Device::flex();
    let mut rng = NoiseGenerator::new(0);
    let q = rng.tensor([1, 1280, 16, 64], &device).swap_dims(1, 2);
    let k = rng.tensor([1, 1280, 16, 64], &device).swap_dims(1, 2);
    let v = rng.tensor([1, 1280, 16, 64], &device).swap_dims(1, 2);
    let h = rng.tensor([1, 1280, 4096], &device);
    let (mut a, mut b, mut c, mut d) = (vec![], vec![], vec![], vec![]);
    for _ in 0..5 {
        a.push(time(|| {
            let y = merge_heads(scaled_dot_product_attention(
                q.clone(),
                k.clone(),
                v.clone(),
                None,
                None,
                None,
                false,
            ));
            let _ = y.into_data();
        }));
        b.push(time(|| {
            let y = cosmos_diffusion::cpu::attention(q.clone(), k.clone(), v.clone());
            let _ = y.into_data();
        }));
        c.push(time(|| {
            let y = cosmos_nn::burn::tensor::activation::gelu(h.clone() * 1.0);
            let _ = y.into_data();
        }));
        d.push(time(|| {
            let y = cosmos_diffusion::cpu::gelu(h.clone() * 1.0);
            let _ = y.into_data();
        }));
    }
    let m = |x: &Vec<f64>| x.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "attention burn {:.4} ours {:.4} | gelu(+mul) burn {:.4} ours {:.4}",
        m(&a),
        m(&b),
        m(&c),
        m(&d)
    );
}
