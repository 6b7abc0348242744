//! The Cosmos discrete video tokenizer (`cosmos-tokenizer`'s DV models) as the pipeline's
//! [`VideoTokenizer`].

use std::path::Path;

use burn::tensor::{Device, Int, Tensor};
use cosmos_nn::parity::Fixture;
use cosmos_tokenizer::{Tokenizer, TokenizerConfig};

use crate::video2world::VideoTokenizer;
use crate::{Error, Result};

fn stage(stage: &str) -> impl Fn(cosmos_tokenizer::Error) -> Error + '_ {
    move |e| Error::Stage {
        stage: stage.to_string(),
        message: e.to_string(),
    }
}

impl VideoTokenizer for Tokenizer {
    fn encode(&self, video: Tensor<5>) -> Result<Tensor<4, Int>> {
        let encoded = Tokenizer::encode(self, video).map_err(stage("tokenizer encoder"))?;
        encoded.indices.ok_or_else(|| Error::Stage {
            stage: "tokenizer encoder".into(),
            message: "a continuous tokenizer gives no token indices: use a DV tokenizer".into(),
        })
    }

    fn decode(&self, indices: Tensor<4, Int>) -> Result<Tensor<5>> {
        self.decode_indices(indices)
            .map_err(stage("tokenizer decoder"))
    }

    fn temporal_compression(&self) -> usize {
        Tokenizer::temporal_compression(self)
    }

    fn spatial_compression(&self) -> usize {
        Tokenizer::spatial_compression(self)
    }
}

/// Loads a discrete video tokenizer: a published checkpoint (a folder with `encoder.jit` and
/// `decoder.jit`, such as `Cosmos-1.0-Tokenizer-DV8x16x16/`, or one file; see
/// `cosmos_tokenizer::Tokenizer::load`), or a tokenizer parity fixture (`NAME.safetensors`
/// with its `NAME.json` config beside it). Fails unless it is a DV tokenizer with both halves.
pub fn load_discrete_video_tokenizer(path: impl AsRef<Path>, device: &Device) -> Result<Tokenizer> {
    let path = path.as_ref();
    let error = |message: String| Error::Stage {
        stage: format!("tokenizer {}", path.display()),
        message,
    };
    let sidecar = path.with_extension("json");
    let is_fixture = path.extension().is_some_and(|e| e == "safetensors") && sidecar.is_file();
    let tokenizer = if is_fixture {
        let fixture = Fixture::open(path)?;
        let config = TokenizerConfig::from_json(&fixture.json).map_err(|e| error(e.to_string()))?;
        Tokenizer::from_checkpoint(config, &fixture.weights, device)
    } else {
        Tokenizer::load(path, None, device)
    }
    .map_err(|e| error(e.to_string()))?;
    let kind = tokenizer.kind();
    if !(kind.is_discrete() && kind.is_video()) {
        return Err(error(format!(
            "is a {} tokenizer; the AR model needs a discrete video (DV) tokenizer",
            kind.short_name()
        )));
    }
    if !(tokenizer.has_encoder() && tokenizer.has_decoder()) {
        return Err(error(
            "needs both the encoder and the decoder (encoder.jit and decoder.jit)".into(),
        ));
    }
    Ok(tokenizer)
}
