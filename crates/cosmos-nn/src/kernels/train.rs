//! Training-time fast paths: the same CPU kernels under burn's autodiff on flex, each with a
//! hand-written backward pass.
//!
//! Under `Autodiff<Flex>` burn runs exact GELU through single-threaded `libm::erff` calls in
//! both passes and builds attention from separate matmul, softmax (scalar `expf`) and
//! elementwise ops, each a new buffer and most single-threaded. Measured on the world model's
//! training step (4 blocks, 192 tokens, batch 8, 2 cores), those two were about a fifth of the
//! step. Here:
//! - GELU: forward as at inference, backward `g·(Φ(x) + x·φ(x))` in one parallel pass;
//! - attention: forward as at inference (nothing but `q`, `k`, `v` kept), backward recomputes each
//!   head's probabilities `P` and forms `dV = Pᵀ·dO`, `dS = P ⊙ (dO·Vᵀ − rowsum(P ⊙ dO·Vᵀ))`,
//!   `dQ = s·dS·K`, `dK = s·dSᵀ·Q` with gemm, heads in parallel.
//!
//! Only for the default (non-checkpointing) autodiff over flex with f32 tensors, with the kernels
//! [`super::enabled`]; anything else takes burn's own ops. Behind the `flex-train` feature (it
//! needs burn's autodiff). (Moved from `cosmos-diffusion`'s `cpu/train.rs`.)

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::{FlexTensor, Layout};
use burn::tensor::{Bytes, DType, Tensor};
use rayon::prelude::*;

use super::attention::{normal_cdf, softmax_exp_row};
use super::flex::{Mat, flex_tensor, gemm, host as contiguous};

type Ad = burn::backend::Autodiff<Flex>;
type AdTensor = <Ad as burn::backend::BackendTypes>::FloatTensorPrimitive;

/// Elements per GELU work item.
const CHUNK: usize = 1 << 15;
/// Largest `q_tokens × kv_tokens` per head taken here: the backward pass holds two such f32
/// matrices per worker thread (32 MB at this size); larger attention takes burn's ops.
const MAX_SCORES: usize = 1 << 22;

/// The autodiff primitive of an f32 tensor of the default autodiff over flex, if it is one.
fn autodiff<const D: usize>(x: &Tensor<D>) -> Option<AdTensor> {
    if !super::enabled() || x.dtype() != DType::F32 {
        return None;
    }
    x.clone().try_into_primitive::<Ad>().ok()
}

/// `Φ(x) + x·φ(x)`, the derivative of `x·Φ(x)` ([`super::attention::normal_cdf`]).
#[inline(always)]
fn gelu_derivative(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    let (phi, gauss) = normal_cdf(x);
    phi + x * INV_SQRT_2PI * gauss
}

crate::vectorized! {
/// `grad[i] ·= gelu'(input[i])`.
fn gelu_backward_slice(grad: &mut [f32], input: &[f32]) {
    for (g, &x) in grad.iter_mut().zip(input) {
        *g *= gelu_derivative(x);
    }
}
}

/// The inner flex GELU of the inference path, on a flex primitive.
fn gelu_forward(x: FlexTensor) -> FlexTensor {
    super::attention::flex::gelu(Tensor::<1>::from_primitive::<Flex>(x))
        .try_into_primitive::<Flex>()
        .expect("a flex tensor")
}

#[derive(Debug)]
struct GeluOp;

impl Backward<Flex, 1> for GeluOp {
    type State = FlexTensor;

    fn backward(self, ops: Ops<FlexTensor, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let input = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
            let shape = grad.layout().shape().clone();
            let n = shape.num_elements();
            let (x, xs) = contiguous(input);
            let x = &x.storage::<f32>()[xs..xs + n];
            let scale = |out: &mut [f32]| {
                out.par_chunks_mut(CHUNK)
                    .zip(x.par_chunks(CHUNK))
                    .for_each(|(o, i)| gelu_backward_slice(o, i))
            };
            let (mut g, gs) = contiguous(grad);
            // The incoming gradient is usually this op's alone: scaled in its own buffer.
            if g.is_unique() && gs == 0 {
                scale(&mut g.storage_mut::<f32>()[..n]);
                return g;
            }
            let mut out = g.storage::<f32>()[gs..gs + n].to_vec();
            scale(&mut out);
            FlexTensor::new(
                Bytes::from_elems(out),
                Layout::contiguous(shape),
                DType::F32,
            )
        });
    }
}

/// Exact GELU with the fast kernels in both passes, if `x` is an autodiff-over-flex f32 tensor.
pub fn gelu<const D: usize>(x: &Tensor<D>) -> Option<Tensor<D>> {
    let x = autodiff(x)?;
    let input = x.primitive().clone();
    let out = match GeluOp
        .prepare::<NoCheckpointing>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let y = gelu_forward(input.clone());
            prep.finish(input, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(gelu_forward(input)),
    };
    Some(Tensor::from_primitive::<Ad>(out))
}

/// `q`, `k`, `v` of one attention call, as flex tensors `[batch, heads, tokens, dim]`.
#[derive(Debug, Clone)]
struct AttentionState {
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
}

#[derive(Debug)]
struct AttentionOp;

/// Row-major copy of head `(b, h)` of a `[batch, heads, tokens, dim]` tensor: `tokens × dim`.
fn head_rows(x: &FlexTensor, b: usize, h: usize) -> Vec<f32> {
    let dims = x.layout().shape();
    let (n, d) = (dims[2], dims[3]);
    let s = x.layout().strides();
    let data = x.storage::<f32>();
    let base = x.layout().start_offset() as isize + b as isize * s[0] + h as isize * s[1];
    let mut out = Vec::with_capacity(n * d);
    for t in 0..n {
        let row = base + t as isize * s[2];
        if s[3] == 1 {
            out.extend_from_slice(&data[row as usize..row as usize + d]);
        } else {
            out.extend((0..d).map(|c| data[(row + c as isize * s[3]) as usize]));
        }
    }
    out
}

/// `dst = alpha·lhs·rhs` for an `m × n` row-major `dst` (zeroed or not: not read), `lhs` an
/// `m × k` and `rhs` a `k × n` matrix.
fn matmul(dst: &mut [f32], m: usize, n: usize, k: usize, lhs: Mat, rhs: Mat, alpha: f32) {
    gemm(dst, n, [m, n, k], lhs, rhs, false, 0.0, alpha, false);
}

impl Backward<Flex, 3> for AttentionOp {
    type State = AttentionState;

    fn backward(self, ops: Ops<AttentionState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let AttentionState { q, k, v } = ops.state;
        let grad = grads.consume::<Flex>(&ops.node);
        let [parent_q, parent_k, parent_v] = ops.parents;
        let (qd, kd, vd) = (q.layout().shape(), k.layout().shape(), v.layout().shape());
        let (b, h, nq, d) = (qd[0], qd[1], qd[2], qd[3]);
        let (nk, dv) = (kd[2], vd[3]);
        let scale = 1.0 / (d as f32).sqrt();
        let (g, gs) = contiguous(grad);
        let g = &g.storage::<f32>()[gs..gs + b * nq * h * dv];
        let row_stride = h * dv;

        let mut dq = vec![0f32; b * h * nq * d];
        let mut dk = vec![0f32; b * h * nk * d];
        let mut dv_out = vec![0f32; b * h * nk * dv];
        dq.par_chunks_mut(nq * d)
            .zip(dk.par_chunks_mut(nk * d))
            .zip(dv_out.par_chunks_mut(nk * dv))
            .enumerate()
            .for_each(|(bh, ((dq, dk), dvh))| {
                let (bi, hi) = (bh / h, bh % h);
                let (qh, kh, vh) = (
                    head_rows(&q, bi, hi),
                    head_rows(&k, bi, hi),
                    head_rows(&v, bi, hi),
                );
                // dO of this head: rows of `dv` at column `hi·dv` of `[nq, heads·dv]`.
                let go = &g[(bi * nq) * row_stride + hi * dv..];
                let mut p = vec![0f32; nq * nk];
                let mut dp = vec![0f32; nq * nk];
                {
                    // S = s·Q·Kᵀ, then P = softmax(S) row by row.
                    matmul(
                        &mut p,
                        nq,
                        nk,
                        d,
                        Mat::rows(&qh, d),
                        Mat::cols(&kh, d),
                        scale,
                    );
                    for row in p.chunks_exact_mut(nk) {
                        let inv = softmax_exp_row(row);
                        row.iter_mut().for_each(|x| *x *= inv);
                    }
                    // dV = Pᵀ·dO.
                    matmul(
                        dvh,
                        nk,
                        dv,
                        nq,
                        Mat::cols(&p, nk),
                        Mat::rows(go, row_stride),
                        1.0,
                    );
                    // dP = dO·Vᵀ.
                    matmul(
                        &mut dp,
                        nq,
                        nk,
                        dv,
                        Mat::rows(go, row_stride),
                        Mat::cols(&vh, dv),
                        1.0,
                    );
                }
                // dS = P ⊙ (dP − rowsum(P ⊙ dP)), in place of dP.
                for (prow, drow) in p.chunks_exact(nk).zip(dp.chunks_exact_mut(nk)) {
                    let dot: f32 = prow.iter().zip(drow.iter()).map(|(a, b)| a * b).sum();
                    for (dsv, &pv) in drow.iter_mut().zip(prow) {
                        *dsv = pv * (*dsv - dot);
                    }
                }
                {
                    // dQ = s·dS·K, dK = s·dSᵀ·Q.
                    matmul(dq, nq, d, nk, Mat::rows(&dp, nk), Mat::rows(&kh, d), scale);
                    matmul(dk, nk, d, nq, Mat::cols(&dp, nk), Mat::rows(&qh, d), scale);
                }
            });
        for (parent, data, n, width) in [
            (parent_q, dq, nq, d),
            (parent_k, dk, nk, d),
            (parent_v, dv_out, nk, dv),
        ] {
            if let Some(node) = parent {
                grads.register::<Flex>(node.id, flex_tensor(data, &[b, h, n, width]));
            }
        }
    }
}

/// The inner flex attention of the inference path, on flex primitives.
fn attention_forward(q: FlexTensor, k: FlexTensor, v: FlexTensor) -> FlexTensor {
    super::attention::flex::attention(
        Tensor::<4>::from_primitive::<Flex>(q),
        Tensor::<4>::from_primitive::<Flex>(k),
        Tensor::<4>::from_primitive::<Flex>(v),
    )
    .try_into_primitive::<Flex>()
    .expect("a flex tensor")
}

/// `softmax(q·kᵀ/√dim)·v` merged to `[batch, q_tokens, heads·dim]` with the fast kernels in both
/// passes, if `q`, `k`, `v` are autodiff-over-flex f32 tensors of a size taken here.
pub fn attention(q: &Tensor<4>, k: &Tensor<4>, v: &Tensor<4>) -> Option<Tensor<3>> {
    let ([b, h, nq, d], [kb, kh, nk, kd], [vb, vh, vn, _]) = (q.dims(), k.dims(), v.dims());
    if kb != b || vb != b || kh != h || vh != h || kd != d || vn != nk || nq * nk > MAX_SCORES {
        return None;
    }
    let (q, k, v) = (autodiff(q)?, autodiff(k)?, autodiff(v)?);
    let state = AttentionState {
        q: q.primitive().clone(),
        k: k.primitive().clone(),
        v: v.primitive().clone(),
    };
    let out = match AttentionOp
        .prepare::<NoCheckpointing>([q.node(), k.node(), v.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let y = attention_forward(state.q.clone(), state.k.clone(), state.v.clone());
            prep.finish(state, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(attention_forward(state.q, state.k, state.v)),
    };
    Some(Tensor::from_primitive::<Ad>(out))
}

#[cfg(test)]
mod tests {
    use crate::attention::{merge_heads, scaled_dot_product_attention};
    use burn::tensor::{Device, Distribution, Tensor};

    use crate::parity::values;

    fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
            .fold(0f32, f32::max);
        assert!(worst < tol, "{what}: worst relative difference {worst}");
    }

    #[test]
    fn gelu_gradients_match_burns_own() {
        let device = Device::flex().autodiff();
        let x0 = Tensor::<2>::random([7, 300], Distribution::Normal(0.0, 2.0), &device);
        let w = Tensor::<2>::random([7, 300], Distribution::Default, &device);
        let x = x0.clone().require_grad();
        let fast = super::gelu(&x).expect("taken on autodiff flex");
        let grads = (fast.clone() * w.clone()).sum().backward();
        let g_fast = x.grad(&grads).unwrap();
        let x = x0.require_grad();
        let slow = burn::tensor::activation::gelu(x.clone());
        let grads = (slow.clone() * w).sum().backward();
        let g_slow = x.grad(&grads).unwrap();
        close(&values(fast), &values(slow), 1e-6, "forward");
        close(&values(g_fast), &values(g_slow), 1e-5, "gradient");
    }

    #[test]
    fn attention_gradients_match_burns_own() {
        let device = Device::flex().autodiff();
        let (b, h, nq, nk, d) = (2, 3, 37, 45, 16);
        let q0 = Tensor::<4>::random([b, h, nq, d], Distribution::Normal(0.0, 1.0), &device);
        let k0 = Tensor::<4>::random([b, h, nk, d], Distribution::Normal(0.0, 1.0), &device);
        // Values as a strided view (heads swapped in from `[b, n, h, d]`), as the DiT makes them.
        let v0 = Tensor::<4>::random([b, nk, h, d], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<3>::random([b, nq, h * d], Distribution::Default, &device);
        let run = |fast: bool| {
            let (q, k, v) = (
                q0.clone().require_grad(),
                k0.clone().require_grad(),
                v0.clone().require_grad(),
            );
            let vv = v.clone().swap_dims(1, 2);
            let out = if fast {
                super::attention(&q, &k, &vv).expect("taken on autodiff flex")
            } else {
                merge_heads(scaled_dot_product_attention(
                    q.clone(),
                    k.clone(),
                    vv,
                    None,
                    None,
                    None,
                    false,
                ))
            };
            let grads = (out.clone() * w.clone()).sum().backward();
            (
                values(out),
                values(q.grad(&grads).unwrap()),
                values(k.grad(&grads).unwrap()),
                values(v.grad(&grads).unwrap()),
            )
        };
        let (fast, slow) = (run(true), run(false));
        close(&fast.0, &slow.0, 1e-5, "output");
        close(&fast.1, &slow.1, 1e-4, "dQ");
        close(&fast.2, &slow.2, 1e-4, "dK");
        close(&fast.3, &slow.3, 1e-4, "dV");
    }

    #[test]
    fn plain_flex_tensors_are_left_to_the_inference_paths() {
        let x = Tensor::<2>::ones([2, 3], &Device::flex());
        assert!(super::gelu(&x).is_none());
    }
}
