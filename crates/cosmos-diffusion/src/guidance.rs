//! The guided EDM denoiser the samplers call: preconditioning around a network, classifier-free
//! guidance between a conditional and an unconditional (negative-prompt) branch, and the
//! Video2World handling of conditioning latent frames.
//!
//! Video2World (cosmos-predict1 `DiffusionV2WModel`): the network sees the conditioning frames as
//! clean latents noised at a small augmentation σ (0.001) and rescaled to the current σ's input
//! scale; frames are treated as conditioning only while the current σ is above that augmentation
//! σ; the denoised estimate of those frames is the clean conditioning latent itself.

use burn::tensor::Tensor;

use crate::dit::{CosmosDit, DitConditioning, DitPositions};
use crate::edm::EdmPreconditioner;
use crate::sampler::{Denoiser, GuidanceSpace};
use crate::{Error, Result};

/// The two branches of classifier-free guidance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branch {
    /// The prompt.
    Conditional,
    /// The negative (or empty) prompt.
    Unconditional,
}

/// The raw network `F(x_in; c_noise)` for one branch (`x_in` already scaled by `c_in`).
pub trait Network {
    /// `x_in: [batch, C, T, H, W]`, `c_noise = 0.25·ln σ`; `condition_mask` is the Video2World
    /// mask for this branch (`None` for Text2World).
    fn forward(
        &mut self,
        x_in: Tensor<5>,
        c_noise: f64,
        branch: Branch,
        condition_mask: Option<Tensor<5>>,
    ) -> Result<Tensor<5>>;
}

/// [`CosmosDit`] with the text embeddings of both branches and precomputed position tables.
pub struct DitNetwork<'a> {
    /// The transformer.
    pub dit: &'a CosmosDit,
    /// Prompt embeddings `[batch, tokens, text_dim]`.
    pub context: Tensor<3>,
    /// Negative-prompt embeddings (same shape), for guidance.
    pub negative_context: Option<Tensor<3>>,
    /// Frame rate for RoPE.
    pub fps: Option<f64>,
    /// Padding mask `[1, 1, h, w]` (zeros when `None`).
    pub padding_mask: Option<Tensor<4>>,
    /// The action `[1 | batch, action_dim]` of an action-conditioned network, the same for both
    /// guidance branches (as the reference passes it).
    pub action: Option<Tensor<2>>,
    positions: Option<DitPositions>,
    /// Network calls made so far.
    pub calls: usize,
}

impl<'a> DitNetwork<'a> {
    /// Wraps `dit` with the prompt (and negative prompt) embeddings.
    pub fn new(
        dit: &'a CosmosDit,
        context: Tensor<3>,
        negative_context: Option<Tensor<3>>,
    ) -> Self {
        Self {
            dit,
            context,
            negative_context,
            fps: None,
            padding_mask: None,
            action: None,
            positions: None,
            calls: 0,
        }
    }

    /// Sets the frame rate.
    pub fn with_fps(mut self, fps: Option<f64>) -> Self {
        self.fps = fps;
        self
    }

    /// Sets the padding mask.
    pub fn with_padding_mask(mut self, mask: Option<Tensor<4>>) -> Self {
        self.padding_mask = mask;
        self
    }

    /// Sets the action of an action-conditioned network.
    pub fn with_action(mut self, action: Option<Tensor<2>>) -> Self {
        self.action = action;
        self
    }
}

impl Network for DitNetwork<'_> {
    fn forward(
        &mut self,
        x_in: Tensor<5>,
        c_noise: f64,
        branch: Branch,
        condition_mask: Option<Tensor<5>>,
    ) -> Result<Tensor<5>> {
        let [b, _, t, h, w] = x_in.dims();
        let reuse = self.positions.as_ref().is_some_and(|p| {
            p.fps == self.fps && self.dit.token_grid([t, h, w]).ok() == Some(p.grid)
        });
        if !reuse {
            self.positions = Some(self.dit.positions([t, h, w], self.fps)?);
        }
        let context = match branch {
            Branch::Conditional => self.context.clone(),
            Branch::Unconditional => self.negative_context.clone().ok_or_else(|| {
                Error::Argument("guidance needs negative-prompt embeddings".into())
            })?,
        };
        let device = x_in.device();
        let timestep = Tensor::<1>::full([b], c_noise, &device);
        let conditioning = DitConditioning {
            fps: self.fps,
            condition_mask,
            padding_mask: self.padding_mask.clone(),
            action: self.action.clone(),
        };
        self.calls += 1;
        self.dit.forward_with_positions(
            x_in,
            timestep,
            context,
            &conditioning,
            self.positions.as_ref().expect("set above"),
        )
    }
}

/// Video2World conditioning latent frames.
#[derive(Debug, Clone)]
pub struct ConditionFrames {
    /// Clean latents `[batch, C, T, H, W]` (the conditioning frames first; later frames ignored).
    pub latent: Tensor<5>,
    /// Number of conditioning latent frames.
    pub frames: usize,
    /// σ at which the conditioning frames are noised for the network (0.001 in Cosmos).
    pub augment_sigma: f64,
    /// Standard normal noise `[batch, C, T, H, W]` for the augmentation (fixed for the run, as
    /// the reference reseeds it identically every step).
    pub augment_noise: Tensor<5>,
    /// When true the unconditional branch does not see the conditioning frames (its mask is
    /// zero), so guidance also pushes towards them (cosmos-predict1's `add_input_frames_guidance`).
    pub input_frames_guidance: bool,
}

impl ConditionFrames {
    /// `[1, 1, T, 1, 1]` with ones on the conditioning frames.
    fn indicator(&self) -> Tensor<5> {
        let [_, _, t, _, _] = self.latent.dims();
        let device = self.latent.device();
        let ones = Tensor::<5>::ones([1, 1, self.frames, 1, 1], &device);
        if self.frames == t {
            ones
        } else {
            Tensor::cat(
                vec![ones, Tensor::zeros([1, 1, t - self.frames, 1, 1], &device)],
                2,
            )
        }
    }

    /// The network mask `[batch, 1, T, H, W]` (ones on conditioning frames).
    pub fn mask(&self) -> Tensor<5> {
        let [b, _, t, h, w] = self.latent.dims();
        self.indicator().expand([b, 1, t, h, w])
    }
}

/// `D(x; σ)` with EDM preconditioning, classifier-free guidance and optional conditioning frames.
pub struct GuidedDenoiser<N: Network> {
    /// The network.
    pub network: N,
    /// EDM coefficients.
    pub preconditioner: EdmPreconditioner,
    /// Guidance weight `g` in `c + g·(c − u)`; 0 makes one network call per denoiser call.
    pub guidance: f64,
    /// Video2World conditioning frames.
    pub condition: Option<ConditionFrames>,
}

impl<N: Network> GuidedDenoiser<N> {
    /// A denoiser without conditioning frames.
    pub fn new(network: N, guidance: f64) -> Self {
        Self {
            network,
            preconditioner: EdmPreconditioner::default(),
            guidance,
            condition: None,
        }
    }

    /// Adds Video2World conditioning frames (checked against the sample shape at each call).
    pub fn with_condition(mut self, condition: Option<ConditionFrames>) -> Self {
        self.condition = condition;
        self
    }
}

impl<N: Network> Denoiser for GuidedDenoiser<N> {
    fn denoise(&mut self, x: Tensor<5>, sigma: f64, space: GuidanceSpace) -> Result<Tensor<5>> {
        let p = self.preconditioner;
        let coef = p.coefficients(sigma);
        let guided = self.guidance != 0.0;

        // The conditioning frames, active while σ is above the augmentation σ.
        let active = self
            .condition
            .as_ref()
            .map(|c| (c, sigma > c.augment_sigma));
        if let Some((c, _)) = active
            && c.latent.dims() != x.dims()
        {
            return Err(Error::Shape {
                what: "conditioning latent".into(),
                expected: format!("the sample's shape {:?}", x.dims()),
                found: c.latent.dims().to_vec(),
            });
        }
        let (x_cond, indicator, mask, mask_uncond) = match active {
            None => (x.clone(), None, None, None),
            Some((c, on)) => {
                let mask = Some(c.mask());
                let mask_uncond = if c.input_frames_guidance {
                    Some(c.mask().zeros_like())
                } else {
                    mask.clone()
                };
                if on {
                    let indicator = c.indicator();
                    let aug = p.coefficients(c.augment_sigma).c_in;
                    // Noised at the augmentation σ, at the input scale of the current σ.
                    let frames = (c.latent.clone() + c.augment_noise.clone() * c.augment_sigma)
                        * (aug / coef.c_in);
                    let x_cond =
                        frames * indicator.clone() + x.clone() * (indicator.clone().neg() + 1.0);
                    (x_cond, Some(indicator), mask, mask_uncond)
                } else {
                    (x.clone(), None, mask, mask_uncond)
                }
            }
        };
        let uncond_sees_frames = !self
            .condition
            .as_ref()
            .is_some_and(|c| c.input_frames_guidance);
        let x_uncond = if uncond_sees_frames {
            x_cond.clone()
        } else {
            x.clone()
        };

        let out_c =
            self.network
                .forward(x_cond * coef.c_in, coef.c_noise, Branch::Conditional, mask)?;
        let out_u = if guided {
            Some(self.network.forward(
                x_uncond * coef.c_in,
                coef.c_noise,
                Branch::Unconditional,
                mask_uncond,
            )?)
        } else {
            None
        };

        let latent = self.condition.as_ref().map(|c| c.latent.clone());
        let replace = |x0: Tensor<5>, on: bool| match (&indicator, &latent) {
            (Some(ind), Some(l)) if on => l.clone() * ind.clone() + x0 * (ind.clone().neg() + 1.0),
            _ => x0,
        };
        let g = self.guidance;
        Ok(match (out_u, space) {
            (None, _) => replace(p.denoised(x, out_c, sigma), true),
            (Some(u), GuidanceSpace::NetworkOutput) if uncond_sees_frames => {
                let out = out_c.clone() + (out_c - u) * g;
                replace(p.denoised(x, out, sigma), true)
            }
            (Some(u), _) => {
                let x0_c = replace(p.denoised(x.clone(), out_c, sigma), true);
                let x0_u = replace(p.denoised(x, u, sigma), uncond_sees_frames);
                x0_c.clone() + (x0_c - x0_u) * g
            }
        })
    }
}
