//! LoRA fine-tuning of a loaded Cosmos DiT (Hu et al. 2021, "LoRA: Low-Rank Adaptation of
//! Large Language Models").
//!
//! Rank-`r` adapters are attached to the attention projections (`q`, `k`, `v`, `out` of the
//! self- and cross-attention) and the MLP linears of every block through burn's own
//! reparameterisation ([`burn::module::Lora`]): the model code is untouched, each adapted
//! `Linear` computes with `W + (α/r)·A·B` (burn's `[in, out]` layout), `A` random and `B` zero, so
//! the adapted network starts exactly at the pretrained one. The base weights are frozen; the
//! frame conditioner (new, zero-initialised) stays fully trainable. [`merge`] folds the
//! adapters into plain weights for export.

use burn::module::{Lora, Module, ParamGroup};

use crate::conditioning::ConditionedDit;
use crate::{Error, Result};

/// Which linears of each DiT block get adapters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoraConfig {
    /// Rank `r`.
    pub rank: usize,
    /// Scale numerator: the update is `(α/r)·A·B`.
    pub alpha: f64,
    /// Adapt the self- and cross-attention projections.
    pub attention: bool,
    /// Adapt the MLP.
    pub mlp: bool,
}

impl LoraConfig {
    /// Rank `rank`, `α = rank` (scale 1), attention and MLP adapted.
    pub fn new(rank: usize) -> Self {
        Self {
            rank,
            alpha: rank as f64,
            attention: true,
            mlp: true,
        }
    }

    /// The parameter paths (inside [`CosmosDit`](cosmos_diffusion::CosmosDit)) that get
    /// adapters, as a regular expression.
    pub fn target_pattern(&self) -> Result<String> {
        let mut parts = Vec::new();
        if self.attention {
            parts.push(r"attn[12]\.(q|k|v|out)");
        }
        if self.mlp {
            parts.push(r"ff\.(proj_in|proj_out)");
        }
        if parts.is_empty() {
            return Err(Error::Config(
                "LoRA needs at least one target (attention or mlp)".into(),
            ));
        }
        Ok(format!(
            r"^transformer_blocks\.\d+\.({})\.weight$",
            parts.join("|")
        ))
    }
}

/// Attaches adapters to `model.dit` and freezes every base weight of the DiT; the conditioner
/// keeps training.
pub fn apply(model: ConditionedDit, config: &LoraConfig) -> Result<ConditionedDit> {
    if config.rank == 0 {
        return Err(Error::Config("LoRA rank must be at least 1".into()));
    }
    let hidden = model.dit.config.hidden_size();
    if config.rank > hidden {
        return Err(Error::Config(format!(
            "LoRA rank {} exceeds the hidden size {hidden}",
            config.rank
        )));
    }
    let group = ParamGroup::from_regex(config.target_pattern()?)
        .map_err(|e| Error::Config(format!("LoRA target pattern: {e:?}")))?;
    let lora = Lora {
        init_std: Some(1.0 / config.rank as f64),
        ..Lora::new(config.rank, config.alpha).set_param_group(group)
    };
    Ok(ConditionedDit {
        dit: model.dit.apply_lora(lora),
        conditioner: model.conditioner,
    })
}

/// Folds the adapters into the weights (`W ← W + (α/r)·A·B`): the result is a plain
/// [`ConditionedDit`] that computes what the adapted one did, with every parameter trainable
/// again.
pub fn merge(model: ConditionedDit) -> ConditionedDit {
    ConditionedDit {
        dit: model.dit.materialize().unfreeze(),
        conditioner: model.conditioner,
    }
}

/// Number of adapter parameters (`A` and `B` factors) in `model`.
pub fn adapter_params(model: &ConditionedDit) -> usize {
    struct Count {
        depth: usize,
        total: usize,
    }
    impl burn::module::ModuleVisitor for Count {
        fn enter_module(&mut self, _name: &str, container_type: &str) {
            if container_type == "Reparameterization" || self.depth > 0 {
                self.depth += 1;
            }
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.depth = self.depth.saturating_sub(1);
        }
        fn visit_float<const D: usize>(
            &mut self,
            param: &burn::module::Param<burn::tensor::Tensor<D>>,
        ) {
            if self.depth > 0 {
                self.total += param.val().dims().iter().product::<usize>();
            }
        }
    }
    let mut c = Count { depth: 0, total: 0 };
    model.dit.visit(&mut c);
    c.total
}
