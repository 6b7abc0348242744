//! Explicit padding for inputs the tokenizers refuse as they are: frame counts that are not
//! `1 + k·T` and sizes that are not multiples of the spatial compression. The tokenizer
//! never pads silently; these helpers do it and return what to crop afterwards.

use burn::tensor::Tensor;
use burn::tensor::ops::PadMode;

use crate::Error;

/// What [`pad_frames`] / [`pad_spatial`] added, to undo it on the decoded video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Padding {
    /// Frames appended at the end.
    pub frames_after: usize,
    /// Rows added at the top.
    pub top: usize,
    /// Rows added at the bottom.
    pub bottom: usize,
    /// Columns added on the left.
    pub left: usize,
    /// Columns added on the right.
    pub right: usize,
}

impl Padding {
    /// Whether nothing was padded.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Combines two paddings applied one after the other (frames then space).
    pub fn and(self, other: Padding) -> Padding {
        Padding {
            frames_after: self.frames_after + other.frames_after,
            top: self.top + other.top,
            bottom: self.bottom + other.bottom,
            left: self.left + other.left,
            right: self.right + other.right,
        }
    }

    /// Removes the padding from a (decoded) video `[b, c, t, h, w]`.
    pub fn crop(&self, x: Tensor<5>) -> Tensor<5> {
        let [_, _, t, h, w] = x.dims();
        let t = t.saturating_sub(self.frames_after).max(1);
        let h_keep = h.saturating_sub(self.top + self.bottom).max(1);
        let w_keep = w.saturating_sub(self.left + self.right).max(1);
        x.narrow(2, 0, t)
            .narrow(3, self.top.min(h - h_keep), h_keep)
            .narrow(4, self.left.min(w - w_keep), w_keep)
    }
}

/// The frame count [`pad_frames`] pads to: the next `1 + k·temporal_compression`.
pub fn padded_frame_count(frames: usize, temporal_compression: usize) -> usize {
    if frames <= 1 || temporal_compression <= 1 {
        return frames.max(1);
    }
    1 + (frames - 1).div_ceil(temporal_compression) * temporal_compression
}

/// Pads the time axis of `x: [b, c, t, h, w]` up to `1 + k·temporal_compression` frames by
/// repeating the last frame at the end (earlier latents are unaffected, by causality).
pub fn pad_frames(x: Tensor<5>, temporal_compression: usize) -> (Tensor<5>, Padding) {
    let t = x.dims()[2];
    let extra = padded_frame_count(t, temporal_compression) - t;
    if extra == 0 {
        return (x, Padding::default());
    }
    let last = x.clone().narrow(2, t - 1, 1).repeat_dim(2, extra);
    (
        Tensor::cat(vec![x, last], 2),
        Padding {
            frames_after: extra,
            ..Padding::default()
        },
    )
}

/// Pads height and width of `x: [b, c, t, h, w]` up to multiples of `multiple`, split evenly
/// between both sides (the extra row or column at the bottom / right) with `value`; the
/// reference's pipeline pads with black, −1.
pub fn pad_spatial(x: Tensor<5>, multiple: usize, value: f32) -> (Tensor<5>, Padding) {
    let [_, _, _, h, w] = x.dims();
    let multiple = multiple.max(1);
    let (dh, dw) = (
        h.div_ceil(multiple) * multiple - h,
        w.div_ceil(multiple) * multiple - w,
    );
    if dh == 0 && dw == 0 {
        return (x, Padding::default());
    }
    let padding = Padding {
        top: dh / 2,
        bottom: dh - dh / 2,
        left: dw / 2,
        right: dw - dw / 2,
        frames_after: 0,
    };
    let x = x.pad(
        (padding.left, padding.right, padding.top, padding.bottom),
        PadMode::Constant(value),
    );
    (x, padding)
}

/// The typed error for a frame count that is not `1 + k·temporal_compression`.
pub(crate) fn frame_count_error(frames: usize, temporal_compression: usize) -> Error {
    let tc = temporal_compression;
    Error::FrameCount {
        frames,
        temporal_compression: tc,
        next_1: 1 + tc,
        next_2: 1 + 2 * tc,
        padded: padded_frame_count(frames, tc),
        trimmed: 1 + (frames.max(1) - 1) / tc * tc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    #[test]
    fn frames_pad_to_one_plus_multiple_and_crop_back() {
        let d = Device::flex();
        let x = Tensor::<5>::random([1, 3, 10, 4, 4], Distribution::Default, &d);
        let (padded, pad) = pad_frames(x.clone(), 8);
        assert_eq!(padded.dims()[2], 17);
        assert_eq!(pad.frames_after, 7);
        // The padding repeats the last frame.
        let last = x.clone().narrow(2, 9, 1);
        let tail = padded.clone().narrow(2, 16, 1);
        assert_eq!(last.into_data(), tail.into_data());
        assert_eq!(pad.crop(padded).into_data(), x.into_data());
        assert_eq!(padded_frame_count(17, 8), 17);
        assert_eq!(padded_frame_count(1, 8), 1);
    }

    #[test]
    fn spatial_padding_is_centred_and_crops_back() {
        let d = Device::flex();
        let x = Tensor::<5>::random([1, 3, 1, 270, 477], Distribution::Default, &d);
        let (padded, pad) = pad_spatial(x.clone(), 16, -1.0);
        assert_eq!(padded.dims(), [1, 3, 1, 272, 480]);
        assert_eq!((pad.top, pad.bottom, pad.left, pad.right), (1, 1, 1, 2));
        assert_eq!(pad.crop(padded).into_data(), x.into_data());
    }

    #[test]
    fn frame_count_error_offers_both_fixes() {
        let message = frame_count_error(10, 8).to_string();
        assert!(message.contains("1 + k·8"), "{message}");
        assert!(
            message.contains("17") && message.contains("trim to 9"),
            "{message}"
        );
    }
}
