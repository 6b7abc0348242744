//! RGB frames to network input tensors.

use burn::tensor::{Device, Tensor, TensorData};
use ndarray::ArrayView3;

/// `[H, W, 3]` RGB u8 → `[1, 3, H, W]` f32: channels in `order` (indices into RGB), each
/// `(value − mean[c]) · scale`.
pub(crate) fn frame_to_tensor(
    frame: ArrayView3<'_, u8>,
    order: [usize; 3],
    mean: [f32; 3],
    scale: f32,
    device: &Device,
) -> Tensor<4> {
    let (h, w, _) = frame.dim();
    let mut data = Vec::with_capacity(3 * h * w);
    for (c, &source) in order.iter().enumerate() {
        for y in 0..h {
            for x in 0..w {
                data.push((frame[[y, x, source]] as f32 - mean[c]) * scale);
            }
        }
    }
    Tensor::from_data(TensorData::new(data, [1, 3, h, w]), device)
}

/// A float tensor's values as a `Vec<f32>`.
pub(crate) fn to_vec(tensor: Tensor<2>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}
