//! The factorized causal video encoder and decoder (Cosmos-Tokenizer `EncoderFactorized` /
//! `DecoderFactorized`). Field names are the reference's attribute names, so checkpoint keys
//! map onto them one to one (`down.0.block.1.conv1.0.conv3d.weight`).

use burn::module::Module;
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};
use cosmos_nn::causal_conv::CausalConv3d;

use crate::cache::CausalCache;
use crate::config::TokenizerConfig;
use crate::layers3d::{
    CausalGroupNorm, CausalHybridDownsample3d, CausalHybridUpsample3d, ResnetBlockFactorized3d,
    SpatioTemporalAttention, factorized_conv, sequential,
};
use crate::patching::Patcher;
use crate::{Error, Result};

/// One resolution level of the encoder.
#[derive(Module, Debug)]
pub struct DownLevel3d {
    /// Residual blocks.
    pub block: Vec<ResnetBlockFactorized3d>,
    /// Attention after each block (empty unless this level's nominal size is in `attn_resolutions`).
    pub attn: Vec<SpatioTemporalAttention>,
    /// Downsampling after the blocks (every level but the last).
    pub downsample: Option<CausalHybridDownsample3d>,
}

/// The middle of both networks: block, attention, block.
#[derive(Module, Debug)]
pub struct MidBlock3d {
    /// First residual block.
    pub block_1: ResnetBlockFactorized3d,
    /// Spatial then temporal attention.
    pub attn_1: SpatioTemporalAttention,
    /// Second residual block.
    pub block_2: ResnetBlockFactorized3d,
}

impl MidBlock3d {
    fn new(device: &Device, channels: usize) -> Self {
        Self {
            block_1: ResnetBlockFactorized3d::new(device, channels, channels),
            attn_1: SpatioTemporalAttention::new(device, channels),
            block_2: ResnetBlockFactorized3d::new(device, channels, channels),
        }
    }

    fn forward(&self, x: Tensor<5>, cache: &mut CausalCache) -> Tensor<5> {
        let x = self.block_1.forward(x, cache);
        let x = self.attn_1.forward(x, cache);
        self.block_2.forward(x, cache)
    }
}

/// The factorized causal video encoder: `[b, in, 1 + k·T, H, W] → [b, z, 1 + k, H/S, W/S]`.
#[derive(Module, Debug)]
pub struct EncoderFactorized {
    /// Spatial then temporal input convolution.
    pub conv_in: Vec<CausalConv3d>,
    /// Resolution levels.
    pub down: Vec<DownLevel3d>,
    /// Middle blocks.
    pub mid: MidBlock3d,
    /// Final per-frame norm.
    pub norm_out: CausalGroupNorm,
    /// Spatial then temporal output convolution.
    pub conv_out: Vec<CausalConv3d>,
    /// The Haar (or rearrange) patcher.
    #[module(skip)]
    pub patcher: Patcher,
}

impl EncoderFactorized {
    /// Builds the encoder of `config` (a CV or DV config) with `z_channels` output channels.
    pub fn new(config: &TokenizerConfig, z_channels: usize, device: &Device) -> Self {
        let p = config.patch_size;
        let levels = config.channels_mult.len();
        let spatial_downs = config.requested_spatial_downs();
        let temporal_downs = config.requested_temporal_downs();
        let ch = config.channels;
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
                block.push(ResnetBlockFactorized3d::new(device, block_in, block_out));
                block_in = block_out;
                if config.attn_resolutions.contains(&curr_res) {
                    attn.push(SpatioTemporalAttention::new(device, block_in));
                }
            }
            let downsample = (i_level != levels - 1).then(|| {
                curr_res /= 2;
                CausalHybridDownsample3d::new(
                    device,
                    block_in,
                    (i_level as isize) < spatial_downs,
                    (i_level as isize) < temporal_downs,
                )
            });
            down.push(DownLevel3d {
                block,
                attn,
                downsample,
            });
        }
        Self {
            conv_in: factorized_conv(device, config.in_channels * p * p * p, ch),
            down,
            mid: MidBlock3d::new(device, block_in),
            norm_out: CausalGroupNorm::new(device, block_in),
            conv_out: factorized_conv(device, block_in, z_channels),
            patcher: Patcher::new(p, config.patch_method),
        }
    }

    /// Encodes a clip (or, with a streaming cache, the next chunk of one).
    pub fn forward(&self, x: Tensor<5>, cache: &mut CausalCache) -> Result<Tensor<5>> {
        let first = cache.first_chunk();
        let x = self.patcher.patch_video(x, first)?;
        let mut h = sequential(&self.conv_in, x, cache);
        for level in &self.down {
            for (i, block) in level.block.iter().enumerate() {
                h = block.forward(h, cache);
                if let Some(attn) = level.attn.get(i) {
                    h = attn.forward(h, cache);
                }
            }
            if let Some(downsample) = &level.downsample {
                h = downsample.forward(h, cache);
            }
        }
        let h = self.mid.forward(h, cache);
        let h = silu(self.norm_out.forward(h));
        Ok(sequential(&self.conv_out, h, cache))
    }
}

/// One resolution level of the decoder.
#[derive(Module, Debug)]
pub struct UpLevel3d {
    /// Residual blocks (`num_res_blocks + 1`).
    pub block: Vec<ResnetBlockFactorized3d>,
    /// Attention after each block, if any.
    pub attn: Vec<SpatioTemporalAttention>,
    /// Upsampling after the blocks (every level but level 0).
    pub upsample: Option<CausalHybridUpsample3d>,
}

/// The factorized causal video decoder: `[b, z, 1 + k, h, w] → [b, out, 1 + k·T, h·S, w·S]`.
#[derive(Module, Debug)]
pub struct DecoderFactorized {
    /// Spatial then temporal input convolution.
    pub conv_in: Vec<CausalConv3d>,
    /// Middle blocks.
    pub mid: MidBlock3d,
    /// Resolution levels, indexed as in the reference (`up.0` is the last, full-size level).
    pub up: Vec<UpLevel3d>,
    /// Final per-frame norm.
    pub norm_out: CausalGroupNorm,
    /// Spatial then temporal output convolution.
    pub conv_out: Vec<CausalConv3d>,
    /// The inverse patcher.
    #[module(skip)]
    pub patcher: Patcher,
}

impl DecoderFactorized {
    /// Builds the decoder of `config` taking `z_channels` input channels. The channel
    /// multipliers are [`TokenizerConfig::decoder_channels_mult`].
    pub fn new(config: &TokenizerConfig, z_channels: usize, device: &Device) -> Self {
        let p = config.patch_size;
        let mult = config.decoder_channels_mult();
        let levels = mult.len();
        let ch = config.channels;
        let (spatial_ups, temporal_ups) = (
            config.requested_spatial_downs(),
            config.requested_temporal_downs(),
        );
        let mut block_in = ch * mult[levels - 1];
        let mut curr_res = (config.resolution / p) >> (levels - 1);
        let mid = MidBlock3d::new(device, block_in);
        let conv_in = factorized_conv(device, z_channels, block_in);
        let mut up: Vec<UpLevel3d> = Vec::with_capacity(levels);
        for i_level in (0..levels).rev() {
            let block_out = ch * mult[i_level];
            let mut block = Vec::new();
            let mut attn = Vec::new();
            for _ in 0..=config.num_res_blocks {
                block.push(ResnetBlockFactorized3d::new(device, block_in, block_out));
                block_in = block_out;
                if config.attn_resolutions.contains(&curr_res) {
                    attn.push(SpatioTemporalAttention::new(device, block_in));
                }
            }
            let upsample = (i_level != 0).then(|| {
                let reverse = (levels - i_level - 1) as isize;
                let temporal_up = if config.legacy_mode {
                    reverse < temporal_ups
                } else {
                    0 < reverse && reverse < temporal_ups + 1
                };
                let spatial_up =
                    temporal_up || (reverse < spatial_ups && spatial_ups > temporal_ups);
                curr_res *= 2;
                CausalHybridUpsample3d::new(device, block_in, spatial_up, temporal_up)
            });
            up.push(UpLevel3d {
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
            norm_out: CausalGroupNorm::new(device, block_in),
            conv_out: factorized_conv(device, block_in, config.out_channels * p * p * p),
            patcher: Patcher::new(p, config.patch_method),
        }
    }

    /// The decoder's spatial and temporal upsampling factors (patcher included).
    pub fn factors(&self) -> (usize, usize) {
        let p = self.patcher.patch_size;
        self.up
            .iter()
            .filter_map(|level| level.upsample.as_ref())
            .fold((p, p), |(s, t), up| {
                (s << up.spatial_up as usize, t << up.temporal_up as usize)
            })
    }

    /// Decodes a latent clip `[b, z, t, h, w]`.
    pub fn forward(&self, z: Tensor<5>, cache: &mut CausalCache) -> Result<Tensor<5>> {
        let first = cache.first_chunk();
        let mut h = sequential(&self.conv_in, z, cache);
        h = self.mid.forward(h, cache);
        for level in self.up.iter().rev() {
            for (i, block) in level.block.iter().enumerate() {
                h = block.forward(h, cache);
                if let Some(attn) = level.attn.get(i) {
                    h = attn.forward(h, cache);
                }
            }
            if let Some(upsample) = &level.upsample {
                h = upsample.forward(h, cache);
            }
        }
        let h = silu(self.norm_out.forward(h));
        let h = sequential(&self.conv_out, h, cache);
        self.patcher
            .unpatch_video(h, first)
            .map_err(|e| Error::Unsupported(format!("decoder output: {e}")))
    }
}
