//! The causal video layers (Cosmos-Tokenizer `modules/layers3d.py`, `modules/utils.py`):
//! per-frame GroupNorm, factorized residual blocks, spatial and causal temporal attention,
//! hybrid down- and upsampling. Every layer is causal in time; the ones that look back take
//! their state from a [`CausalCache`] so a clip can also be processed chunk by chunk.
//!
//! Shapes are `[batch, channels, time, height, width]` throughout.

use burn::module::Module;
use burn::nn::{GroupNorm, GroupNormConfig};
use burn::tensor::module::attention;
use burn::tensor::ops::{AttentionModuleOptions, PadMode};
use burn::tensor::{Device, Tensor};
use cosmos_nn::causal_conv::{CausalConv3d, CausalConv3dConfig, replicate_first_frame};

use crate::cache::CausalCache;
use crate::ops;
use cosmos_nn::kernels;

/// The reference's GroupNorm epsilon.
pub(crate) const NORM_EPS: f64 = 1e-6;

/// A causal convolution with the reference's constructor arguments.
pub(crate) fn causal_conv(
    device: &Device,
    chan_in: usize,
    chan_out: usize,
    kernel_size: [usize; 3],
    padding: usize,
) -> CausalConv3d {
    CausalConv3dConfig::new(chan_in, chan_out, kernel_size)
        .with_padding(padding)
        .init(device)
}

/// A factorized convolution: `(1, 3, 3)` in space (padding 1), then `(3, 1, 1)` in time.
pub(crate) fn factorized_conv(
    device: &Device,
    chan_in: usize,
    chan_out: usize,
) -> Vec<CausalConv3d> {
    vec![
        causal_conv(device, chan_in, chan_out, [1, 3, 3], 1),
        causal_conv(device, chan_out, chan_out, [3, 1, 1], 0),
    ]
}

/// Runs a `nn.Sequential` of causal convolutions.
pub(crate) fn sequential(
    convs: &[CausalConv3d],
    x: Tensor<5>,
    cache: &mut CausalCache,
) -> Tensor<5> {
    convs.iter().fold(x, |x, conv| cache.conv(conv, x))
}

/// GroupNorm applied to each frame separately (`CausalNormalize` with `num_groups = 1`):
/// statistics over channels, height and width of one frame, so a frame never sees the future.
#[derive(Module, Debug)]
pub struct CausalGroupNorm {
    /// The affine parameters (`norm.weight`, `norm.bias`).
    pub norm: GroupNorm,
}

impl CausalGroupNorm {
    pub(crate) fn new(device: &Device, channels: usize) -> Self {
        Self {
            norm: GroupNormConfig::new(1, channels)
                .with_epsilon(NORM_EPS)
                .init(device),
        }
    }

    /// Normalizes every frame of `x: [b, c, t, h, w]`.
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        ops::group_norm_per_frame(
            x,
            self.norm.gamma.as_ref().map(|p| p.val()),
            self.norm.beta.as_ref().map(|p| p.val()),
            NORM_EPS,
        )
    }

    /// Normalizes, then applies SiLU (the pair that opens every residual branch).
    pub fn forward_silu(&self, x: Tensor<5>) -> Tensor<5> {
        ops::group_norm_per_frame_silu(
            x,
            self.norm.gamma.as_ref().map(|p| p.val()),
            self.norm.beta.as_ref().map(|p| p.val()),
            NORM_EPS,
        )
    }
}

/// The factorized residual block (`CausalResnetBlockFactorized3d`):
/// `x + conv2(silu(norm2(conv1(silu(norm1(x))))))`, each conv a spatial then a temporal one.
#[derive(Module, Debug)]
pub struct ResnetBlockFactorized3d {
    /// Norm before the first convolution.
    pub norm1: CausalGroupNorm,
    /// `(1,3,3)` then `(3,1,1)` convolution, `in → out` channels.
    pub conv1: Vec<CausalConv3d>,
    /// Norm before the second convolution.
    pub norm2: CausalGroupNorm,
    /// `(1,3,3)` then `(3,1,1)` convolution, `out → out` channels.
    pub conv2: Vec<CausalConv3d>,
    /// 1×1×1 projection of the shortcut when the channel count changes.
    pub nin_shortcut: Option<CausalConv3d>,
}

impl ResnetBlockFactorized3d {
    pub(crate) fn new(device: &Device, chan_in: usize, chan_out: usize) -> Self {
        Self {
            norm1: CausalGroupNorm::new(device, chan_in),
            conv1: factorized_conv(device, chan_in, chan_out),
            norm2: CausalGroupNorm::new(device, chan_out),
            conv2: factorized_conv(device, chan_out, chan_out),
            nin_shortcut: (chan_in != chan_out)
                .then(|| causal_conv(device, chan_in, chan_out, [1, 1, 1], 0)),
        }
    }

    /// `x: [b, in, t, h, w] → [b, out, t, h, w]`.
    pub fn forward(&self, x: Tensor<5>, cache: &mut CausalCache) -> Tensor<5> {
        let h = self.norm1.forward_silu(x.clone());
        let h = sequential(&self.conv1, h, cache);
        let h = self.norm2.forward_silu(h);
        let h = sequential(&self.conv2, h, cache);
        let x = match &self.nin_shortcut {
            Some(conv) => kernels::conv::causal_conv(conv, x),
            None => x,
        };
        x + h
    }
}

/// Single-head self-attention with 1×1×1 projections (`CausalAttnBlock` /
/// `CausalTemporalAttnBlock`): over the pixels of each frame, or causally over the frames of
/// each pixel.
#[derive(Module, Debug)]
pub struct CausalAttnBlock {
    /// Per-frame norm.
    pub norm: CausalGroupNorm,
    /// Query projection.
    pub q: CausalConv3d,
    /// Key projection.
    pub k: CausalConv3d,
    /// Value projection.
    pub v: CausalConv3d,
    /// Output projection.
    pub proj_out: CausalConv3d,
}

impl CausalAttnBlock {
    pub(crate) fn new(device: &Device, channels: usize) -> Self {
        let conv = || causal_conv(device, channels, channels, [1, 1, 1], 0);
        Self {
            norm: CausalGroupNorm::new(device, channels),
            q: conv(),
            k: conv(),
            v: conv(),
            proj_out: conv(),
        }
    }

    fn qkv(&self, x: Tensor<5>) -> [Tensor<5>; 3] {
        let h = self.norm.forward(x);
        [
            kernels::conv::causal_conv(&self.q, h.clone()),
            kernels::conv::causal_conv(&self.k, h.clone()),
            kernels::conv::causal_conv(&self.v, h),
        ]
    }

    /// Attention over the `h·w` pixels of every frame; `x + proj_out(attn)`.
    pub fn forward_spatial(&self, x: Tensor<5>) -> Tensor<5> {
        let [b, c, t, h, w] = x.dims();
        let [q, k, v] = self.qkv(x.clone());
        let tokens = |y: Tensor<5>| y.permute([0, 2, 3, 4, 1]).reshape([b * t, 1, h * w, c]);
        let out = attention(
            tokens(q),
            tokens(k),
            tokens(v),
            None,
            None,
            AttentionModuleOptions::default(),
        );
        let out = out.reshape([b, t, h, w, c]).permute([0, 4, 1, 2, 3]);
        x + kernels::conv::causal_conv(&self.proj_out, out)
    }

    /// Causal attention over the frames of every pixel (frame `t` sees frames `≤ t`);
    /// `x + proj_out(attn)`. When streaming, the keys and values of earlier chunks come from
    /// the cache.
    pub fn forward_temporal(&self, x: Tensor<5>, cache: &mut CausalCache) -> Tensor<5> {
        let [b, c, t, h, w] = x.dims();
        let [q, k, v] = self.qkv(x.clone());
        let tokens = |y: Tensor<5>| y.permute([0, 3, 4, 2, 1]).reshape([b * h * w, 1, t, c]);
        let (k, v) = cache.key_value(tokens(k), tokens(v));
        // burn aligns the causal mask at the bottom right: query i of this chunk sees every
        // cached key and the chunk's keys up to i.
        let options = AttentionModuleOptions {
            is_causal: true,
            ..Default::default()
        };
        let out = attention(tokens(q), k, v, None, None, options);
        let out = out.reshape([b, h, w, t, c]).permute([0, 4, 3, 1, 2]);
        x + kernels::conv::causal_conv(&self.proj_out, out)
    }
}

/// Spatial attention followed by causal temporal attention (the reference's two-element
/// `nn.Sequential`, whose checkpoint keys `.0.` / `.1.` map onto `spatial` / `temporal`).
#[derive(Module, Debug)]
pub struct SpatioTemporalAttention {
    /// Attention within each frame (`.0`).
    pub spatial: CausalAttnBlock,
    /// Causal attention across frames (`.1`).
    pub temporal: CausalAttnBlock,
}

impl SpatioTemporalAttention {
    pub(crate) fn new(device: &Device, channels: usize) -> Self {
        Self {
            spatial: CausalAttnBlock::new(device, channels),
            temporal: CausalAttnBlock::new(device, channels),
        }
    }

    /// Both attentions in turn.
    pub fn forward(&self, x: Tensor<5>, cache: &mut CausalCache) -> Tensor<5> {
        let x = self.spatial.forward_spatial(x);
        self.temporal.forward_temporal(x, cache)
    }
}

/// Learned plus average-pooled downsampling (`CausalHybridDownsample3d`): spatially a strided
/// `(1,3,3)` convolution plus 2×2 average pooling, temporally a strided `(3,1,1)` convolution
/// plus pair averaging after repeating the first frame (so frame 0 stays alone), then a
/// 1×1×1 convolution. A level that downsamples neither way returns its input unchanged (the
/// reference keeps the unused weights).
#[derive(Module, Debug)]
pub struct CausalHybridDownsample3d {
    /// Spatial `(1,3,3)` convolution, stride 2.
    pub conv1: CausalConv3d,
    /// Temporal `(3,1,1)` convolution, time stride 2.
    pub conv2: CausalConv3d,
    /// Final 1×1×1 convolution.
    pub conv3: CausalConv3d,
    /// Whether this level halves height and width.
    pub spatial_down: bool,
    /// Whether this level halves time (`1 + 2k → 1 + k` frames).
    pub temporal_down: bool,
}

impl CausalHybridDownsample3d {
    pub(crate) fn new(
        device: &Device,
        channels: usize,
        spatial_down: bool,
        temporal_down: bool,
    ) -> Self {
        Self {
            conv1: CausalConv3dConfig::new(channels, channels, [1, 3, 3])
                .with_stride(2)
                .with_padding(0)
                .init(device),
            conv2: CausalConv3dConfig::new(channels, channels, [3, 1, 1])
                .with_time_stride(2)
                .with_padding(0)
                .init(device),
            conv3: causal_conv(device, channels, channels, [1, 1, 1], 0),
            spatial_down,
            temporal_down,
        }
    }

    /// `[b, c, t, h, w] → [b, c, t', h', w']`.
    pub fn forward(&self, x: Tensor<5>, cache: &mut CausalCache) -> Tensor<5> {
        if !self.spatial_down && !self.temporal_down {
            return x;
        }
        let mut x = x;
        if self.spatial_down {
            let padded = x.pad((0, 1, 0, 1), PadMode::Constant(0.0));
            let pooled = ops::avg_pool_hw2(padded.clone());
            x = kernels::conv::causal_conv(&self.conv1, padded) + pooled;
        }
        if self.temporal_down {
            let x_in = if cache.first_chunk() {
                replicate_first_frame(x, 1)
            } else {
                x
            };
            let pooled = ops::avg_pool_time2(x_in.clone());
            x = cache.conv(&self.conv2, x_in) + pooled;
        }
        kernels::conv::causal_conv(&self.conv3, x)
    }
}

/// Learned upsampling with residuals (`CausalHybridUpsample3d`): temporally, each frame
/// but the first is repeated (`t → 2t − 1`) and refined by a `(3,1,1)` convolution; spatially,
/// nearest-neighbour ×2 refined by a `(1,3,3)` convolution; then a 1×1×1 convolution.
#[derive(Module, Debug)]
pub struct CausalHybridUpsample3d {
    /// Temporal `(3,1,1)` convolution.
    pub conv1: CausalConv3d,
    /// Spatial `(1,3,3)` convolution.
    pub conv2: CausalConv3d,
    /// Final 1×1×1 convolution.
    pub conv3: CausalConv3d,
    /// Whether this level doubles height and width.
    pub spatial_up: bool,
    /// Whether this level doubles time (`t → 2t − 1`).
    pub temporal_up: bool,
}

impl CausalHybridUpsample3d {
    pub(crate) fn new(
        device: &Device,
        channels: usize,
        spatial_up: bool,
        temporal_up: bool,
    ) -> Self {
        Self {
            conv1: causal_conv(device, channels, channels, [3, 1, 1], 0),
            conv2: causal_conv(device, channels, channels, [1, 3, 3], 1),
            conv3: causal_conv(device, channels, channels, [1, 1, 1], 0),
            spatial_up,
            temporal_up,
        }
    }

    /// `[b, c, t, h, w] → [b, c, t', h', w']`.
    pub fn forward(&self, x: Tensor<5>, cache: &mut CausalCache) -> Tensor<5> {
        if !self.spatial_up && !self.temporal_up {
            return x;
        }
        let mut x = x;
        if self.temporal_up {
            // The reference only repeats frames when there is more than one.
            if x.dims()[2] > 1 {
                x = ops::repeat_time_drop_first(x);
            }
            x = cache.conv(&self.conv1, x.clone()) + x;
        }
        if self.spatial_up {
            let up = ops::upsample_nearest_hw2(x);
            x = kernels::conv::causal_conv(&self.conv2, up.clone()) + up;
        }
        kernels::conv::causal_conv(&self.conv3, x)
    }
}
