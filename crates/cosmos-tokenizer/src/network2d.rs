//! The image encoder and decoder (Cosmos-Tokenizer `modules/layers2d.py`, after the Stable
//! Diffusion autoencoder): residual blocks with GroupNorm (32 groups), single-head attention
//! over pixels, strided-convolution downsampling and nearest-neighbour upsampling.
//! Shapes are `[batch, channels, height, width]`.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, PaddingConfig2d};
use burn::tensor::activation::silu;
use burn::tensor::module::attention;
use burn::tensor::ops::{AttentionModuleOptions, PadMode};
use burn::tensor::{Device, Tensor};

use crate::config::TokenizerConfig;
use crate::layers3d::NORM_EPS;
use crate::ops;
use crate::patching::Patcher;
use crate::{Error, Result};

/// GroupNorm groups of the image networks.
const GROUPS: usize = 32;

pub(crate) fn conv2d(
    device: &Device,
    chan_in: usize,
    chan_out: usize,
    kernel: usize,
    padding: usize,
) -> Conv2d {
    Conv2dConfig::new([chan_in, chan_out], [kernel, kernel])
        .with_padding(PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
        .init(device)
}

fn group_norm(device: &Device, channels: usize) -> GroupNorm {
    GroupNormConfig::new(GROUPS, channels)
        .with_epsilon(NORM_EPS)
        .init(device)
}

fn norm(layer: &GroupNorm, x: Tensor<4>) -> Tensor<4> {
    ops::group_norm(
        x,
        layer.num_groups,
        layer.gamma.as_ref().map(|p| p.val()),
        layer.beta.as_ref().map(|p| p.val()),
        NORM_EPS,
    )
}

/// The residual block (`ResnetBlock`).
#[derive(Module, Debug)]
pub struct ResnetBlock2d {
    /// Norm before the first convolution.
    pub norm1: GroupNorm,
    /// 3×3 convolution `in → out`.
    pub conv1: Conv2d,
    /// Norm before the second convolution.
    pub norm2: GroupNorm,
    /// 3×3 convolution `out → out`.
    pub conv2: Conv2d,
    /// 1×1 shortcut projection when the channel count changes.
    pub nin_shortcut: Option<Conv2d>,
}

impl ResnetBlock2d {
    fn new(device: &Device, chan_in: usize, chan_out: usize) -> Self {
        Self {
            norm1: group_norm(device, chan_in),
            conv1: conv2d(device, chan_in, chan_out, 3, 1),
            norm2: group_norm(device, chan_out),
            conv2: conv2d(device, chan_out, chan_out, 3, 1),
            nin_shortcut: (chan_in != chan_out).then(|| conv2d(device, chan_in, chan_out, 1, 0)),
        }
    }

    /// `[b, in, h, w] → [b, out, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.conv1.forward(silu(norm(&self.norm1, x.clone())));
        let h = self.conv2.forward(silu(norm(&self.norm2, h)));
        let x = match &self.nin_shortcut {
            Some(conv) => conv.forward(x),
            None => x,
        };
        x + h
    }
}

/// Single-head attention over the pixels of each image (`AttnBlock`).
#[derive(Module, Debug)]
pub struct AttnBlock2d {
    /// Norm.
    pub norm: GroupNorm,
    /// Query projection (1×1).
    pub q: Conv2d,
    /// Key projection (1×1).
    pub k: Conv2d,
    /// Value projection (1×1).
    pub v: Conv2d,
    /// Output projection (1×1).
    pub proj_out: Conv2d,
}

impl AttnBlock2d {
    fn new(device: &Device, channels: usize) -> Self {
        let conv = || conv2d(device, channels, channels, 1, 0);
        Self {
            norm: group_norm(device, channels),
            q: conv(),
            k: conv(),
            v: conv(),
            proj_out: conv(),
        }
    }

    /// `x + proj_out(attention(x))`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let n = norm(&self.norm, x.clone());
        let tokens = |y: Tensor<4>| {
            y.reshape([b, c, h * w])
                .swap_dims(1, 2)
                .reshape([b, 1, h * w, c])
        };
        let out = attention(
            tokens(self.q.forward(n.clone())),
            tokens(self.k.forward(n.clone())),
            tokens(self.v.forward(n)),
            None,
            None,
            AttentionModuleOptions::default(),
        );
        let out = out
            .reshape([b, h * w, c])
            .swap_dims(1, 2)
            .reshape([b, c, h, w]);
        x + self.proj_out.forward(out)
    }
}

/// Strided 3×3 convolution after padding one row and column at the bottom and right.
#[derive(Module, Debug)]
pub struct Downsample2d {
    /// The convolution (stride 2, no padding of its own).
    pub conv: Conv2d,
}

impl Downsample2d {
    fn new(device: &Device, channels: usize) -> Self {
        Self {
            conv: Conv2dConfig::new([channels, channels], [3, 3])
                .with_stride([2, 2])
                .init(device),
        }
    }

    /// `[b, c, h, w] → [b, c, h/2, w/2]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.conv
            .forward(x.pad((0, 1, 0, 1), PadMode::Constant(0.0)))
    }
}

/// Nearest-neighbour ×2 then a 3×3 convolution.
#[derive(Module, Debug)]
pub struct Upsample2d {
    /// The convolution.
    pub conv: Conv2d,
}

impl Upsample2d {
    /// `[b, c, h, w] → [b, c, 2h, 2w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.conv.forward(ops::upsample_nearest2d(x))
    }
}

/// One encoder level.
#[derive(Module, Debug)]
pub struct DownLevel2d {
    /// Residual blocks.
    pub block: Vec<ResnetBlock2d>,
    /// Attention after each block, if any.
    pub attn: Vec<AttnBlock2d>,
    /// Downsampling (the first `log2(spatial / patch)` levels).
    pub downsample: Option<Downsample2d>,
}

/// One decoder level.
#[derive(Module, Debug)]
pub struct UpLevel2d {
    /// Residual blocks (`num_res_blocks + 1`).
    pub block: Vec<ResnetBlock2d>,
    /// Attention after each block, if any.
    pub attn: Vec<AttnBlock2d>,
    /// Upsampling (the last `log2(spatial / patch)` levels, counted from the bottom).
    pub upsample: Option<Upsample2d>,
}

/// Block, attention, block.
#[derive(Module, Debug)]
pub struct MidBlock2d {
    /// First residual block.
    pub block_1: ResnetBlock2d,
    /// Attention.
    pub attn_1: AttnBlock2d,
    /// Second residual block.
    pub block_2: ResnetBlock2d,
}

impl MidBlock2d {
    fn new(device: &Device, channels: usize) -> Self {
        Self {
            block_1: ResnetBlock2d::new(device, channels, channels),
            attn_1: AttnBlock2d::new(device, channels),
            block_2: ResnetBlock2d::new(device, channels, channels),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.block_2
            .forward(self.attn_1.forward(self.block_1.forward(x)))
    }
}

fn run_level(blocks: &[ResnetBlock2d], attn: &[AttnBlock2d], mut h: Tensor<4>) -> Tensor<4> {
    for (i, block) in blocks.iter().enumerate() {
        h = block.forward(h);
        if let Some(attn) = attn.get(i) {
            h = attn.forward(h);
        }
    }
    h
}

/// The image encoder (`layers2d.Encoder`): `[b, in, H, W] → [b, z, H/S, W/S]`.
#[derive(Module, Debug)]
pub struct Encoder2d {
    /// Input convolution.
    pub conv_in: Conv2d,
    /// Resolution levels.
    pub down: Vec<DownLevel2d>,
    /// Middle blocks.
    pub mid: MidBlock2d,
    /// Final norm.
    pub norm_out: GroupNorm,
    /// Output convolution.
    pub conv_out: Conv2d,
    /// The patcher.
    #[module(skip)]
    pub patcher: Patcher,
}

impl Encoder2d {
    /// Builds the encoder of a CI / DI config with `z_channels` outputs.
    pub fn new(config: &TokenizerConfig, z_channels: usize, device: &Device) -> Self {
        let p = config.patch_size;
        let ch = config.channels;
        let levels = config.channels_mult.len();
        let downs = config.requested_spatial_downs();
        let mut curr_res = config.resolution / p;
        let mut block_in = ch;
        let mut down = Vec::with_capacity(levels);
        for i_level in 0..levels {
            block_in = ch
                * if i_level == 0 {
                    1
                } else {
                    config.channels_mult[i_level - 1]
                };
            let block_out = ch * config.channels_mult[i_level];
            let mut block = Vec::new();
            let mut attn = Vec::new();
            for _ in 0..config.num_res_blocks {
                block.push(ResnetBlock2d::new(device, block_in, block_out));
                block_in = block_out;
                if config.attn_resolutions.contains(&curr_res) {
                    attn.push(AttnBlock2d::new(device, block_in));
                }
            }
            let downsample = ((i_level as isize) < downs).then(|| {
                curr_res /= 2;
                Downsample2d::new(device, block_in)
            });
            down.push(DownLevel2d {
                block,
                attn,
                downsample,
            });
        }
        Self {
            conv_in: conv2d(device, config.in_channels * p * p, ch, 3, 1),
            down,
            mid: MidBlock2d::new(device, block_in),
            norm_out: group_norm(device, block_in),
            conv_out: conv2d(device, block_in, z_channels, 3, 1),
            patcher: Patcher::new(p, config.patch_method),
        }
    }

    /// Encodes images.
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        let mut h = self.conv_in.forward(self.patcher.patch_image(x)?);
        for level in &self.down {
            h = run_level(&level.block, &level.attn, h);
            if let Some(downsample) = &level.downsample {
                h = downsample.forward(h);
            }
        }
        let h = self.mid.forward(h);
        Ok(self.conv_out.forward(silu(norm(&self.norm_out, h))))
    }
}

/// The image decoder (`layers2d.Decoder`): `[b, z, h, w] → [b, out, h·S, w·S]`.
#[derive(Module, Debug)]
pub struct Decoder2d {
    /// Input convolution.
    pub conv_in: Conv2d,
    /// Middle blocks.
    pub mid: MidBlock2d,
    /// Resolution levels (`up.0` is the full-size one).
    pub up: Vec<UpLevel2d>,
    /// Final norm.
    pub norm_out: GroupNorm,
    /// Output convolution.
    pub conv_out: Conv2d,
    /// The inverse patcher.
    #[module(skip)]
    pub patcher: Patcher,
}

impl Decoder2d {
    /// Builds the decoder of a CI / DI config with `z_channels` inputs.
    pub fn new(config: &TokenizerConfig, z_channels: usize, device: &Device) -> Self {
        let p = config.patch_size;
        let ch = config.channels;
        let mult = &config.channels_mult;
        let levels = mult.len();
        let ups = config.requested_spatial_downs();
        let mut block_in = ch * mult[levels - 1];
        let mut curr_res = (config.resolution / p) >> (levels - 1);
        let conv_in = conv2d(device, z_channels, block_in, 3, 1);
        let mid = MidBlock2d::new(device, block_in);
        let mut up = Vec::with_capacity(levels);
        for i_level in (0..levels).rev() {
            let block_out = ch * mult[i_level];
            let mut block = Vec::new();
            let mut attn = Vec::new();
            for _ in 0..=config.num_res_blocks {
                block.push(ResnetBlock2d::new(device, block_in, block_out));
                block_in = block_out;
                if config.attn_resolutions.contains(&curr_res) {
                    attn.push(AttnBlock2d::new(device, block_in));
                }
            }
            let upsample = (i_level as isize >= levels as isize - ups).then(|| {
                curr_res *= 2;
                Upsample2d {
                    conv: conv2d(device, block_in, block_in, 3, 1),
                }
            });
            up.push(UpLevel2d {
                block,
                attn,
                upsample,
            });
        }
        up.reverse();
        Self {
            conv_in,
            mid,
            up,
            norm_out: group_norm(device, block_in),
            conv_out: conv2d(device, block_in, config.out_channels * p * p, 3, 1),
            patcher: Patcher::new(p, config.patch_method),
        }
    }

    /// The decoder's spatial upsampling factor (patcher included).
    pub fn factor(&self) -> usize {
        self.patcher.patch_size << self.up.iter().filter(|l| l.upsample.is_some()).count()
    }

    /// Decodes latents.
    pub fn forward(&self, z: Tensor<4>) -> Result<Tensor<4>> {
        let mut h = self.mid.forward(self.conv_in.forward(z));
        for level in self.up.iter().rev() {
            h = run_level(&level.block, &level.attn, h);
            if let Some(upsample) = &level.upsample {
                h = upsample.forward(h);
            }
        }
        let h = self.conv_out.forward(silu(norm(&self.norm_out, h)));
        self.patcher
            .unpatch_image(h)
            .map_err(|e| Error::Unsupported(format!("decoder output: {e}")))
    }
}
