//! The causal 3D convolution of the Cosmos video tokenizers (NVIDIA Cosmos-Tokenizer,
//! `modules/layers3d.py`, after MAGVIT-v2): a `Conv3d` whose time axis is padded on the left
//! only, by repeating the first frame, so output frame `t` never sees input frames after `t`.
//!
//! The time padding is `time_dilation·(k_t − 1) + (1 − time_stride)` frames; height and width
//! are zero-padded symmetrically by `padding` (the upstream default is 1, whatever the
//! kernel). The parameters live under `conv3d.weight` / `conv3d.bias`, as in the reference.
//!
//! [`CausalConv3d::forward_streaming`] runs the same convolution one chunk of frames at a
//! time: it carries the last input frames over to the next call, so the concatenated outputs
//! of consecutive chunks equal the output of one call on the whole clip.

use burn::config::Config;
use burn::module::Module;
use burn::nn::PaddingConfig3d;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::tensor::module::conv3d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};

use crate::{Error, Result};

/// Configuration of a [`CausalConv3d`]; the field names follow the reference constructor.
#[derive(Config, Debug)]
pub struct CausalConv3dConfig {
    /// Input channels.
    pub chan_in: usize,
    /// Output channels.
    pub chan_out: usize,
    /// Kernel size `[time, height, width]`; height and width must be odd.
    pub kernel_size: [usize; 3],
    /// Spatial stride (height and width).
    #[config(default = 1)]
    pub stride: usize,
    /// Temporal stride.
    #[config(default = 1)]
    pub time_stride: usize,
    /// Spatial dilation.
    #[config(default = 1)]
    pub dilation: usize,
    /// Temporal dilation.
    #[config(default = 1)]
    pub time_dilation: usize,
    /// Zero padding on each side of height and width.
    #[config(default = 1)]
    pub padding: usize,
    /// Whether the convolution has a bias.
    #[config(default = true)]
    pub bias: bool,
}

/// A 3D convolution, causal in time. See the [module docs](self).
#[derive(Module, Debug)]
pub struct CausalConv3d {
    /// The convolution proper (`weight: [out, in, k_t, k_h, k_w]`, `bias: [out]`).
    pub conv3d: Conv3d,
    /// Frames of left padding (copies of the first frame).
    pub time_pad: usize,
    /// Zero padding on each side of height and width.
    pub spatial_pad: usize,
}

impl CausalConv3dConfig {
    /// A config with the reference's defaults for the given channels and kernel.
    pub fn with_kernel(chan_in: usize, chan_out: usize, kernel_size: [usize; 3]) -> Self {
        Self::new(chan_in, chan_out, kernel_size)
    }

    /// Checks the config: odd spatial kernel, non-zero sizes and strides, and a
    /// non-negative time padding.
    pub fn validate(&self) -> Result<()> {
        let [kt, kh, kw] = self.kernel_size;
        if self.chan_in == 0 || self.chan_out == 0 {
            return Err(Error::Config(format!(
                "CausalConv3d: channels must be positive, found {} → {}",
                self.chan_in, self.chan_out
            )));
        }
        if kt == 0 || kh % 2 == 0 || kw % 2 == 0 {
            return Err(Error::Config(format!(
                "CausalConv3d: expected a kernel [k_t ≥ 1, odd, odd], found {:?}",
                self.kernel_size
            )));
        }
        if self.stride == 0
            || self.time_stride == 0
            || self.dilation == 0
            || self.time_dilation == 0
        {
            return Err(Error::Config(
                "CausalConv3d: strides and dilations must be positive".into(),
            ));
        }
        if self.time_dilation * (kt - 1) + 1 < self.time_stride {
            return Err(Error::Config(format!(
                "CausalConv3d: time stride {} exceeds the temporal receptive field {}",
                self.time_stride,
                self.time_dilation * (kt - 1) + 1
            )));
        }
        Ok(())
    }

    /// Builds the layer with PyTorch's default initialisation.
    ///
    /// Panics on an invalid config (see [`validate`](Self::validate)), like burn's own
    /// layer configs; model code validates its config first.
    pub fn init(&self, device: &Device) -> CausalConv3d {
        if let Err(e) = self.validate() {
            panic!("{e}");
        }
        let [kt, _, _] = self.kernel_size;
        let conv3d = Conv3dConfig::new([self.chan_in, self.chan_out], self.kernel_size)
            .with_stride([self.time_stride, self.stride, self.stride])
            .with_dilation([self.time_dilation, self.dilation, self.dilation])
            .with_padding(PaddingConfig3d::Explicit(0, self.padding, self.padding))
            .with_bias(self.bias)
            .init(device);
        CausalConv3d {
            conv3d,
            time_pad: self.time_dilation * (kt - 1) + 1 - self.time_stride,
            spatial_pad: self.padding,
        }
    }
}

impl CausalConv3d {
    /// Applies the convolution to a whole clip.
    ///
    /// - `x`: `[batch, chan_in, time, height, width]`
    /// - returns `[batch, chan_out, time', height', width']` with
    ///   `time' = (time + time_pad − time_dilation·(k_t − 1) − 1) / time_stride + 1`.
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let x = replicate_first_frame(x, self.time_pad);
        self.conv_padded(x)
    }

    /// Applies the convolution to the next chunk of a clip.
    ///
    /// `cache` is `None` before the first chunk; the call then pads like [`forward`](Self::forward)
    /// and stores the input frames the next output needs. Each later call prepends them.
    /// Chunks must be long enough to produce at least one output frame.
    pub fn forward_streaming(&self, x: Tensor<5>, cache: &mut Option<Tensor<5>>) -> Tensor<5> {
        let x = match cache.take() {
            None => replicate_first_frame(x, self.time_pad),
            Some(previous) => Tensor::cat(vec![previous, x], 2),
        };
        let t = x.dims()[2];
        let span = self.temporal_span();
        let stride = self.conv3d.stride[0];
        let outputs = if t >= span {
            (t - span) / stride + 1
        } else {
            0
        };
        let next = outputs * stride;
        if next < t {
            *cache = Some(x.clone().narrow(2, next, t - next));
        }
        self.conv_padded(x)
    }

    /// Frames one output frame looks at: `time_dilation·(k_t − 1) + 1`.
    pub fn temporal_span(&self) -> usize {
        self.conv3d.dilation[0] * (self.conv3d.kernel_size[0] - 1) + 1
    }

    /// Checks that `x` is a `[batch, chan_in, time, height, width]` video this layer can take.
    pub fn check_input(&self, x: &Tensor<5>) -> Result<()> {
        let dims = x.dims();
        let chan_in = self.conv3d.weight.dims()[1] * self.conv3d.groups;
        let kh = self.conv3d.dilation[1] * (self.conv3d.kernel_size[1] - 1) + 1;
        let kw = self.conv3d.dilation[2] * (self.conv3d.kernel_size[2] - 1) + 1;
        let fits = dims[1] == chan_in
            && dims[2] + self.time_pad >= self.temporal_span()
            && dims[3] + 2 * self.spatial_pad >= kh
            && dims[4] + 2 * self.spatial_pad >= kw;
        if !fits {
            return Err(Error::Shape {
                what: "CausalConv3d input".into(),
                expected: format!(
                    "[batch, {chan_in}, time ≥ {}, height ≥ {}, width ≥ {}]",
                    self.temporal_span().saturating_sub(self.time_pad).max(1),
                    kh.saturating_sub(2 * self.spatial_pad).max(1),
                    kw.saturating_sub(2 * self.spatial_pad).max(1),
                ),
                found: dims.to_vec(),
            });
        }
        Ok(())
    }

    fn conv_padded(&self, x: Tensor<5>) -> Tensor<5> {
        let p = self.spatial_pad;
        conv3d(
            x,
            self.conv3d.weight.val(),
            self.conv3d.bias.as_ref().map(|b| b.val()),
            ConvOptions::new(
                self.conv3d.stride,
                [0, p, p],
                self.conv3d.dilation,
                self.conv3d.groups,
            ),
        )
    }
}

/// Prepends `frames` copies of the first frame along the time axis (axis 2).
pub fn replicate_first_frame(x: Tensor<5>, frames: usize) -> Tensor<5> {
    if frames == 0 {
        return x;
    }
    let first = x.clone().narrow(2, 0, 1).repeat_dim(2, frames);
    Tensor::cat(vec![first, x], 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::tensor::TensorData;

    fn device() -> Device {
        Device::flex()
    }

    use crate::parity::values;

    /// A 1-in, 1-out layer with the given kernel weights and bias.
    fn layer(config: CausalConv3dConfig, weight: Vec<f32>, bias: f32) -> CausalConv3d {
        let mut conv = config.init(&device());
        let [kt, kh, kw] = config.kernel_size;
        conv.conv3d.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(weight, [1, 1, kt, kh, kw]),
            &device(),
        ));
        conv.conv3d.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![bias], [1]),
            &device(),
        )));
        conv
    }

    fn clip(values: Vec<f32>, t: usize, h: usize, w: usize) -> Tensor<5> {
        Tensor::from_data(TensorData::new(values, [1, 1, t, h, w]), &device())
    }

    #[test]
    fn time_padding_follows_the_reference_formula() {
        let d = device();
        assert_eq!(
            CausalConv3dConfig::new(1, 1, [3, 1, 1]).init(&d).time_pad,
            2
        );
        assert_eq!(
            CausalConv3dConfig::new(1, 1, [1, 3, 3]).init(&d).time_pad,
            0
        );
        let strided = CausalConv3dConfig::new(1, 1, [3, 1, 1]).with_time_stride(2);
        assert_eq!(strided.init(&d).time_pad, 1);
        let dilated = CausalConv3dConfig::new(1, 1, [3, 1, 1]).with_time_dilation(2);
        assert_eq!(dilated.init(&d).time_pad, 4);
    }

    #[test]
    fn temporal_kernel_repeats_the_first_frame() {
        // Frames 1, 2, 3, 4 (1×1 pixels); kernel [1, 10, 100] over (t−2, t−1, t), bias 0.5.
        // Padded: 1 1 | 1 2 3 4.
        // t=0: 1 + 10 + 100 = 111; t=1: 1 + 10 + 200 = 211; t=2: 1 + 20 + 300 = 321;
        // t=3: 2 + 30 + 400 = 432.
        let conv = layer(
            CausalConv3dConfig::new(1, 1, [3, 1, 1]).with_padding(0),
            vec![1.0, 10.0, 100.0],
            0.5,
        );
        let y = values(conv.forward(clip(vec![1.0, 2.0, 3.0, 4.0], 4, 1, 1)));
        assert_eq!(y, vec![111.5, 211.5, 321.5, 432.5]);
    }

    #[test]
    fn output_frame_does_not_depend_on_later_frames() {
        let conv = layer(
            CausalConv3dConfig::new(1, 1, [3, 1, 1]).with_padding(0),
            vec![1.0, 10.0, 100.0],
            0.0,
        );
        let a = values(conv.forward(clip(vec![1.0, 2.0, 3.0, 4.0], 4, 1, 1)));
        let b = values(conv.forward(clip(vec![1.0, 2.0, 3.0, -40.0], 4, 1, 1)));
        assert_eq!(a[..3], b[..3]);
        assert_ne!(a[3], b[3]);
    }

    #[test]
    fn spatial_padding_is_zero() {
        // One frame 2×2 [[1, 2], [3, 4]], 3×3 kernel of ones, padding 1: every output is the
        // sum of the whole frame (each 3×3 window covers all four pixels) = 10.
        let conv = layer(CausalConv3dConfig::new(1, 1, [1, 3, 3]), vec![1.0; 9], 0.0);
        let y = values(conv.forward(clip(vec![1.0, 2.0, 3.0, 4.0], 1, 2, 2)));
        assert_eq!(y, vec![10.0; 4]);
        // A centre-only kernel is the identity.
        let mut centre = vec![0.0; 9];
        centre[4] = 1.0;
        let conv = layer(CausalConv3dConfig::new(1, 1, [1, 3, 3]), centre, 0.0);
        let y = values(conv.forward(clip(vec![1.0, 2.0, 3.0, 4.0], 1, 2, 2)));
        assert_eq!(y, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn strided_time_keeps_the_first_frame_alone() {
        // Kernel [1, 1, 1] (sum of three frames), time stride 2 → time_pad 1.
        // Frames 1..5, padded 1 | 1 2 3 4 5: windows (1,1,2) = 4 and (2,3,4) = 9; the window
        // starting at 4 is incomplete, so (5 + 1 − 3)/2 + 1 = 2 frames come out.
        let conv = layer(
            CausalConv3dConfig::new(1, 1, [3, 1, 1])
                .with_padding(0)
                .with_time_stride(2),
            vec![1.0, 1.0, 1.0],
            0.0,
        );
        let y = values(conv.forward(clip(vec![1.0, 2.0, 3.0, 4.0, 5.0], 5, 1, 1)));
        assert_eq!(y, vec![4.0, 9.0]);
    }

    #[test]
    fn streaming_equals_offline() {
        let conv = layer(
            CausalConv3dConfig::new(1, 1, [3, 1, 1]).with_padding(0),
            vec![0.5, -2.0, 3.0],
            0.25,
        );
        let frames: Vec<f32> = (0..7).map(|i| (i * i) as f32 - 3.0).collect();
        let offline = values(conv.forward(clip(frames.clone(), 7, 1, 1)));
        let mut cache = None;
        let mut streamed = Vec::new();
        for (start, len) in [(0, 1), (1, 2), (3, 4)] {
            let chunk = clip(frames[start..start + len].to_vec(), len, 1, 1);
            streamed.extend(values(conv.forward_streaming(chunk, &mut cache)));
        }
        assert_eq!(streamed, offline);
    }

    #[test]
    fn streaming_with_time_stride_equals_offline() {
        let conv = layer(
            CausalConv3dConfig::new(1, 1, [3, 1, 1])
                .with_padding(0)
                .with_time_stride(2),
            vec![1.0, 10.0, 100.0],
            0.0,
        );
        let frames: Vec<f32> = (1..=9).map(|i| i as f32).collect();
        let offline = values(conv.forward(clip(frames.clone(), 9, 1, 1)));
        // First chunk 1 + 2k frames, then even chunks.
        let mut cache = None;
        let mut streamed = Vec::new();
        for (start, len) in [(0, 3), (3, 2), (5, 4)] {
            let chunk = clip(frames[start..start + len].to_vec(), len, 1, 1);
            streamed.extend(values(conv.forward_streaming(chunk, &mut cache)));
        }
        assert_eq!(streamed, offline);
        assert_eq!(offline.len(), 4);
    }

    #[test]
    fn invalid_kernels_are_rejected() {
        assert!(CausalConv3dConfig::new(1, 1, [3, 2, 3]).validate().is_err());
        assert!(CausalConv3dConfig::new(0, 1, [3, 3, 3]).validate().is_err());
        assert!(
            CausalConv3dConfig::new(1, 1, [1, 3, 3])
                .with_time_stride(2)
                .validate()
                .is_err()
        );
    }

    #[test]
    fn check_input_names_the_expected_shape() {
        let conv = CausalConv3dConfig::new(4, 8, [3, 3, 3]).init(&device());
        let x = Tensor::<5>::zeros([1, 3, 2, 4, 4], &device());
        let err = conv.check_input(&x).unwrap_err().to_string();
        assert!(err.contains("[batch, 4,"), "{err}");
        let x = Tensor::<5>::zeros([1, 4, 1, 4, 4], &device());
        assert!(conv.check_input(&x).is_ok());
    }
}
