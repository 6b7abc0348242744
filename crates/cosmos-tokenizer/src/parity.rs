//! Parity with NVIDIA's reference: runs a tokenizer fixture (see `cosmos_nn::parity`) and
//! compares every output it holds. Behind `cosmos verify --kind tokenizer`.

use burn::tensor::{Device, Int, Tensor, TensorData};
use cosmos_nn::parity::{Comparison, Fixture};

use crate::Result;
use crate::config::TokenizerConfig;
use crate::tokenizer::Tokenizer;

/// Builds the tokenizer described by the fixture's JSON (any config values), loads the
/// fixture's weights by their original names and compares each output the fixture holds:
/// `latent` (CV/CI) or `codes` and `indices` (DV/DI) from encoding `__input__`; `decoded` from
/// decoding the reference's own latent or codes; `decoded_from_indices` from the reference's
/// indices. Image fixtures (`[b, c, h, w]`) and video fixtures (`[b, c, t, h, w]`, any batch
/// and frame count) are both accepted.
pub fn verify_fixture(fixture: &Fixture, device: &Device) -> Result<Vec<Comparison>> {
    let config = TokenizerConfig::from_json(&fixture.json)?;
    let tokenizer = Tokenizer::from_checkpoint(config, &fixture.weights, device)?;
    verify_with(&tokenizer, fixture, device)
}

/// [`verify_fixture`] with an already loaded tokenizer (for instance one whose weights came
/// from the `.jit` twins of the fixture).
pub fn verify_with(
    tokenizer: &Tokenizer,
    fixture: &Fixture,
    device: &Device,
) -> Result<Vec<Comparison>> {
    let image = !tokenizer.kind().is_video();
    let video = |name: &str| -> Result<Tensor<5>> {
        Ok(if image {
            fixture.tensor::<4>(name, device)?.unsqueeze_dim(2)
        } else {
            fixture.tensor::<5>(name, device)?
        })
    };
    let out = |t: Tensor<5>| -> TensorData {
        if image {
            t.squeeze_dim::<4>(2).into_data()
        } else {
            t.into_data()
        }
    };
    let mut comparisons = Vec::new();
    if tokenizer.has_encoder() && fixture.has("input") {
        let encoded = tokenizer.encode(video("input")?)?;
        for name in ["latent", "codes"] {
            if fixture.has(name) {
                comparisons.push(fixture.compare(name, out(encoded.latent.clone()))?);
            }
        }
        if let (true, Some(indices)) = (fixture.has("indices"), encoded.indices) {
            let data = if image {
                indices.squeeze_dim::<3>(1).into_data()
            } else {
                indices.into_data()
            };
            comparisons.push(fixture.compare("indices", data)?);
        }
    }
    if tokenizer.has_decoder() {
        let source = ["latent", "codes"].into_iter().find(|n| fixture.has(n));
        if let (true, Some(source)) = (fixture.has("decoded"), source) {
            let decoded = tokenizer.decode(video(source)?)?;
            comparisons.push(fixture.compare("decoded", out(decoded))?);
        }
        if fixture.has("decoded_from_indices") && fixture.has("indices") {
            let data = fixture.data("indices")?.clone();
            let decoded = if image {
                let indices = Tensor::<3, Int>::from_data(data, device).unsqueeze_dim::<4>(1);
                tokenizer.decode_indices(indices)?
            } else {
                tokenizer.decode_indices(Tensor::<4, Int>::from_data(data, device))?
            };
            comparisons.push(fixture.compare("decoded_from_indices", out(decoded))?);
        }
    }
    Ok(comparisons)
}
