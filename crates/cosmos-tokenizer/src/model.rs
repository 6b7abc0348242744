//! The encoder and decoder halves of the four tokenizers, as burn modules whose parameter
//! paths are the keys of the reference's `encoder_jit()` / `decoder_jit()` modules
//! (`encoder.*` + `quant_conv.*`, and `post_quant_conv.*` + `decoder.*`).

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Int, Tensor};
use cosmos_nn::causal_conv::CausalConv3d;

use crate::Result;
use crate::cache::CausalCache;
use crate::config::{Formulation, TokenizerConfig};
use crate::fsq::FsqQuantizer;
use crate::layers3d::causal_conv;
use crate::network2d::{Decoder2d, Encoder2d, conv2d};
use crate::network3d::{DecoderFactorized, EncoderFactorized};

/// Encoder half of an image tokenizer.
#[derive(Module, Debug)]
pub struct ImageEncoder {
    /// The network.
    pub encoder: Encoder2d,
    /// 1×1 projection to the latent (or code) channels.
    pub quant_conv: Conv2d,
}

/// Decoder half of an image tokenizer.
#[derive(Module, Debug)]
pub struct ImageDecoder {
    /// 1×1 projection from the latent (or code) channels.
    pub post_quant_conv: Conv2d,
    /// The network.
    pub decoder: Decoder2d,
}

/// Encoder half of a causal video tokenizer.
#[derive(Module, Debug)]
pub struct VideoEncoder {
    /// The network.
    pub encoder: EncoderFactorized,
    /// 1×1×1 projection to the latent (or code) channels.
    pub quant_conv: CausalConv3d,
}

/// Decoder half of a causal video tokenizer.
#[derive(Module, Debug)]
pub struct VideoDecoder {
    /// 1×1×1 projection from the latent (or code) channels.
    pub post_quant_conv: CausalConv3d,
    /// The network.
    pub decoder: DecoderFactorized,
}

/// The encoder half of any tokenizer.
#[derive(Debug)]
pub enum EncoderHalf {
    /// CI / DI.
    Image(ImageEncoder),
    /// CV / DV.
    Video(VideoEncoder),
}

/// The decoder half of any tokenizer.
#[derive(Debug)]
pub enum DecoderHalf {
    /// CI / DI.
    Image(ImageDecoder),
    /// CV / DV.
    Video(VideoDecoder),
}

/// Channels the encoder network outputs and the decoder network takes (`z_channels`, times
/// `z_factor` for the encoder), and the channels of the latent or code in between.
fn channel_plan(config: &TokenizerConfig) -> (usize, usize, usize, usize) {
    let kind = config.kind().expect("validated config");
    let latent = config.latent_channels();
    if kind.is_discrete() {
        // The discrete tokenizers pass z_factor·z_channels to the 3D encoder, z_channels to
        // the 2D one; both project to embedding_dim.
        let enc_z = if kind.is_video() {
            config.z_factor * config.z_channels
        } else {
            config.z_channels
        };
        (enc_z, latent, latent, config.z_channels)
    } else {
        (
            config.z_factor * config.z_channels,
            config.z_factor * latent,
            latent,
            config.z_channels,
        )
    }
}

impl EncoderHalf {
    /// Builds the encoder half of a validated config with freshly initialised weights.
    pub fn new(config: &TokenizerConfig, device: &Device) -> Self {
        let (enc_z, quant_out, _, _) = channel_plan(config);
        if config.kind().expect("validated config").is_video() {
            Self::Video(VideoEncoder {
                encoder: EncoderFactorized::new(config, enc_z, device),
                quant_conv: causal_conv(device, enc_z, quant_out, [1, 1, 1], 0),
            })
        } else {
            Self::Image(ImageEncoder {
                encoder: Encoder2d::new(config, enc_z, device),
                quant_conv: conv2d(device, enc_z, quant_out, 1, 0),
            })
        }
    }

    /// The pre-quantization output (continuous latent, or its VAE mean; the unquantized code
    /// for FSQ) of a clip `[b, c, t, h, w]`. Image tokenizers encode every frame on its own.
    pub(crate) fn forward(
        &self,
        x: Tensor<5>,
        formulation: Formulation,
        cache: &mut CausalCache,
    ) -> Result<Tensor<5>> {
        let moments = match self {
            Self::Video(model) => model.quant_conv.forward(model.encoder.forward(x, cache)?),
            Self::Image(model) => {
                let [b, c, t, h, w] = x.dims();
                let frames = x.swap_dims(1, 2).reshape([b * t, c, h, w]);
                let z = model.quant_conv.forward(model.encoder.forward(frames)?);
                let [_, zc, zh, zw] = z.dims();
                z.reshape([b, t, zc, zh, zw]).swap_dims(1, 2)
            }
        };
        Ok(match formulation {
            Formulation::Ae => moments,
            Formulation::Vae => {
                let channels = moments.dims()[1] / 2;
                moments.narrow(1, 0, channels)
            }
        })
    }
}

impl DecoderHalf {
    /// Builds the decoder half of a validated config with freshly initialised weights.
    pub fn new(config: &TokenizerConfig, device: &Device) -> Self {
        let (_, _, latent, dec_z) = channel_plan(config);
        if config.kind().expect("validated config").is_video() {
            Self::Video(VideoDecoder {
                post_quant_conv: causal_conv(device, latent, dec_z, [1, 1, 1], 0),
                decoder: DecoderFactorized::new(config, dec_z, device),
            })
        } else {
            Self::Image(ImageDecoder {
                post_quant_conv: conv2d(device, latent, dec_z, 1, 0),
                decoder: Decoder2d::new(config, dec_z, device),
            })
        }
    }

    /// Decodes latents or codes `[b, c, t, h, w]` (image tokenizers decode every latent frame
    /// on its own).
    pub(crate) fn forward(&self, z: Tensor<5>, cache: &mut CausalCache) -> Result<Tensor<5>> {
        match self {
            Self::Video(model) => model
                .decoder
                .forward(model.post_quant_conv.forward(z), cache),
            Self::Image(model) => {
                let [b, c, t, h, w] = z.dims();
                let frames = z.swap_dims(1, 2).reshape([b * t, c, h, w]);
                let x = model
                    .decoder
                    .forward(model.post_quant_conv.forward(frames))?;
                let [_, xc, xh, xw] = x.dims();
                Ok(x.reshape([b, t, xc, xh, xw]).swap_dims(1, 2))
            }
        }
    }

    /// Spatial and temporal upsampling factors of the decoder.
    pub(crate) fn factors(&self) -> (usize, usize) {
        match self {
            Self::Video(model) => model.decoder.factors(),
            Self::Image(model) => (model.decoder.factor(), 1),
        }
    }

    /// The channels of the latents or codes it takes.
    pub(crate) fn latent_channels(&self) -> usize {
        match self {
            Self::Video(model) => model.post_quant_conv.conv3d.weight.dims()[1],
            Self::Image(model) => model.post_quant_conv.weight.dims()[1],
        }
    }
}

/// Quantizes a pre-quantization code `[b, d, t, h, w]` into codes and indices `[b, t, h, w]`.
pub(crate) fn quantize(fsq: &FsqQuantizer, z: Tensor<5>) -> (Tensor<5>, Tensor<4, Int>) {
    fsq.quantize::<5, 4>(z)
}

/// Initialises every lazily initialised parameter now, so the first forward pass does not
/// pay for random initialisation.
struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

impl EncoderHalf {
    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        match self {
            Self::Video(m) => m.num_params(),
            Self::Image(m) => m.num_params(),
        }
    }

    pub(crate) fn materialize(&self) {
        match self {
            Self::Video(m) => m.visit(&mut Materialize),
            Self::Image(m) => m.visit(&mut Materialize),
        }
    }
}

impl DecoderHalf {
    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        match self {
            Self::Video(m) => m.num_params(),
            Self::Image(m) => m.num_params(),
        }
    }

    pub(crate) fn materialize(&self) {
        match self {
            Self::Video(m) => m.visit(&mut Materialize),
            Self::Image(m) => m.visit(&mut Materialize),
        }
    }
}
