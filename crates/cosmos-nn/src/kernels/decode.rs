//! A CPU fast path for the matrix-vector products of one-token decoding (the AR model's linear
//! layers; moved from `cosmos-ar`'s `cpu` module).
//!
//! Decoding one token multiplies a single activation row by every weight matrix: the step is
//! bound by how fast the weights stream from memory. burn's CPU (flex) matmul hands an `m = 1`
//! product to a single-threaded axpy-style gemv that reaches about a third of this machine's
//! bandwidth. Here, on the flex backend only, linear weights are stored in PyTorch's `[out, in]`
//! row order (the `[in, out]` tensor burn's `Linear` sees is a transposed view of it, so every
//! other op is unchanged) and products with at most [`MAX_ROWS`] activation rows are computed
//! as row-wise dot products split across rayon's threads, reading each weight once.
//!
//! This goes through burn's documented backend-extension door (`Tensor::try_into_primitive`)
//! to read the weight storage without copying it; on any other backend, dtype or layout the
//! functions decline (`None` / unchanged) and the ordinary burn ops run; so they do when the
//! kernels are switched off ([`super::enabled`]).

use burn::backend::Flex;
use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{DType, Device, Tensor, TensorData};
use rayon::prelude::*;

/// Largest number of activation rows the fast path takes (larger products are compute-bound
/// and burn's blocked gemm wins).
pub const MAX_ROWS: usize = 8;

/// Whether `device` is burn's flex CPU backend.
pub fn is_flex(device: &Device) -> bool {
    let probe = Tensor::<1>::zeros([1], device);
    probe.try_into_primitive::<Flex>().is_ok()
}

/// Stores a linear layer's weight in `[out, in]` row order (a transposed view keeps the logical
/// `[in, out]` shape burn's `Linear` expects). A no-op when it is stored so already.
pub fn store_rows_by_output(linear: &mut Linear) {
    if !super::enabled() {
        return;
    }
    let weight = linear.weight.val();
    if rows_by_output(&weight).is_some() {
        return;
    }
    let device = weight.device();
    let [d_in, d_out] = weight.dims();
    // `into_data` of the transposed view is the contiguous [out, in] copy.
    let data = weight.transpose().into_data();
    let rows = Tensor::<2>::from_data(data, &device);
    debug_assert_eq!(rows.dims(), [d_out, d_in]);
    // Through `consume` / `from_mapped_value`, so the parameter keeps its id and its
    // trainable flag (`Param::initialized` on a plain backend would freeze it for training).
    let (id, _, mapper) = linear.weight.clone().consume();
    linear.weight = Param::from_mapped_value(id, rows.transpose(), mapper);
}

/// If `weight` (`[in, out]`) is an f32 transposed view of a contiguous `[out, in]` flex tensor,
/// returns its primitive.
fn rows_by_output(weight: &Tensor<2>) -> Option<burn::backend::tensor::FloatTensor<Flex>> {
    if !super::enabled() {
        return None;
    }
    let [d_in, d_out] = weight.dims();
    let primitive = weight.clone().try_into_primitive::<Flex>().ok()?;
    let layout = primitive.layout();
    let ok = primitive.dtype() == DType::F32
        && layout.strides() == [1, d_in as isize]
        && layout.start_offset() + d_in * d_out <= primitive.storage::<f32>().len();
    ok.then_some(primitive)
}

/// `x: [batch, n, in] · weight → [batch, n, out]` for a weight stored by
/// [`store_rows_by_output`], as `(rows · xᵀ)ᵀ` with the contiguous `[out, in]` rows on the left:
/// burn's gemm packs that faster than the transposed view on the right (about 25% on a
/// 256-token prefill). `None` when the weight is not stored so.
pub fn matmul_rows(x: &Tensor<3>, weight: &Tensor<2>) -> Option<Tensor<3>> {
    rows_by_output(weight)?;
    let rows = weight.clone().transpose().unsqueeze::<3>();
    Some(rows.matmul(x.clone().swap_dims(1, 2)).swap_dims(1, 2))
}

/// `x: [m, in] · weight: [in, out] → [m, out]` with the row-wise kernel, when `m ≤ MAX_ROWS`
/// and the weight is stored by [`store_rows_by_output`] on the flex backend; `None` otherwise.
pub fn matvec(x: &Tensor<2>, weight: &Tensor<2>) -> Option<Tensor<2>> {
    let [m, d_in] = x.dims();
    let [w_in, d_out] = weight.dims();
    if m == 0 || m > MAX_ROWS || w_in != d_in {
        return None;
    }
    let w = rows_by_output(weight)?;
    let x_host: Vec<f32> = {
        let p = x.clone().try_into_primitive::<Flex>().ok()?;
        if p.dtype() != DType::F32 {
            return None;
        }
        if p.layout().is_contiguous() {
            let start = p.layout().start_offset();
            p.storage::<f32>()[start..start + m * d_in].to_vec()
        } else {
            p.to_contiguous().storage::<f32>()[..m * d_in].to_vec()
        }
    };
    let start = w.layout().start_offset();
    let w_data = &w.storage::<f32>()[start..start + d_in * d_out];

    // Output-major result [out, m] filled in parallel chunks of output rows.
    let mut out_t = vec![0f32; d_out * m];
    let chunk_rows = d_out
        .div_ceil(rayon::current_num_threads().max(1) * 4)
        .max(16);
    out_t
        .par_chunks_mut(chunk_rows * m)
        .enumerate()
        .for_each(|(c, out)| {
            let first = c * chunk_rows;
            for (r, o) in out.chunks_mut(m).enumerate() {
                let row = &w_data[(first + r) * d_in..(first + r + 1) * d_in];
                for (i, slot) in o.iter_mut().enumerate() {
                    *slot = dot(row, &x_host[i * d_in..(i + 1) * d_in]);
                }
            }
        });
    let mut y = vec![0f32; m * d_out];
    for (o, col) in out_t.chunks(m).enumerate() {
        for (i, &v) in col.iter().enumerate() {
            y[i * d_out + o] = v;
        }
    }
    Some(Tensor::from_data(
        TensorData::new(y, [m, d_out]),
        &weight.device(),
    ))
}

/// Dot product with 16 independent accumulators (lets the compiler vectorise it).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = a.len() / 16;
    for (ca, cb) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
        for k in 0..16 {
            acc[k] += ca[k] * cb[k];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for k in chunks * 16..a.len() {
        sum += a[k] * b[k];
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::Distribution;

    #[test]
    fn row_kernel_matches_burn_matmul() {
        let device = Device::flex();
        assert!(is_flex(&device));
        let mut linear = LinearConfig::new(37, 53).with_bias(false).init(&device);
        let x = Tensor::<2>::random([3, 37], Distribution::Normal(0.0, 1.0), &device);
        let expected: Vec<f32> = linear
            .forward(x.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(
            matvec(&x, &linear.weight.val()).is_none(),
            "plain layout declines"
        );
        store_rows_by_output(&mut linear);
        let fast: Vec<f32> = matvec(&x, &linear.weight.val())
            .expect("row layout is taken")
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // burn's own forward still works on the transposed view.
        let plain: Vec<f32> = linear
            .forward(x.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for ((a, b), c) in fast.iter().zip(&expected).zip(&plain) {
            assert!((a - b).abs() < 1e-4 && (c - b).abs() < 1e-4, "{a} {b} {c}");
        }
        let many = Tensor::<2>::zeros([MAX_ROWS + 1, 37], &device);
        assert!(matvec(&many, &linear.weight.val()).is_none());
        // Larger products: (rows · xᵀ)ᵀ.
        let x3 = Tensor::<3>::random([2, 11, 37], Distribution::Normal(0.0, 1.0), &device);
        let want: Vec<f32> = linear
            .forward(x3.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let got = matmul_rows(&x3, &linear.weight.val()).expect("row layout is taken");
        assert_eq!(got.dims(), [2, 11, 53]);
        let got: Vec<f32> = got.into_data().try_to_vec::<f32>().unwrap();
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-4, "{a} {b}");
        }
    }
}
