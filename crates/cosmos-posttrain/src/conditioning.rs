//! Extra conditioning for a pretrained Cosmos DiT, added without disturbing its weights.
//!
//! Post-training a world model on robot or driving data adds inputs the published network never
//! saw: an action per frame (action-based next-frame prediction), a camera pose or motion per
//! frame (camera control), the index of the camera in a multi-view rig. Each becomes a per-frame
//! embedding `[batch, T, hidden]` that [`CosmosDit::forward_with_frame_embedding`] adds to the
//! tokens of its latent frame at the start of every block. Every conditioner ends in a projection that starts at exactly
//! zero (ControlNet's "zero convolution" idea, Zhang et al. 2023), so at initialisation the
//! conditioned network computes the pretrained function bit for bit and fine-tuning starts from
//! the published model rather than from a perturbed one.
//!
//! Text instructions need no new projection: the DiT already attends to text embeddings through
//! cross-attention, so an instruction is passed as the `context` (T5 embeddings of the
//! instruction, or any `[tokens, text_embed_dim]` sequence) and fine-tuning teaches the network
//! to follow it.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Int, Tensor};
use cosmos_diffusion::{CosmosDit, DitConditioning, DitPositions};
use serde::{Deserialize, Serialize};

use crate::Error;

/// Which extra conditioning a post-training run adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConditionKind {
    /// One action vector per latent frame.
    Action,
    /// One camera pose / motion vector per latent frame.
    Camera,
    /// The index of the camera of a multi-view rig.
    View,
    /// A text instruction, through the existing cross-attention.
    Text,
}

impl std::str::FromStr for ConditionKind {
    type Err = Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "action" => Ok(Self::Action),
            "camera" | "pose" => Ok(Self::Camera),
            "view" => Ok(Self::View),
            "text" | "instruction" => Ok(Self::Text),
            other => Err(Error::Config(format!(
                "unknown condition '{other}' (action, camera, view or text)"
            ))),
        }
    }
}

/// Configuration of a [`VectorEncoder`].
#[derive(Config, Debug)]
pub struct VectorEncoderConfig {
    /// Width of the input vectors (e.g. the action dimension).
    pub input: usize,
    /// Width of the DiT's hidden states.
    pub hidden: usize,
    /// Width of the inner layer; the hidden size when `None`.
    #[config(default = "None")]
    pub inner: Option<usize>,
}

/// A per-frame vector (action, camera pose) → `[.., hidden]` through a two-layer MLP whose output
/// layer is zero-initialised.
#[derive(Module, Debug)]
pub struct VectorEncoder {
    /// `input → inner`, with bias.
    pub input: Linear,
    /// `inner → hidden`, with bias, zero at initialisation.
    pub output: Linear,
}

impl VectorEncoderConfig {
    /// Builds the encoder; the output projection starts at zero.
    pub fn init(&self, device: &Device) -> VectorEncoder {
        let inner = self.inner.unwrap_or(self.hidden);
        VectorEncoder {
            input: LinearConfig::new(self.input, inner).init(device),
            output: LinearConfig::new(inner, self.hidden)
                .with_initializer(Initializer::Zeros)
                .init(device),
        }
    }
}

impl VectorEncoder {
    /// Width of the input vectors.
    pub fn input_dim(&self) -> usize {
        self.input.weight.dims()[0]
    }

    /// `vectors: [batch, T, input] → [batch, T, hidden]`.
    pub fn forward(&self, vectors: Tensor<3>) -> Tensor<3> {
        self.output.forward(silu(self.input.forward(vectors)))
    }
}

/// The inputs of a [`FrameConditioner`] for one batch. Per-frame rows are per latent *token*
/// frame (latent frames / temporal patch size; equal for patch size 1).
#[derive(Debug, Clone, Default)]
pub struct FrameInputs {
    /// Actions `[batch, T, action_dim]`.
    pub actions: Option<Tensor<3>>,
    /// Camera poses or motions `[batch, T, pose_dim]`.
    pub camera: Option<Tensor<3>>,
    /// View (camera) index per sample `[batch]`.
    pub view: Option<Tensor<1, Int>>,
    /// A spatial action map `[batch, channels, T, H, W]` at the latent's resolution: the action
    /// drawn where it acts in the frame (e.g. the impulse of a push, splatted at the pushed
    /// object). Each token gets the embedding of its own patch of the map.
    pub action_map: Option<Tensor<5>>,
}

/// Configuration of a [`FrameConditioner`].
#[derive(Config, Debug)]
pub struct FrameConditionerConfig {
    /// Width of the DiT's hidden states.
    pub hidden: usize,
    /// Action vector width; no action conditioning when `None`.
    #[config(default = "None")]
    pub action_dim: Option<usize>,
    /// Camera pose / motion vector width; no camera conditioning when `None`.
    #[config(default = "None")]
    pub camera_dim: Option<usize>,
    /// Number of views; no view conditioning when `None`.
    #[config(default = "None")]
    pub views: Option<usize>,
    /// Inner width of the vector encoders (the hidden size when `None`).
    #[config(default = "None")]
    pub inner: Option<usize>,
    /// Zero-initialise the output projections (keep `true` when conditioning a pretrained
    /// network; a network trained from scratch learns faster from a random start).
    #[config(default = true)]
    pub zero_init: bool,
    /// Also feed actions to the cross-attention as tokens: `(latent frames, text_embed_dim)`.
    #[config(default = "None")]
    pub action_tokens: Option<(usize, usize)>,
    /// Spatial action map conditioning: `(channels, DiT patch size [t, h, w])`; none when `None`.
    #[config(default = "None")]
    pub action_map: Option<(usize, [usize; 3])>,
}

/// Action, camera and view conditioners summed into one per-frame embedding.
#[derive(Module, Debug)]
pub struct FrameConditioner {
    /// Action encoder.
    pub action: Option<VectorEncoder>,
    /// Camera pose / motion encoder.
    pub camera: Option<VectorEncoder>,
    /// View embedding table `[views, hidden]`, zero at initialisation.
    pub view: Option<Embedding>,
    /// Optional action tokens for the cross-attention: each latent frame's actions plus a
    /// one-hot of the frame index → one `text_embed_dim`-wide token, appended to the text
    /// context. Lets every video token look up the action that concerns it (e.g. the push of
    /// the ball it shows) instead of decoding it from a vector added to all tokens alike.
    pub action_tokens: Option<VectorEncoder>,
    /// Optional spatial action map encoder: each DiT patch of the map (`channels·p_t·p_h·p_w`
    /// values) → one embedding added to that patch's token. Its output projection starts at
    /// zero whatever `zero_init` says, so it can be added to a trained world model without
    /// changing its function.
    pub action_map: Option<VectorEncoder>,
    /// Width of the embeddings.
    pub hidden: usize,
}

impl FrameConditionerConfig {
    /// Builds the conditioners with zero output projections.
    pub fn init(&self, device: &Device) -> crate::Result<FrameConditioner> {
        for (name, v) in [
            ("hidden", Some(self.hidden)),
            ("action_dim", self.action_dim),
            ("camera_dim", self.camera_dim),
            ("views", self.views),
            ("inner", self.inner),
        ] {
            if v == Some(0) {
                return Err(Error::Config(format!("{name} must be at least 1")));
            }
        }
        let vector = |input: usize| {
            let mut e = VectorEncoderConfig::new(input, self.hidden)
                .with_inner(self.inner)
                .init(device);
            if !self.zero_init {
                let inner = self.inner.unwrap_or(self.hidden);
                e.output = LinearConfig::new(inner, self.hidden).init(device);
            }
            e
        };
        Ok(FrameConditioner {
            action: self.action_dim.map(vector),
            camera: self.camera_dim.map(vector),
            view: self.views.map(|n| {
                let config = EmbeddingConfig::new(n, self.hidden);
                if self.zero_init {
                    config.with_initializer(Initializer::Zeros).init(device)
                } else {
                    config.init(device)
                }
            }),
            action_tokens: match (self.action_tokens, self.action_dim) {
                (Some((frames, width)), Some(a)) => Some(
                    VectorEncoderConfig::new(a + frames, width)
                        .with_inner(self.inner)
                        .init(device),
                ),
                (Some(_), None) => {
                    return Err(Error::Config(
                        "action tokens need an action dimension".into(),
                    ));
                }
                _ => None,
            },
            action_map: match self.action_map {
                Some((channels, [pt, ph, pw])) => {
                    if channels == 0 || pt * ph * pw == 0 {
                        return Err(Error::Config(
                            "an action map needs at least one channel and a non-zero patch size"
                                .into(),
                        ));
                    }
                    Some(
                        VectorEncoderConfig::new(channels * pt * ph * pw, self.hidden)
                            .with_inner(self.inner)
                            .init(device),
                    )
                }
                None => None,
            },
            hidden: self.hidden,
        })
    }
}

impl FrameConditioner {
    /// Whether no conditioner is present.
    pub fn is_empty(&self) -> bool {
        self.action.is_none()
            && self.camera.is_none()
            && self.view.is_none()
            && self.action_map.is_none()
    }

    /// The summed embedding, or `None` when there is nothing to add: `[batch, T, hidden]` (one
    /// row per latent token frame of the token `grid` `[T, H, W]`), or `[batch, T·H·W, hidden]`
    /// (one row per token, time-major) when an action map is conditioned. `patch` is the DiT's
    /// patch size. Every input the conditioner was built for must be given with the right
    /// shape, and no other.
    pub fn forward(
        &self,
        inputs: &FrameInputs,
        batch: usize,
        grid: [usize; 3],
        patch: [usize; 3],
    ) -> crate::Result<Option<Tensor<3>>> {
        let frames = grid[0];
        let mut sum: Option<Tensor<3>> = None;
        let mut add = |e: Tensor<3>| {
            sum = Some(match sum.take() {
                Some(s) => s + e,
                None => e,
            })
        };
        for (name, encoder, input) in [
            ("actions", &self.action, &inputs.actions),
            ("camera poses", &self.camera, &inputs.camera),
        ] {
            match (encoder, input) {
                (Some(enc), Some(x)) => {
                    let dims = x.dims();
                    let want = [batch, frames, enc.input_dim()];
                    if dims != want {
                        return Err(Error::Shape {
                            what: name.into(),
                            expected: format!("{want:?} (batch, latent frames, vector width)"),
                            found: format!("{dims:?}"),
                        });
                    }
                    add(enc.forward(x.clone()));
                }
                (Some(_), None) => {
                    return Err(Error::Config(format!(
                        "the conditioner expects {name} but none were given"
                    )));
                }
                (None, Some(_)) => {
                    return Err(Error::Config(format!(
                        "{name} were given but the network has no {name} conditioner"
                    )));
                }
                (None, None) => {}
            }
        }
        match (&self.view, &inputs.view) {
            (Some(table), Some(index)) => {
                let [n, _] = table.weight.dims();
                if index.dims() != [batch] {
                    return Err(Error::Shape {
                        what: "view indices".into(),
                        expected: format!("[{batch}]"),
                        found: format!("{:?}", index.dims()),
                    });
                }
                let max = index.clone().max().into_scalar_i64();
                let min = index.clone().min().into_scalar_i64();
                if min < 0 || max as usize >= n {
                    return Err(Error::Config(format!(
                        "view index out of range: expected 0..{n}, found {min}..={max}"
                    )));
                }
                let e = table.forward(index.clone().unsqueeze_dim::<2>(1)); // [b, 1, hidden]
                add(e.expand([batch, frames, self.hidden]));
            }
            (Some(_), None) => {
                return Err(Error::Config(
                    "the conditioner expects view indices but none were given".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(Error::Config(
                    "view indices were given but the network has no view conditioner".into(),
                ));
            }
            (None, None) => {}
        }
        let map = match (&self.action_map, &inputs.action_map) {
            (Some(encoder), Some(map)) => Some(encoder.forward(patch_rows(
                map.clone(),
                encoder.input_dim(),
                batch,
                grid,
                patch,
            )?)),
            (Some(_), None) => {
                return Err(Error::Config(
                    "the conditioner expects an action map but none was given".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(Error::Config(
                    "an action map was given but the network has no action-map conditioner".into(),
                ));
            }
            (None, None) => None,
        };
        Ok(match (sum, map) {
            (frame, None) => frame,
            (None, Some(tokens)) => Some(tokens),
            (Some(frame), Some(tokens)) => {
                let [t, h, w] = grid;
                let frame = frame
                    .unsqueeze_dim::<4>(2)
                    .expand([batch, t, h * w, self.hidden])
                    .reshape([batch, t * h * w, self.hidden]);
                Some(frame + tokens)
            }
        })
    }
}

/// `map: [batch, channels, T·p_t, H·p_h, W·p_w]` → one row of `channels·p_t·p_h·p_w` values per
/// token: `[batch, T·H·W, width]`, time-major like the DiT's patch embedding.
fn patch_rows(
    map: Tensor<5>,
    width: usize,
    batch: usize,
    grid: [usize; 3],
    patch: [usize; 3],
) -> crate::Result<Tensor<3>> {
    let [t, h, w] = grid;
    let [pt, ph, pw] = patch;
    let dims = map.dims();
    let channels = width / (pt * ph * pw).max(1);
    let want = [batch, channels, t * pt, h * ph, w * pw];
    if dims != want {
        return Err(Error::Shape {
            what: "action map".into(),
            expected: format!("{want:?} (batch, channels, latent T, H, W)"),
            found: format!("{dims:?}"),
        });
    }
    Ok(map
        .reshape([batch, channels, t, pt, h, ph, w, pw])
        .permute([0, 2, 4, 6, 1, 3, 5, 7])
        .reshape([batch, t * h * w, width]))
}

/// Helper for `i64` scalars across burn versions.
trait ScalarI64 {
    fn into_scalar_i64(self) -> i64;
}

impl ScalarI64 for Tensor<1, Int> {
    fn into_scalar_i64(self) -> i64 {
        self.into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .ok()
            .and_then(|v| v.first().copied())
            .unwrap_or(0)
    }
}

/// A pretrained DiT with its frame conditioner: the module a post-training run optimises.
#[derive(Module, Debug)]
pub struct ConditionedDit {
    /// The diffusion transformer.
    pub dit: CosmosDit,
    /// The new per-frame conditioning (may be empty).
    pub conditioner: FrameConditioner,
}

impl ConditionedDit {
    /// Wraps `dit` with `conditioner`, checking that their widths agree.
    pub fn new(dit: CosmosDit, conditioner: FrameConditioner) -> crate::Result<Self> {
        let hidden = dit.config.hidden_size();
        if conditioner.hidden != hidden {
            return Err(Error::Shape {
                what: "frame conditioner width".into(),
                expected: format!("the DiT's hidden size {hidden}"),
                found: conditioner.hidden.to_string(),
            });
        }
        Ok(Self { dit, conditioner })
    }

    /// The raw network output with the frame conditioning added; arguments as
    /// [`CosmosDit::forward_with_positions`], `inputs` per latent token frame.
    pub fn forward(
        &self,
        x: Tensor<5>,
        timestep: Tensor<1>,
        context: Tensor<3>,
        conditioning: &DitConditioning,
        positions: &DitPositions,
        inputs: &FrameInputs,
    ) -> crate::Result<Tensor<5>> {
        let [b, _, _, _, _] = x.dims();
        let frames = positions.grid[0];
        let patch = self.dit.config.patch_size;
        let embedding = self.conditioner.forward(inputs, b, positions.grid, patch)?;
        let context = match (&self.conditioner.action_tokens, &inputs.actions) {
            (Some(encoder), Some(actions)) => {
                let device = actions.device();
                let index = Tensor::<2>::eye(frames, &device)
                    .unsqueeze_dim::<3>(0)
                    .expand([b, frames, frames]);
                let tokens = encoder.forward(Tensor::cat(vec![actions.clone(), index], 2));
                Tensor::cat(vec![context, tokens], 1)
            }
            _ => context,
        };
        Ok(self.dit.forward_with_frame_embedding(
            x,
            timestep,
            context,
            conditioning,
            positions,
            embedding,
        )?)
    }
}
