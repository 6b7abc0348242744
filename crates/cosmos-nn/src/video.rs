//! Helpers for video tensors laid out `[batch, channels, time, height, width]` (PyTorch's
//! layout, which every Cosmos model and checkpoint uses).

use burn::tensor::{Device, Tensor, TensorData};

use crate::{Error, Result};

/// `[b, c, t, h, w] → [b·t, c, h, w]`: every frame becomes an image (per-frame norms and 2D
/// convolutions).
pub fn frames_to_images(x: Tensor<5>) -> Tensor<4> {
    let [b, c, t, h, w] = x.dims();
    x.swap_dims(1, 2).reshape([b * t, c, h, w])
}

/// `[b·t, c, h, w] → [b, c, t, h, w]`, the inverse of [`frames_to_images`].
pub fn images_to_frames(x: Tensor<4>, batch: usize) -> Tensor<5> {
    let [bt, c, h, w] = x.dims();
    x.reshape([batch, bt / batch, c, h, w]).swap_dims(1, 2)
}

/// Checks that `dims` is a video `[batch, channels, 1 + k·time_factor, height, width]` with
/// `channels` channels and height/width divisible by `spatial_factor`.
pub fn check_video_dims(
    what: &str,
    dims: [usize; 5],
    channels: usize,
    time_factor: usize,
    spatial_factor: usize,
) -> Result<()> {
    let [b, c, t, h, w] = dims;
    let expected = format!(
        "[batch ≥ 1, {channels}, 1 + k·{time_factor}, height and width multiples of {spatial_factor}]"
    );
    let bad = b == 0
        || c != channels
        || t == 0
        || (t - 1) % time_factor.max(1) != 0
        || h == 0
        || w == 0
        || h % spatial_factor.max(1) != 0
        || w % spatial_factor.max(1) != 0;
    if bad {
        return Err(Error::Shape {
            what: what.to_string(),
            expected,
            found: dims.to_vec(),
        });
    }
    Ok(())
}

/// Number of frames after padding `frames` up to the next `1 + k·time_factor`.
pub fn padded_frame_count(frames: usize, time_factor: usize) -> usize {
    if frames <= 1 || time_factor <= 1 {
        return frames.max(1);
    }
    1 + (frames - 1).div_ceil(time_factor) * time_factor
}

/// Pads the time axis to [`padded_frame_count`] by repeating the last frame; returns the padded
/// video and how many frames were added.
pub fn pad_time_replicate(x: Tensor<5>, time_factor: usize) -> (Tensor<5>, usize) {
    let t = x.dims()[2];
    let target = padded_frame_count(t, time_factor);
    let extra = target - t;
    if extra == 0 {
        return (x, 0);
    }
    let last = x.clone().narrow(2, t - 1, 1);
    let mut parts = vec![x];
    parts.extend(std::iter::repeat_n(last, extra));
    (Tensor::cat(parts, 2), extra)
}

/// Fails with [`Error::Config`] naming `what` if any value is NaN or infinite.
pub fn check_finite<const D: usize>(what: &str, x: &Tensor<D>) -> Result<()> {
    let bad = x.clone().is_nan().any().into_scalar::<bool>()
        || x.clone().is_inf().any().into_scalar::<bool>();
    if bad {
        return Err(Error::Config(format!(
            "{what} contains NaN or infinite values"
        )));
    }
    Ok(())
}

/// Builds a `[1, 3, t, h, w]` video in [−1, 1] from RGB frames `u8` laid out `[t, h, w, 3]`.
pub fn video_from_rgb_u8(
    frames: &[u8],
    t: usize,
    h: usize,
    w: usize,
    device: &Device,
) -> Result<Tensor<5>> {
    if frames.len() != t * h * w * 3 {
        return Err(Error::Shape {
            what: "RGB frames".into(),
            expected: format!("{t}·{h}·{w}·3 = {} bytes", t * h * w * 3),
            found: vec![frames.len()],
        });
    }
    let data: Vec<f32> = frames.iter().map(|&v| v as f32 / 127.5 - 1.0).collect();
    let x = Tensor::<4>::from_data(TensorData::new(data, [t, h, w, 3]), device);
    Ok(x.permute([3, 0, 1, 2]).unsqueeze_dim(0))
}

/// The inverse of [`video_from_rgb_u8`] for batch item `index`: values clamped to [−1, 1] and
/// rounded to the nearest `u8`, laid out `[t, h, w, 3]`.
pub fn video_to_rgb_u8(x: Tensor<5>, index: usize) -> Result<Vec<u8>> {
    let [b, c, ..] = x.dims();
    if index >= b || c != 3 {
        return Err(Error::Shape {
            what: "video to RGB".into(),
            expected: format!("[batch > {index}, 3, t, h, w]"),
            found: x.dims().to_vec(),
        });
    }
    let frames = x
        .narrow(0, index, 1)
        .squeeze_dim::<4>(0)
        .permute([1, 2, 3, 0]);
    let values: Vec<f32> = frames
        .into_data()
        .convert::<f32>()
        .try_to_vec()
        .map_err(|e| Error::Config(format!("{e:?}")))?;
    Ok(values
        .into_iter()
        .map(|v| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn frames_images_round_trip() {
        let device = Device::flex();
        let x = Tensor::<5>::random([2, 3, 4, 5, 6], Distribution::Default, &device);
        let imgs = frames_to_images(x.clone());
        assert_eq!(imgs.dims(), [8, 3, 5, 6]);
        // image 5 is batch 1, frame 1
        let a: Vec<f32> = imgs
            .clone()
            .narrow(0, 5, 1)
            .into_data()
            .try_to_vec()
            .unwrap();
        let b: Vec<f32> = x
            .clone()
            .narrow(0, 1, 1)
            .narrow(2, 1, 1)
            .into_data()
            .try_to_vec()
            .unwrap();
        assert_eq!(a, b);
        let back: Vec<f32> = images_to_frames(imgs, 2).into_data().try_to_vec().unwrap();
        assert_eq!(back, x.into_data().try_to_vec::<f32>().unwrap());
    }

    #[test]
    fn frame_counts_and_padding() {
        assert_eq!(padded_frame_count(9, 4), 9);
        assert_eq!(padded_frame_count(10, 4), 13);
        assert_eq!(padded_frame_count(1, 8), 1);
        let device = Device::flex();
        let x = Tensor::<5>::random([1, 1, 10, 2, 2], Distribution::Default, &device);
        let (y, extra) = pad_time_replicate(x.clone(), 4);
        assert_eq!((y.dims()[2], extra), (13, 3));
        let last: Vec<f32> = x.narrow(2, 9, 1).into_data().try_to_vec().unwrap();
        let padded: Vec<f32> = y.narrow(2, 12, 1).into_data().try_to_vec().unwrap();
        assert_eq!(last, padded);
    }

    #[test]
    fn shape_check_names_the_problem() {
        assert!(check_video_dims("input", [1, 3, 9, 32, 32], 3, 4, 8).is_ok());
        let err = check_video_dims("input", [1, 4, 9, 32, 32], 3, 4, 8).unwrap_err();
        assert!(err.to_string().contains("[1, 4, 9, 32, 32]"), "{err}");
        assert!(check_video_dims("input", [1, 3, 10, 32, 32], 3, 4, 8).is_err());
        assert!(check_video_dims("input", [1, 3, 9, 30, 32], 3, 4, 8).is_err());
    }

    #[test]
    fn rgb_round_trip_and_nan_check() {
        let device = Device::flex();
        let frames: Vec<u8> = (0..2 * 2 * 3 * 3).map(|i| (i * 13 % 256) as u8).collect();
        let x = video_from_rgb_u8(&frames, 2, 2, 3, &device).unwrap();
        assert_eq!(x.dims(), [1, 3, 2, 2, 3]);
        assert_eq!(video_to_rgb_u8(x.clone(), 0).unwrap(), frames);
        assert!(check_finite("x", &x).is_ok());
        let nan = x.clone() / Tensor::<5>::zeros([1, 3, 2, 2, 3], &device) * 0.0;
        assert!(check_finite("x", &nan).is_err());
        assert!(video_from_rgb_u8(&frames[1..], 2, 2, 3, &device).is_err());
    }
}
