//! [`Tokenizer`]: one of the four Cosmos tokenizers with its weights, and the checks that
//! turn bad input into typed errors.

use burn::tensor::{Device, Int, Tensor};
use cosmos_nn::checkpoint::Checkpoint;

use crate::cache::CausalCache;
use crate::config::{Formulation, TokenizerConfig, TokenizerKind};
use crate::fsq::FsqQuantizer;
use crate::model::{DecoderHalf, EncoderHalf, quantize};
use crate::pretrained;
use crate::{Error, Result};

/// What [`Tokenizer::encode`] returns.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// CV / CI: the continuous latent `[b, latent_channels, t', h', w']`.
    /// DV / DI: the quantized code `[b, embedding_dim, t', h', w']` (values `k / (L // 2)`),
    /// which [`Tokenizer::decode`] takes as it is.
    pub latent: Tensor<5>,
    /// DV / DI: the FSQ indices `[b, t', h', w']` (`0..codebook_size`); `None` for CV / CI.
    pub indices: Option<Tensor<4, Int>>,
}

/// What [`Tokenizer::encode_image`] returns: [`Encoded`] without the time axis.
#[derive(Debug, Clone)]
pub struct EncodedImage {
    /// Latent or code `[b, c, h', w']`.
    pub latent: Tensor<4>,
    /// FSQ indices `[b, h', w']` for discrete tokenizers.
    pub indices: Option<Tensor<3, Int>>,
}

/// A Cosmos tokenizer: encoder and/or decoder of one config, on one device.
///
/// Videos are `[batch, channels, time, height, width]` in `[−1, 1]`. Image tokenizers (CI,
/// DI) take videos too and tokenize every frame on its own; [`encode_image`](Self::encode_image)
/// and [`decode_image`](Self::decode_image) take `[batch, channels, height, width]`.
#[derive(Debug)]
pub struct Tokenizer {
    config: TokenizerConfig,
    kind: TokenizerKind,
    pub(crate) encoder: Option<EncoderHalf>,
    pub(crate) decoder: Option<DecoderHalf>,
    quantizer: Option<FsqQuantizer>,
    device: Device,
}

impl Tokenizer {
    /// A tokenizer with freshly initialised (random) weights, PyTorch's default
    /// initialisation. Seed the device (`device.seed(n)`) first for reproducible weights.
    pub fn random(config: TokenizerConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        let encoder = EncoderHalf::new(&config, device);
        let decoder = DecoderHalf::new(&config, device);
        encoder.materialize();
        decoder.materialize();
        Self::assemble(config, Some(encoder), Some(decoder), device)
    }

    /// A published model's architecture ([`TokenizerConfig::preset`]) with random weights.
    pub fn random_preset(name: &str, device: &Device) -> Result<Self> {
        Self::random(TokenizerConfig::preset(name)?, device)
    }

    /// Builds the halves whose keys the checkpoint holds (`encoder.*` and/or `decoder.*`) and
    /// loads them by the reference's key names. A checkpoint for another config fails with
    /// [`Error::Checkpoint`] naming every missing, unexpected and mis-shaped key.
    pub fn from_checkpoint(
        config: TokenizerConfig,
        checkpoint: &Checkpoint,
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        let (encoder, decoder) = pretrained::load_halves(&config, checkpoint, device)?;
        Self::assemble(config, encoder, decoder, device)
    }

    /// Loads a tokenizer from a file (safetensors, TorchScript `.jit`, PyTorch `.pt`) or a
    /// folder holding `encoder.jit` / `decoder.jit` / `autoencoder.jit` or `*.safetensors`.
    ///
    /// The config is, in order: `config` if given, a `config.json` in the folder, or the
    /// preset whose name appears in the path (`.../Cosmos-Tokenizer-CV8x8x8/`).
    pub fn load(
        path: impl AsRef<std::path::Path>,
        config: Option<TokenizerConfig>,
        device: &Device,
    ) -> Result<Self> {
        let path = path.as_ref();
        let config = match config {
            Some(config) => config,
            None => pretrained::find_config(path)?,
        };
        let checkpoint = pretrained::read_checkpoint(path)?;
        Self::from_checkpoint(config, &checkpoint, device)
    }

    fn assemble(
        config: TokenizerConfig,
        encoder: Option<EncoderHalf>,
        decoder: Option<DecoderHalf>,
        device: &Device,
    ) -> Result<Self> {
        let kind = config.kind()?;
        let quantizer = kind
            .is_discrete()
            .then(|| FsqQuantizer::new(config.fsq_levels()));
        Ok(Self {
            config,
            kind,
            encoder,
            decoder,
            quantizer,
            device: device.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// The tokenizer family.
    pub fn kind(&self) -> TokenizerKind {
        self.kind
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Whether the encoder half is loaded.
    pub fn has_encoder(&self) -> bool {
        self.encoder.is_some()
    }

    /// Whether the decoder half is loaded.
    pub fn has_decoder(&self) -> bool {
        self.decoder.is_some()
    }

    /// Number of parameters of the loaded halves.
    pub fn num_params(&self) -> usize {
        self.encoder.as_ref().map_or(0, EncoderHalf::num_params)
            + self.decoder.as_ref().map_or(0, DecoderHalf::num_params)
    }

    /// The FSQ quantizer of a discrete tokenizer.
    pub fn quantizer(&self) -> Option<&FsqQuantizer> {
        self.quantizer.as_ref()
    }

    /// Spatial compression factor (height and width of a latent = input / this).
    pub fn spatial_compression(&self) -> usize {
        self.config.effective_spatial_compression()
    }

    /// Temporal compression factor (1 for image tokenizers): `1 + k·T` frames → `1 + k` latents.
    pub fn temporal_compression(&self) -> usize {
        self.config.effective_temporal_compression()
    }

    /// Channels of the latent (CV/CI) or code (DV/DI).
    pub fn latent_channels(&self) -> usize {
        self.config.latent_channels()
    }

    /// The latent shape of an input of shape `[b, c, t, h, w]`.
    pub fn latent_shape(&self, input: [usize; 5]) -> [usize; 5] {
        let [b, _, t, h, w] = input;
        let s = self.spatial_compression();
        let tc = self.temporal_compression();
        let t = if tc > 1 { 1 + (t.max(1) - 1) / tc } else { t };
        [b, self.latent_channels(), t, h / s, w / s]
    }

    /// Checks a video for [`encode`](Self::encode): rank, channels, frame count `1 + k·T`,
    /// height and width multiples of the spatial compression, finite values.
    pub fn check_input(&self, x: &Tensor<5>) -> Result<()> {
        let dims = x.dims();
        let [b, c, t, h, w] = dims;
        let s = self.spatial_compression();
        let tc = self.temporal_compression();
        if b == 0 || c != self.config.in_channels || t == 0 || h == 0 || w == 0 {
            return Err(Error::Shape {
                what: "input video".into(),
                expected: format!(
                    "[batch ≥ 1, {} channels, {} frames, height, width]",
                    self.config.in_channels,
                    if tc > 1 {
                        format!("1 + k·{tc}")
                    } else {
                        "≥ 1".into()
                    }
                ),
                found: dims.to_vec(),
            });
        }
        if tc > 1 && (t - 1) % tc != 0 {
            return Err(crate::frame_count_error(t, tc));
        }
        if h % s != 0 || w % s != 0 {
            return Err(Error::Resolution {
                height: h,
                width: w,
                multiple: s,
                padded_height: h.div_ceil(s) * s,
                padded_width: w.div_ceil(s) * s,
            });
        }
        check_finite("input video", x)
    }

    fn encoder(&self) -> Result<&EncoderHalf> {
        self.encoder.as_ref().ok_or_else(|| {
            Error::Unsupported(
                "this tokenizer was loaded without its encoder (no encoder.* weights): it can only decode".into(),
            )
        })
    }

    fn decoder(&self) -> Result<&DecoderHalf> {
        self.decoder.as_ref().ok_or_else(|| {
            Error::Unsupported(
                "this tokenizer was loaded without its decoder (no decoder.* weights): it can only encode".into(),
            )
        })
    }

    /// Encodes a video `[b, c, 1 + k·T, H, W]` in `[−1, 1]` (any frame count for image
    /// tokenizers). See [`Encoded`].
    pub fn encode(&self, x: Tensor<5>) -> Result<Encoded> {
        self.check_input(&x)?;
        self.encode_unchecked(x, &mut CausalCache::offline())
    }

    /// Encodes without the input checks, continuing `cache` (the streaming encoder's path).
    pub(crate) fn encode_unchecked(
        &self,
        x: Tensor<5>,
        cache: &mut CausalCache,
    ) -> Result<Encoded> {
        let formulation = self.config.formulation.unwrap_or(Formulation::Ae);
        let z = self.encoder()?.forward(x, formulation, cache)?;
        Ok(match &self.quantizer {
            None => Encoded {
                latent: z,
                indices: None,
            },
            Some(fsq) => {
                let (codes, indices) = quantize(fsq, z);
                Encoded {
                    latent: codes,
                    indices: Some(indices),
                }
            }
        })
    }

    /// Decodes a latent (CV/CI) or code (DV/DI) `[b, c, t, h, w]` into a video
    /// `[b, out, 1 + (t − 1)·T, h·S, w·S]`.
    pub fn decode(&self, latent: Tensor<5>) -> Result<Tensor<5>> {
        let decoder = self.decoder()?;
        let dims = latent.dims();
        let channels = decoder.latent_channels();
        if dims[0] == 0 || dims[1] != channels || dims[2] == 0 || dims[3] == 0 || dims[4] == 0 {
            return Err(Error::Shape {
                what: "latent".into(),
                expected: format!("[batch ≥ 1, {channels} channels, t ≥ 1, h ≥ 1, w ≥ 1]"),
                found: dims.to_vec(),
            });
        }
        check_finite("latent", &latent)?;
        decoder.forward(latent, &mut CausalCache::offline())
    }

    /// Decodes FSQ indices `[b, t, h, w]` (DV/DI) into a video, like the reference's
    /// `decode_code`.
    pub fn decode_indices(&self, indices: Tensor<4, Int>) -> Result<Tensor<5>> {
        let fsq = self.quantizer.as_ref().ok_or_else(|| {
            Error::Unsupported(format!(
                "{} is a continuous tokenizer: it has no indices to decode",
                self.kind.short_name()
            ))
        })?;
        let codes = fsq.indices_to_codes::<4, 5>(indices)?;
        self.decode(codes)
    }

    /// Encodes images `[b, c, H, W]`: [`encode`](Self::encode) on one-frame videos.
    pub fn encode_image(&self, x: Tensor<4>) -> Result<EncodedImage> {
        let encoded = self.encode(x.unsqueeze_dim(2))?;
        Ok(EncodedImage {
            latent: encoded.latent.squeeze_dim(2),
            indices: encoded.indices.map(|i| i.squeeze_dim(1)),
        })
    }

    /// Decodes image latents or codes `[b, c, h, w]`.
    pub fn decode_image(&self, latent: Tensor<4>) -> Result<Tensor<4>> {
        Ok(self.decode(latent.unsqueeze_dim(2))?.squeeze_dim(2))
    }

    /// Decodes image indices `[b, h, w]`.
    pub fn decode_image_indices(&self, indices: Tensor<3, Int>) -> Result<Tensor<4>> {
        Ok(self
            .decode_indices(indices.unsqueeze_dim(1))?
            .squeeze_dim(2))
    }

    /// The decoder's spatial and temporal factors (they equal the encoder's for every
    /// published config).
    pub fn decoder_factors(&self) -> Option<(usize, usize)> {
        self.decoder.as_ref().map(DecoderHalf::factors)
    }
}

/// Fails with [`Error::NonFinite`] if `x` holds NaN or ±∞.
pub(crate) fn check_finite<const D: usize>(what: &str, x: &Tensor<D>) -> Result<()> {
    let bad = x.clone().is_nan().any().into_scalar::<bool>()
        || x.clone().is_inf().any().into_scalar::<bool>();
    if bad {
        return Err(Error::NonFinite(what.to_string()));
    }
    Ok(())
}
