//! Temporary: raw speeds of the pieces of the attention kernel (single thread).
use std::time::Instant;

use cosmos_diffusion::cpu::softmax_exp_row;

fn main() {
    let n = 128 * 1280;
    let mut s: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 * 0.01 - 5.0)
        .collect();
    let q: Vec<f32> = (0..128 * 64).map(|i| (i % 13) as f32 * 0.1).collect();
    let k: Vec<f32> = (0..1280 * 64).map(|i| (i % 11) as f32 * 0.1).collect();
    let mut o = vec![0f32; 128 * 64];
    let reps = 160;
    let t = Instant::now();
    for _ in 0..reps {
        for row in s.chunks_exact_mut(1280) {
            let inv = softmax_exp_row(row);
            row[0] += inv * 1e-30;
        }
    }
    let e = t.elapsed().as_secs_f64();
    println!(
        "softmax: {:.4} s for {} elements -> {:.2} ns/elt",
        e,
        reps * n,
        e * 1e9 / (reps * n) as f64
    );
    let t = Instant::now();
    for _ in 0..reps {
        unsafe {
            gemm::gemm(
                128,
                1280,
                64,
                s.as_mut_ptr(),
                1,
                1280,
                false,
                q.as_ptr(),
                1,
                64,
                k.as_ptr(),
                64,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
    let e = t.elapsed().as_secs_f64();
    println!(
        "QK gemm: {:.4} s -> {:.1} GFLOP/s",
        e,
        reps as f64 * 2.0 * 128.0 * 1280.0 * 64.0 / e / 1e9
    );
    let t = Instant::now();
    for _ in 0..reps {
        unsafe {
            gemm::gemm(
                128,
                64,
                1280,
                o.as_mut_ptr(),
                1,
                64,
                false,
                s.as_ptr(),
                1,
                1280,
                k.as_ptr(),
                1,
                64,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
    let e = t.elapsed().as_secs_f64();
    println!(
        "PV gemm: {:.4} s -> {:.1} GFLOP/s",
        e,
        reps as f64 * 2.0 * 128.0 * 1280.0 * 64.0 / e / 1e9
    );
}
