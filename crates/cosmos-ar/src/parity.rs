//! `cosmos verify --kind ar`: the transformer against a cosmos-predict1 parity fixture.

use burn::tensor::{Bool, DType, Device, Int, Tensor, TensorData};
use cosmos_nn::parity::{Comparison, Fixture};

use crate::config::ArConfig;
use crate::model::{CrossContext, Logits};
use crate::{Error, Result};

/// Builds the model from the fixture's JSON config (any values the reference accepts), loads
/// its weights and compares every output the fixture holds:
/// - `logits`: `__tokens__ [batch, n]` at positions `0..n` (with `__context__` and
///   `__context_mask__`, 1 = attend, for cross-attention models);
/// - `logits_incremental_from_prefill_minus_1` (`[batch, m, vocab]`, when present): prefill
///   the first `n − m` tokens keeping the last logit, then feed tokens `n−m .. n−1` one at a
///   time through the KV cache (the JSON may name the prefill length `prefill_len`).
pub fn verify_fixture(fixture: &Fixture, device: &Device) -> Result<Vec<Comparison>> {
    let config = ArConfig::from_json(&fixture.json)?;
    let mut model = config.init(device)?;
    model.load_checkpoint(fixture.weights.clone())?;

    let tokens_data = fixture.data("tokens")?.clone().convert_dtype(DType::I64);
    let [b, n] = match tokens_data.shape().to_vec()[..] {
        [b, n] => [b, n],
        ref other => {
            return Err(Error::Shape {
                what: "fixture '__tokens__'".into(),
                expected: "[batch, tokens]".into(),
                found: other.to_vec(),
            });
        }
    };
    let tokens = Tensor::<2, Int>::from_data(tokens_data, device);
    let cross = cross_context_of(fixture, &model, device)?;

    let mut comparisons = Vec::new();
    let logits = model.logits(tokens.clone(), cross.as_ref())?;
    comparisons.push(fixture.compare("logits", logits.into_data())?);

    let name = "logits_incremental_from_prefill_minus_1";
    if fixture.has(name) {
        let steps = fixture
            .data(name)?
            .shape()
            .to_vec()
            .get(1)
            .copied()
            .unwrap_or(0);
        let prefill = fixture
            .json_field("prefill_len")
            .and_then(|v| v.as_u64())
            .map(|v| v as usize)
            .unwrap_or(n.saturating_sub(steps));
        if steps == 0 || prefill == 0 || prefill + steps - 1 > n {
            return Err(Error::Argument(format!(
                "fixture '{name}': {steps} steps after a prefill of {prefill} do not fit {n} tokens"
            )));
        }
        let mut cache = model.new_cache(b, prefill + steps - 1)?;
        let mut outputs = vec![model.forward(
            tokens.clone().narrow(1, 0, prefill),
            &mut cache,
            cross.as_ref(),
            Logits::Last,
        )?];
        for pos in prefill..prefill + steps - 1 {
            outputs.push(model.forward(
                tokens.clone().narrow(1, pos, 1),
                &mut cache,
                cross.as_ref(),
                Logits::Last,
            )?);
        }
        comparisons.push(fixture.compare(name, Tensor::cat(outputs, 1).into_data())?);
    }
    Ok(comparisons)
}

/// The fixture's `__context__` / `__context_mask__` projected for cross-attention, if any.
fn cross_context_of(
    fixture: &Fixture,
    model: &crate::ArTransformer,
    device: &Device,
) -> Result<Option<CrossContext>> {
    if !fixture.has("context") {
        return Ok(None);
    }
    let context = fixture.tensor::<3>("context", device)?;
    let valid = if fixture.has("context_mask") {
        let data = fixture.data("context_mask")?;
        let shape = data.shape().to_vec();
        let values: Vec<bool> = data
            .clone()
            .convert_dtype(DType::F64)
            .try_into_vec::<f64>()
            .map_err(|e| Error::Argument(format!("fixture '__context_mask__': {e:?}")))?
            .into_iter()
            .map(|v| v != 0.0)
            .collect();
        if shape.len() != 2 {
            return Err(Error::Shape {
                what: "fixture '__context_mask__'".into(),
                expected: "[batch, keys]".into(),
                found: shape,
            });
        }
        Some(Tensor::<2, Bool>::from_data(
            TensorData::new(values, [shape[0], shape[1]]),
            device,
        ))
    } else {
        None
    };
    Ok(Some(model.cross_context(context, valid)?))
}
