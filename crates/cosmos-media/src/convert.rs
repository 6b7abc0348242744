//! Pixel arrays to and from the model layout: f32 in [-1, 1], channels first.
//!
//! Forward: `x = v / 255 * 2 - 1` (computed in f64, stored as f32), so 0 → -1, 255 → 1.
//! Back: `v = floor(clamp((x + 1) / 2, 0, 1) * 255 + 0.5)`, i.e. round half up after clamping;
//! NaN becomes 0. This is Cosmos-Tokenizer's `numpy2tensor` / `tensor2numpy`, and every u8 value
//! survives the round trip exactly.

use ndarray::{Array3, Array4, ArrayView3, ArrayView4, Zip};

use crate::error::{Error, Result};

/// u8 → [-1, 1].
#[inline]
pub fn u8_to_unit(value: u8) -> f32 {
    (f64::from(value) / 255.0 * 2.0 - 1.0) as f32
}

/// [-1, 1] → u8 with clamping and round-half-up; NaN → 0.
#[inline]
pub fn unit_to_u8(value: f32) -> u8 {
    let scaled = ((value + 1.0) / 2.0).clamp(0.0, 1.0) * 255.0 + 0.5;
    // `as` saturates and maps NaN to 0.
    scaled.floor() as u8
}

/// `[T, H, W, 3]` u8 frames → `[3, T, H, W]` f32 in [-1, 1] (standard layout, so
/// `.into_raw_vec_and_offset().0` is the contiguous buffer a model tensor wants).
pub fn frames_to_model(frames: ArrayView4<'_, u8>) -> Result<Array4<f32>> {
    let (t, h, w, c) = frames.dim();
    if c != 3 {
        return Err(Error::Shape {
            what: "frames_to_model frames",
            expected: "[T, H, W, 3]".into(),
            found: frames.shape().to_vec(),
        });
    }
    let mut out = Array4::<f32>::zeros((c, t, h, w));
    Zip::from(&mut out)
        .and(&frames.permuted_axes([3, 0, 1, 2]))
        .for_each(|out, &value| *out = u8_to_unit(value));
    Ok(out)
}

/// `[3, T, H, W]` f32 in [-1, 1] → `[T, H, W, 3]` u8 (see the module docs for the rounding).
pub fn model_to_frames(tensor: ArrayView4<'_, f32>) -> Result<Array4<u8>> {
    let (c, t, h, w) = tensor.dim();
    if c != 3 {
        return Err(Error::Shape {
            what: "model_to_frames tensor",
            expected: "[3, T, H, W]".into(),
            found: tensor.shape().to_vec(),
        });
    }
    let mut out = Array4::<u8>::zeros((t, h, w, c));
    Zip::from(&mut out)
        .and(&tensor.permuted_axes([1, 2, 3, 0]))
        .for_each(|out, &value| *out = unit_to_u8(value));
    Ok(out)
}

/// `[H, W, 3]` u8 image → `[3, H, W]` f32 in [-1, 1].
pub fn image_to_model(image: ArrayView3<'_, u8>) -> Result<Array3<f32>> {
    let (h, w, c) = image.dim();
    if c != 3 {
        return Err(Error::Shape {
            what: "image_to_model image",
            expected: "[H, W, 3]".into(),
            found: image.shape().to_vec(),
        });
    }
    let mut out = Array3::<f32>::zeros((c, h, w));
    Zip::from(&mut out)
        .and(&image.permuted_axes([2, 0, 1]))
        .for_each(|out, &value| *out = u8_to_unit(value));
    Ok(out)
}

/// `[3, H, W]` f32 in [-1, 1] → `[H, W, 3]` u8.
pub fn model_to_image(tensor: ArrayView3<'_, f32>) -> Result<Array3<u8>> {
    let (c, h, w) = tensor.dim();
    if c != 3 {
        return Err(Error::Shape {
            what: "model_to_image tensor",
            expected: "[3, H, W]".into(),
            found: tensor.shape().to_vec(),
        });
    }
    let mut out = Array3::<u8>::zeros((h, w, c));
    Zip::from(&mut out)
        .and(&tensor.permuted_axes([1, 2, 0]))
        .for_each(|out, &value| *out = unit_to_u8(value));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_survives_the_round_trip() {
        for value in 0..=255u8 {
            assert_eq!(unit_to_u8(u8_to_unit(value)), value, "value {value}");
        }
        assert_eq!(u8_to_unit(0), -1.0);
        assert_eq!(u8_to_unit(255), 1.0);
    }

    #[test]
    fn back_conversion_clamps_and_rounds_half_up() {
        assert_eq!(unit_to_u8(-3.0), 0);
        assert_eq!(unit_to_u8(7.5), 255);
        assert_eq!(unit_to_u8(f32::NAN), 0);
        assert_eq!(unit_to_u8(f32::INFINITY), 255);
        assert_eq!(unit_to_u8(f32::NEG_INFINITY), 0);
        // 0.0 maps to 127.5 → rounds up to 128.
        assert_eq!(unit_to_u8(0.0), 128);
        // Just below the midpoint between 100 and 101.
        let below = (100.49f32 / 255.0) * 2.0 - 1.0;
        assert_eq!(unit_to_u8(below), 100);
        let above = (100.51f32 / 255.0) * 2.0 - 1.0;
        assert_eq!(unit_to_u8(above), 101);
    }

    #[test]
    fn layouts_move_channels_first_and_back() {
        let frames = Array4::from_shape_fn((2, 3, 4, 3), |(t, y, x, c)| {
            (t * 100 + y * 20 + x * 4 + c) as u8
        });
        let model = frames_to_model(frames.view()).unwrap();
        assert_eq!(model.shape(), &[3, 2, 3, 4]);
        assert_eq!(model[[2, 1, 2, 3]], u8_to_unit(frames[[1, 2, 3, 2]]));
        assert_eq!(model_to_frames(model.view()).unwrap(), frames);

        let image = frames.index_axis(ndarray::Axis(0), 1).to_owned();
        let model = image_to_model(image.view()).unwrap();
        assert_eq!(model.shape(), &[3, 3, 4]);
        assert_eq!(model[[1, 2, 0]], u8_to_unit(image[[2, 0, 1]]));
        assert_eq!(model_to_image(model.view()).unwrap(), image);

        assert!(matches!(
            frames_to_model(Array4::<u8>::zeros((1, 2, 2, 4)).view()),
            Err(Error::Shape { .. })
        ));
        assert!(matches!(
            model_to_image(Array3::<f32>::zeros((1, 2, 2)).view()),
            Err(Error::Shape { .. })
        ));
    }
}
