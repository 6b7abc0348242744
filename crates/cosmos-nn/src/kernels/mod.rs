//! Hand-written CPU kernels for burn's flex backend: the one place the model crates' fast paths
//! live.
//!
//! burn's flex backend is correct everywhere but far from PyTorch on the operations that
//! dominate the Cosmos models: it runs every convolution as im2col + GEMM, its fused attention
//! calls scalar `expf` between small GEMM tiles, its exact GELU is a single-threaded `erff` loop,
//! its elementwise ops take single-threaded passes into new buffers, and it hands one-row
//! products to a single-threaded gemv. The modules here replace those on flex with kernels that
//! read and write flex's storage directly (through burn's backend-extension door,
//! `Tensor::try_into_primitive` / `Tensor::from_primitive`):
//!
//! - [`conv`] + [`winograd`]: the tokenizers' causal convolutions (Winograd F(2×2, 3×3) for the
//!   `(1, 3, 3)` ones, accumulated GEMMs for `(k, 1, 1)`) and per-frame GroupNorm (+ SiLU);
//! - [`attention`]: the DiT's attention, GELU, linear layers, AdaLN, per-head QK-norm + RoPE and
//!   gated residual adds;
//! - [`train`]: GELU and attention under burn's autodiff over flex, with hand-written backward
//!   passes (feature `flex-train`);
//! - [`decode`]: the row-major linear weights and matrix-vector products of AR decoding;
//! - [`flex`]: the shared plumbing (host views of flex storage, new tensors, the output pointer
//!   shared by workers, one wrapper around `gemm::gemm`).
//!
//! Every entry point decides with the one policy [`fast_path`] (flex backend, f32, no autodiff,
//! kernels enabled) and falls back to burn's own operations otherwise; strided inputs are made
//! contiguous by the kernels ([`flex::Host`]), so a view takes the same path as its copy. One
//! switch, `COSMOS_FAST_KERNELS=0`, turns every fast path off for comparisons (the tokenizer's
//! old `COSMOS_TOKENIZER_FAST=0` still works as an alias).

pub mod attention;
pub mod conv;
#[cfg(feature = "flex")]
pub mod decode;
#[cfg(feature = "flex")]
pub mod flex;
#[cfg(feature = "flex-train")]
pub mod train;
#[cfg(feature = "flex")]
pub mod winograd;

use burn::tensor::Tensor;

/// Whether the fast kernels are enabled: `COSMOS_FAST_KERNELS=0` (or the older
/// `COSMOS_TOKENIZER_FAST=0`) turns every one of them off, so that burn's own operations run
/// (for comparisons). Read once.
pub fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| {
        let off = |name: &str| std::env::var(name).is_ok_and(|v| v == "0");
        !(off("COSMOS_FAST_KERNELS") || off("COSMOS_TOKENIZER_FAST"))
    })
}

/// The one rule for "may a kernel take this tensor": the kernels are [`enabled`] and `x` is an
/// f32 tensor on burn's flex backend without autodiff. (Layout is not part of it: the kernels
/// read strided views through a contiguous copy, [`flex::Host`].) Always `false` without the
/// `flex` feature.
///
/// The tokenizer and the DiT each had their own rule before; the tokenizer's (flex, no
/// autodiff, f32, switch) is kept: the DiT's (flex, f32) already excluded autodiff tensors,
/// whose device is not a plain flex one, and gains the switch.
pub fn fast_path<const D: usize>(x: &Tensor<D>) -> bool {
    #[cfg(feature = "flex")]
    {
        let device = x.device();
        enabled()
            && matches!(device.as_dispatch(), burn::backend::DispatchDevice::Flex(_))
            && !device.is_autodiff()
            && x.dtype() == burn::tensor::DType::F32
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = x;
        false
    }
}
