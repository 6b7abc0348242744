//! `cosmos verify --kind t5`: the encoder against a `transformers.T5EncoderModel` fixture.

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use cosmos_nn::parity::{Comparison, Fixture};

use crate::config::T5Config;
use crate::model::check_token_ids;
use crate::{Error, Result};

/// Builds the encoder from the fixture's JSON config (under `config`, as Hugging Face's
/// `config.json` keys), loads its weights and compares `last_hidden_state` for
/// `__input_ids__ [batch, tokens]` with `__attention_mask__` (1 = token, 0 = padding; all
/// ones when absent).
pub fn verify_fixture(fixture: &Fixture, device: &Device) -> Result<Vec<Comparison>> {
    let config = T5Config::from_json_value(&fixture.json)?;
    let mut encoder = config.init(device)?;
    encoder.load_checkpoint(fixture.weights.clone())?;

    let ids = fixture.data("input_ids")?.clone().convert_dtype(DType::I64);
    let shape = ids.shape().to_vec();
    let [batch, tokens] = shape[..] else {
        return Err(Error::Shape {
            what: "fixture '__input_ids__'".into(),
            expected: "[batch, tokens]".into(),
            found: shape,
        });
    };
    let values: Vec<i64> = ids.clone().try_into_vec().map_err(|e| Error::Shape {
        what: format!("fixture '__input_ids__' ({e:?})"),
        expected: "integer ids".into(),
        found: vec![batch, tokens],
    })?;
    check_token_ids(&values, tokens, config.vocab_size)?;
    let input_ids = Tensor::<2, Int>::from_data(ids, device);

    let mask = if fixture.has("attention_mask") {
        let data = fixture
            .data("attention_mask")?
            .clone()
            .convert_dtype(DType::I64);
        let values: Vec<i64> = data.try_into_vec().map_err(|e| Error::Shape {
            what: format!("fixture '__attention_mask__' ({e:?})"),
            expected: "integers 0/1".into(),
            found: vec![],
        })?;
        let valid: Vec<bool> = values.iter().map(|&v| v != 0).collect();
        if valid.len() != batch * tokens {
            return Err(Error::Shape {
                what: "fixture '__attention_mask__'".into(),
                expected: format!("[{batch}, {tokens}]"),
                found: vec![valid.len()],
            });
        }
        Some(Tensor::from_data(
            TensorData::new(valid, [batch, tokens]),
            device,
        ))
    } else {
        None
    };
    let hidden = encoder.forward(input_ids, mask)?;
    Ok(vec![
        fixture.compare("last_hidden_state", hidden.into_data())?,
    ])
}
