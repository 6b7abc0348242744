//! The plumbing every flex kernel shares: host views of flex storage, new flex tensors over a
//! `Vec<f32>`, the output pointer the rayon workers share, and one wrapper around `gemm::gemm`.
//!
//! Hand-written because burn offers no safe access to a backend's storage: the kernels go
//! through its backend-extension door (`Tensor::try_into_primitive::<Flex>` /
//! `Tensor::from_primitive`) and read the `FlexTensor`'s buffer and layout themselves. The
//! model crates each had their own copies of these helpers (tokenizer: `Host`, `new_tensor`,
//! `OutPtr`, `zeroed`; DiT: `host`, `new_tensor`, `written`, its own `OutPtr`); these are the
//! one set, identical in what they compute.

use std::mem::MaybeUninit;

use burn::backend::Flex;
use burn::backend::flex::{FlexTensor, Layout};
use burn::tensor::{Bytes, DType, Shape, Tensor};

/// The flex primitive of a tensor that passed [`super::fast_path`].
pub fn primitive<const D: usize>(x: Tensor<D>) -> FlexTensor {
    x.try_into_primitive::<Flex>()
        .expect("checked by `fast_path`: a flex float tensor")
}

/// A contiguous version of a flex tensor (itself when it already is) and the offset of its
/// first element in its storage.
pub fn host(x: FlexTensor) -> (FlexTensor, usize) {
    let x = if x.layout().is_contiguous() {
        x
    } else {
        x.to_contiguous()
    };
    let start = x.layout().start_offset();
    (x, start)
}

/// A contiguous flex tensor and the extent of its elements in its storage.
pub struct Host {
    tensor: FlexTensor,
    start: usize,
    len: usize,
}

impl Host {
    /// The contiguous host view of `x` (a copy only if `x` is a strided view).
    pub fn new<const D: usize>(x: Tensor<D>) -> Self {
        let (tensor, start) = host(primitive(x));
        let len = tensor.layout().num_elements();
        Self { tensor, start, len }
    }

    /// The tensor's elements in row-major order.
    pub fn data(&self) -> &[f32] {
        &self.tensor.storage::<f32>()[self.start..self.start + self.len]
    }
}

/// A flex f32 tensor over `data` with a contiguous `shape`.
pub fn new_tensor<const D: usize>(data: Vec<f32>, shape: [usize; D]) -> Tensor<D> {
    Tensor::from_primitive::<Flex>(flex_tensor(data, &shape))
}

/// A flex f32 primitive over `data` with a contiguous `shape`.
pub fn flex_tensor(data: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(Shape::from(shape.to_vec())),
        DType::F32,
    )
}

/// A zero-filled output buffer of `n` elements (zeroed pages from the allocator).
pub fn zeroed(n: usize) -> Vec<f32> {
    vec![0f32; n]
}

/// A vector of `len` f32 produced by `fill`, which must write every element of the slice it
/// is given (the row kernels do: each writes whole rows). Skips zero-filling a buffer that is
/// overwritten anyway: for a reused heap block that is a single-threaded `memset` of the whole
/// output before the parallel kernel starts.
pub fn written(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(len);
    fill(&mut out.spare_capacity_mut()[..len]);
    // SAFETY: `fill` initialised all `len` elements (the callers' kernels write every row of
    // the slice, each row in full).
    unsafe { out.set_len(len) };
    out
}

/// Raw output pointer shared by the workers, each writing disjoint elements.
#[derive(Clone, Copy)]
pub struct OutPtr(pub *mut f32);
// SAFETY: workers write disjoint elements of one live buffer.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The pointer (a method, so closures capture the `Send` wrapper, not the raw field).
    pub fn get(self) -> *mut f32 {
        self.0
    }
}

/// A strided f32 matrix operand of [`gemm`]: element `(i, j)` is
/// `data[i·row_stride + j·col_stride]`.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub row_stride: isize,
    pub col_stride: isize,
}

impl<'a> Mat<'a> {
    /// A matrix read from `data` through the given strides.
    pub fn new(data: &'a [f32], row_stride: isize, col_stride: isize) -> Self {
        Self {
            data,
            row_stride,
            col_stride,
        }
    }

    /// A row-major matrix with rows `ld` elements apart.
    pub fn rows(data: &'a [f32], ld: usize) -> Self {
        Self::new(data, ld as isize, 1)
    }

    /// A column-major matrix (the transpose of row-major rows `ld` apart).
    pub fn cols(data: &'a [f32], ld: usize) -> Self {
        Self::new(data, 1, ld as isize)
    }

    /// Panics unless every element of a `rows × cols` matrix lies inside `data`.
    fn check(&self, rows: usize, cols: usize, what: &str) {
        if rows == 0 || cols == 0 {
            return;
        }
        assert!(
            self.row_stride >= 0 && self.col_stride >= 0,
            "gemm {what}: negative strides"
        );
        let last = (rows - 1) * self.row_stride as usize + (cols - 1) * self.col_stride as usize;
        assert!(
            last < self.data.len(),
            "gemm {what}: a {rows}×{cols} matrix does not fit {} elements",
            self.data.len()
        );
    }
}

/// `dst = alpha·dst + beta·lhs·rhs` (`dst` read only if `read_dst`; otherwise
/// `dst = beta·lhs·rhs`) for an `m × n` row-major `dst` with rows `dst_row_stride` apart,
/// `lhs: m × k`, `rhs: k × n`, by gemm (`parallel`: on all of rayon's threads, else on this one).
/// The one safe form of the raw 19-argument `gemm::gemm`: every operand is bounds-checked.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    dst: &mut [f32],
    dst_row_stride: usize,
    [m, n, k]: [usize; 3],
    lhs: Mat,
    rhs: Mat,
    read_dst: bool,
    alpha: f32,
    beta: f32,
    parallel: bool,
) {
    Mat::rows(dst, dst_row_stride).check(m, n, "dst");
    // SAFETY: `dst` holds the `m × n` matrix (checked above); `gemm_into` checks the operands.
    unsafe {
        gemm_into(
            dst.as_mut_ptr(),
            dst_row_stride,
            [m, n, k],
            lhs,
            rhs,
            read_dst,
            alpha,
            beta,
            parallel,
        )
    }
}

/// [`gemm`] into a destination given by pointer: for outputs that several workers write
/// disjoint parts of, or that are not initialised yet (with `read_dst = false` gemm's blocked
/// path stores every element without reading it). The operands are bounds-checked.
///
/// # Safety
/// `dst` must be valid for writes (and reads, if `read_dst`) of the `m × n` row-major matrix
/// with rows `dst_row_stride` apart, and no other thread may access those elements meanwhile.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_into(
    dst: *mut f32,
    dst_row_stride: usize,
    [m, n, k]: [usize; 3],
    lhs: Mat,
    rhs: Mat,
    read_dst: bool,
    alpha: f32,
    beta: f32,
    parallel: bool,
) {
    lhs.check(m, k, "lhs");
    rhs.check(k, n, "rhs");
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the operands cover their matrices (checked above), `dst` by the caller's promise.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_row_stride as isize,
            read_dst,
            lhs.data.as_ptr(),
            lhs.col_stride,
            lhs.row_stride,
            rhs.data.as_ptr(),
            rhs.col_stride,
            rhs.row_stride,
            alpha,
            beta,
            false,
            false,
            false,
            parallelism,
        );
    }
}
