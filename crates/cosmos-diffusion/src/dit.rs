//! The Cosmos-1.0 diffusion transformer (Cosmos WFM paper §5.1; diffusers'
//! `CosmosTransformer3DModel`, cosmos-predict1's `GeneralDIT` with `FA-CA-MLP` blocks).
//!
//! A latent video is cut into 3D patches, each patch becomes a token; every block applies
//! AdaLN-modulated self-attention (with 3D RoPE after the per-head QK-RMSNorm), cross-attention on
//! the text embeddings and a GELU MLP, each gated and added back; the learnable absolute position
//! embedding is added at the start of every block. A final AdaLN layer and a linear projection
//! give the raw network output, laid back out as a video (before EDM preconditioning).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use cosmos_nn::adaln::{AdaLnModulation, AdaLnModulationConfig};
use cosmos_nn::attention::{MultiHeadAttention, MultiHeadAttentionConfig, Rotary, split_heads};
use cosmos_nn::kernels::attention as kernels;
use cosmos_nn::rope::{Rope3d, RotaryLayout};

use crate::config::DitConfig;
use crate::embed::{
    ActionEmbedder, LearnablePosEmbed, PatchEmbed, PatchEmbedConfig, TimeEmbed, resize_nearest,
    unpatchify,
};
use crate::{Error, Result};

/// The MLP of a block: `proj_out(GELU(proj_in(x)))` with exact (erf) GELU, no biases.
#[derive(Module, Debug)]
pub struct FeedForward {
    /// `hidden → mlp_ratio·hidden` (diffusers `ff.net.0.proj`, cosmos-predict1 `layer1`).
    pub proj_in: Linear,
    /// `mlp_ratio·hidden → hidden` (diffusers `ff.net.2`, cosmos-predict1 `layer2`).
    pub proj_out: Linear,
}

impl FeedForward {
    /// `[batch, tokens, hidden] → [batch, tokens, hidden]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let hidden = kernels::gelu(kernels::linear(&self.proj_in, x));
        kernels::linear(&self.proj_out, hidden)
    }
}

/// One DiT block: self-attention, cross-attention, MLP, each behind an AdaLN-LoRA modulation
/// with a gate.
#[derive(Module, Debug)]
pub struct DitBlock {
    /// Modulation of the self-attention input.
    pub norm1: AdaLnModulation,
    /// Self-attention with QK-norm and 3D RoPE.
    pub attn1: MultiHeadAttention,
    /// Modulation of the cross-attention input.
    pub norm2: AdaLnModulation,
    /// Cross-attention on the text embeddings (QK-norm, no RoPE, no mask).
    pub attn2: MultiHeadAttention,
    /// Modulation of the MLP input.
    pub norm3: AdaLnModulation,
    /// The MLP.
    pub ff: FeedForward,
}

impl DitBlock {
    fn init(config: &DitConfig, device: &Device) -> Self {
        let hidden = config.hidden_size();
        let adaln = || {
            AdaLnModulationConfig::new(hidden)
                .with_chunks(3)
                .with_lora_dim(Some(config.adaln_lora_dim))
                .with_eps(1e-6)
                .init(device)
        };
        let attention = |context: Option<usize>| {
            MultiHeadAttentionConfig::new(
                hidden,
                config.num_attention_heads,
                config.attention_head_dim,
            )
            .with_d_context(context)
            .with_qk_norm(true)
            .with_norm_eps(config.qk_norm_eps)
            .init(device)
        };
        let mlp = config.mlp_hidden();
        Self {
            norm1: adaln(),
            attn1: attention(None),
            norm2: adaln(),
            attn2: attention(Some(config.text_embed_dim)),
            norm3: adaln(),
            ff: FeedForward {
                proj_in: LinearConfig::new(hidden, mlp).with_bias(false).init(device),
                proj_out: LinearConfig::new(mlp, hidden).with_bias(false).init(device),
            },
        }
    }

    /// `x: [batch, tokens, hidden]`, `context: [batch, text_tokens, text_dim]`,
    /// `embedded: [batch, hidden]` (normalised time embedding), `temb: [batch, 3·hidden]`.
    pub fn forward(
        &self,
        x: Tensor<3>,
        context: &Tensor<3>,
        embedded: &Tensor<2>,
        temb: &Tensor<2>,
        positions: &DitPositions,
    ) -> Tensor<3> {
        self.forward_views(x, context, embedded, temb, positions, 1)
    }

    /// [`forward`](Self::forward) for `views` camera views laid one after the other in the
    /// token sequence (cosmos-predict1's multi-view DiT): self-attention runs over all of them
    /// together, cross-attention per view, each view's tokens attending to its own block of
    /// `context` (`[batch, views·M, text_dim]`, view-major). `views = 1` is the plain block.
    pub fn forward_views(
        &self,
        x: Tensor<3>,
        context: &Tensor<3>,
        embedded: &Tensor<2>,
        temb: &Tensor<2>,
        positions: &DitPositions,
        views: usize,
    ) -> Tensor<3> {
        let mut x = match &positions.extra {
            Some(extra) => kernels::add_tokens(x, extra.clone()),
            None => x,
        };
        let gate = |g: Option<Tensor<3>>| g.expect("3 chunks");

        let (h, g) = modulated(&self.norm1, x.clone(), embedded, temb.clone());
        let h = attend(&self.attn1, h, None, Some(&positions.rotary));
        x = kernels::gated_residual(x, gate(g), h);

        let (h, g) = modulated(&self.norm2, x.clone(), embedded, temb.clone());
        let h = if views > 1 {
            // [B, V·L, D] → [B·V, L, D] and the context [B, V·M, E] → [B·V, M, E]: view v's
            // tokens meet the v-th block of the context only.
            let [b, n, d] = h.dims();
            let [_, m, e] = context.dims();
            let per_view = context.clone().reshape([b * views, m / views, e]);
            attend(
                &self.attn2,
                h.reshape([b * views, n / views, d]),
                Some(per_view),
                None,
            )
            .reshape([b, n, d])
        } else {
            attend(&self.attn2, h, Some(context.clone()), None)
        };
        x = kernels::gated_residual(x, gate(g), h);

        let (h, g) = modulated(&self.norm3, x.clone(), embedded, temb.clone());
        let h = self.ff.forward(h);
        kernels::gated_residual(x, gate(g), h)
    }
}

/// Attention without mask: projections, per-head QK-norm, RoPE (self-attention), scores, output
/// projection, through the [`cosmos_nn::kernels::attention`] fast paths (burn's own ops off the
/// flex backend).
fn attend(
    attn: &MultiHeadAttention,
    x: Tensor<3>,
    context: Option<Tensor<3>>,
    rotary: Option<&Rotary>,
) -> Tensor<3> {
    let heads = attn.n_heads;
    let context = context.unwrap_or_else(|| x.clone());
    let linear = kernels::linear;
    let q = kernels::norm_rope_heads(linear(&attn.q, x), heads, attn.q_norm.as_ref(), rotary);
    let k = kernels::norm_rope_heads(
        linear(&attn.k, context.clone()),
        heads,
        attn.k_norm.as_ref(),
        rotary,
    );
    let v = split_heads(linear(&attn.v, context), heads);
    linear(&attn.out, kernels::attention(q, k, v))
}

/// `LayerNorm(x)·(1 + scale) + shift` with the block's modulation vectors; returns the gate too.
pub(crate) fn modulated(
    norm: &AdaLnModulation,
    x: Tensor<3>,
    embedded: &Tensor<2>,
    temb: Tensor<2>,
) -> (Tensor<3>, Option<Tensor<3>>) {
    let mut v = norm.vectors(embedded.clone(), Some(temb)).into_iter();
    let shift = v.next().expect("at least 2 chunks");
    let scale = v.next().expect("at least 2 chunks");
    (kernels::adaln_modulate(x, shift, scale, norm.eps), v.next())
}

/// Position tables for one latent grid and frame rate: the RoPE cos/sin tables and the
/// learnable absolute embedding. Computed once per sampling run and reused for every call.
#[derive(Debug, Clone)]
pub struct DitPositions {
    /// Post-patch token grid `[T, H, W]`.
    pub grid: [usize; 3],
    /// The frame rate the tables were made for.
    pub fps: Option<f64>,
    /// RoPE tables `[tokens, head_dim]` (rotate-half layout).
    pub rotary: Rotary,
    /// The learnable embedding `[1, tokens, hidden]`, if the network has one.
    pub extra: Option<Tensor<3>>,
}

/// The optional inputs of a forward pass.
#[derive(Debug, Clone, Default)]
pub struct DitConditioning {
    /// Frame rate of the video (scales RoPE time positions by `base_fps / fps`); `None` for images.
    pub fps: Option<f64>,
    /// Video2World condition mask `[batch, 1, T, H, W]` (1 on conditioning latent frames).
    pub condition_mask: Option<Tensor<5>>,
    /// Padding mask `[1 | batch, 1, h, w]` (1 = padded pixel), resized to the latent size;
    /// zeros when `None`.
    pub padding_mask: Option<Tensor<4>>,
    /// The action `[1 | batch, action_dim]` of an action-conditioned network (required there,
    /// refused elsewhere). cosmos-predict1's action network takes `[batch, T−1, 7]` and reads
    /// only the first row, the transition out of the condition frame: pass that row.
    pub action: Option<Tensor<2>>,
}

/// The diffusion transformer. Field names follow diffusers' `CosmosTransformer3DModel`;
/// [`crate::checkpoint`] maps both diffusers and cosmos-predict1 checkpoint names onto them.
#[derive(Module, Debug)]
pub struct CosmosDit {
    /// 3D patch embedding.
    pub patch_embed: PatchEmbed,
    /// Learnable absolute position embedding (added in every block).
    pub learnable_pos_embed: Option<LearnablePosEmbed>,
    /// Diffusion-time embedding.
    pub time_embed: TimeEmbed,
    /// The action embedder of an action-conditioned network (cosmos-predict1's
    /// `action_embedder_B_3D`), added to the AdaLN-LoRA term.
    pub action_embedder: Option<ActionEmbedder>,
    /// The blocks.
    pub transformer_blocks: Vec<DitBlock>,
    /// Final AdaLN (shift and scale only).
    pub norm_out: AdaLnModulation,
    /// Final projection `hidden → pt·ph·pw·out_channels`.
    pub proj_out: Linear,
    /// The configuration the network was built from.
    #[module(skip)]
    pub config: DitConfig,
}

impl DitConfig {
    /// Builds the network with random weights (load a checkpoint with
    /// [`CosmosDit::load_checkpoint`]).
    pub fn init(&self, device: &Device) -> Result<CosmosDit> {
        self.validate()?;
        let hidden = self.hidden_size();
        let [pt, ph, pw] = self.patch_size;
        let rows = [
            self.max_size[0] / pt,
            self.max_size[1] / ph,
            self.max_size[2] / pw,
        ];
        Ok(CosmosDit {
            patch_embed: PatchEmbedConfig::new(
                self.patch_embed_channels(),
                hidden,
                self.patch_size,
            )
            .init(device),
            learnable_pos_embed: self
                .learnable_pos_embed()
                .then(|| LearnablePosEmbed::init(rows, hidden, device)),
            time_embed: TimeEmbed::init(hidden, device),
            action_embedder: self
                .action_dim
                .map(|dim| ActionEmbedder::init(dim, hidden, device)),
            transformer_blocks: (0..self.num_layers)
                .map(|_| DitBlock::init(self, device))
                .collect(),
            norm_out: AdaLnModulationConfig::new(hidden)
                .with_chunks(2)
                .with_lora_dim(Some(self.adaln_lora_dim))
                .with_eps(1e-6)
                .init(device),
            proj_out: LinearConfig::new(hidden, pt * ph * pw * self.out_channels)
                .with_bias(false)
                .init(device),
            config: self.clone(),
        })
    }
}

impl CosmosDit {
    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.proj_out.weight.device()
    }

    /// Post-patch token grid of a latent `(T, H, W)`, checked against the patch size and the
    /// position tables.
    pub fn token_grid(&self, latent: [usize; 3]) -> Result<[usize; 3]> {
        let c = &self.config;
        let ok = latent
            .iter()
            .zip(c.patch_size)
            .zip(c.max_size)
            .all(|((n, p), max)| *n > 0 && n % p == 0 && *n <= max);
        if !ok {
            return Err(Error::Shape {
                what: "latent (T, H, W)".into(),
                expected: format!(
                    "multiples of the patch size {:?}, at most {:?}",
                    c.patch_size, c.max_size
                ),
                found: latent.to_vec(),
            });
        }
        Ok([
            latent[0] / c.patch_size[0],
            latent[1] / c.patch_size[1],
            latent[2] / c.patch_size[2],
        ])
    }

    /// Position tables for a latent of `(T, H, W)` at `fps`.
    pub fn positions(&self, latent: [usize; 3], fps: Option<f64>) -> Result<DitPositions> {
        if let Some(f) = fps
            && !(f > 0.0 && f.is_finite())
        {
            return Err(Error::Argument(format!("fps must be positive, found {f}")));
        }
        let grid = self.token_grid(latent)?;
        let c = &self.config;
        let rope = Rope3d::new(
            Rope3d::cosmos_split(c.attention_head_dim),
            10000.0,
            c.rope_scale,
            c.base_fps,
        );
        let (cos, sin) = rope.cos_sin(grid, fps, RotaryLayout::Halves, &self.device());
        let extra = match &self.learnable_pos_embed {
            Some(p) => Some(p.forward(grid)?),
            None => None,
        };
        Ok(DitPositions {
            grid,
            fps,
            rotary: Rotary {
                cos,
                sin,
                layout: RotaryLayout::Halves,
            },
            extra,
        })
    }

    /// The raw network output for `x: [batch, out_channels, T, H, W]` (already scaled by
    /// `c_in`), `timestep: [batch]` or `[1]` (`c_noise = 0.25·ln σ`) and
    /// `context: [batch, text_tokens, text_embed_dim]`. Returns `[batch, out_channels, T, H, W]`.
    pub fn forward(
        &self,
        x: Tensor<5>,
        timestep: Tensor<1>,
        context: Tensor<3>,
        conditioning: &DitConditioning,
    ) -> Result<Tensor<5>> {
        let [_, _, t, h, w] = x.dims();
        let positions = self.positions([t, h, w], conditioning.fps)?;
        self.forward_with_positions(x, timestep, context, conditioning, &positions)
    }

    /// [`forward`](Self::forward) with position tables made beforehand by
    /// [`positions`](Self::positions) (their grid must match `x`).
    pub fn forward_with_positions(
        &self,
        x: Tensor<5>,
        timestep: Tensor<1>,
        context: Tensor<3>,
        conditioning: &DitConditioning,
        positions: &DitPositions,
    ) -> Result<Tensor<5>> {
        self.forward_with_frame_embedding(x, timestep, context, conditioning, positions, None)
    }

    /// [`forward_with_positions`](Self::forward_with_positions) with an optional per-frame
    /// embedding `[batch | 1, T_tokens, hidden]` (`T_tokens` = latent frames / temporal patch
    /// size) added to every token of its latent frame at the start of every block (as the
    /// learnable position embedding is), so the signal reaches each block directly. A
    /// per-token embedding `[batch | 1, T_tokens·H_tokens·W_tokens, hidden]` (time-major, the
    /// patch embedding's token order) is added token by token instead: spatial conditioning
    /// such as an action placed where it acts in the frame.
    ///
    /// This is the hook post-training uses for per-frame conditioning (an action, a camera pose,
    /// a view index) on a pretrained network: a conditioner whose output projection starts at
    /// zero leaves the network's outputs exactly as they were. `None` is the plain forward pass.
    pub fn forward_with_frame_embedding(
        &self,
        x: Tensor<5>,
        timestep: Tensor<1>,
        context: Tensor<3>,
        conditioning: &DitConditioning,
        positions: &DitPositions,
        frame_embedding: Option<Tensor<3>>,
    ) -> Result<Tensor<5>> {
        self.forward_with_input_channels(
            x,
            None,
            timestep,
            context,
            conditioning,
            positions,
            frame_embedding,
        )
    }

    /// Extra input channels the patch embedding takes beyond the configuration's (latent,
    /// condition mask, padding mask): 0 unless a wrapper widened [`Self::patch_embed`] (the
    /// diffusion decoder's token condition, [`crate::diffusion_decoder`]).
    pub fn extra_input_channels(&self) -> usize {
        let [pt, ph, pw] = self.config.patch_size;
        let [d_in, _] = self.patch_embed.proj.weight.dims();
        (d_in / (pt * ph * pw)).saturating_sub(self.config.patch_embed_channels())
    }

    /// [`forward_with_frame_embedding`](Self::forward_with_frame_embedding) with `extra`
    /// `[batch, extra_input_channels, T, H, W]` concatenated on channels after the latent (and
    /// condition mask), before the padding mask: the hook of cosmos-predict1's
    /// `DiffusionDecoderGeneralDIT`, whose token condition enters there. `None` is the plain
    /// forward pass (and an error when the patch embedding expects extra channels).
    #[allow(clippy::too_many_arguments)]
    pub fn forward_with_input_channels(
        &self,
        x: Tensor<5>,
        extra: Option<Tensor<5>>,
        timestep: Tensor<1>,
        context: Tensor<3>,
        conditioning: &DitConditioning,
        positions: &DitPositions,
        frame_embedding: Option<Tensor<3>>,
    ) -> Result<Tensor<5>> {
        let input = self.assemble_input(x, extra, conditioning)?;
        let [b, _, t, h, w] = input.dims();
        let grid = self.token_grid([t, h, w])?;
        if grid != positions.grid {
            return Err(Error::Shape {
                what: "position tables".into(),
                expected: format!("made for token grid {grid:?}"),
                found: positions.grid.to_vec(),
            });
        }
        let timestep = self.check_timestep(timestep, b)?;
        self.check_context(&context, b)?;

        let mut x = self.patch_embed.forward(input);
        let frames = match frame_embedding {
            Some(f) => Some(self.frame_tokens(f, b, grid)?),
            None => None,
        };
        let (temb, embedded) = self.time_embed.forward(timestep);
        let temb = match self.action_embedding(conditioning.action.as_ref(), b)? {
            Some(a) => temb + a,
            None => temb,
        };
        for block in &self.transformer_blocks {
            if let Some(f) = &frames {
                x = x + f.clone();
            }
            x = block.forward(x, &context, &embedded, &temb, positions);
        }
        let hidden = self.config.hidden_size();
        let (x, _) = modulated(&self.norm_out, x, &embedded, temb.narrow(1, 0, 2 * hidden));
        let x = kernels::linear(&self.proj_out, x);
        Ok(unpatchify(x, grid, self.config.patch_size))
    }

    /// `frames: [batch | 1, T, hidden]` broadcast over each frame's `H·W` tokens, or
    /// `[batch | 1, T·H·W, hidden]` taken token by token: `[batch, T·H·W, hidden]` (time-major,
    /// as the patch embedding orders tokens).
    fn frame_tokens(&self, frames: Tensor<3>, batch: usize, grid: [usize; 3]) -> Result<Tensor<3>> {
        let hidden = self.config.hidden_size();
        let [fb, ft, fd] = frames.dims();
        let [t, h, w] = grid;
        if (fb != batch && fb != 1) || (ft != t && ft != t * h * w) || fd != hidden {
            return Err(Error::Shape {
                what: "frame embedding".into(),
                expected: format!(
                    "[{batch} or 1, {t} or {}, {hidden}] (one row per latent token frame, or per token)",
                    t * h * w
                ),
                found: vec![fb, ft, fd],
            });
        }
        if ft == t * h * w {
            return Ok(frames.expand([batch, t * h * w, hidden]));
        }
        Ok(frames
            .expand([batch, t, hidden])
            .unsqueeze_dim::<4>(2)
            .expand([batch, t, h * w, hidden])
            .reshape([batch, t * h * w, hidden]))
    }

    /// Concatenates `[x, condition mask, extra channels, padding mask]` along channels after checking shapes.
    fn assemble_input(
        &self,
        x: Tensor<5>,
        extra: Option<Tensor<5>>,
        conditioning: &DitConditioning,
    ) -> Result<Tensor<5>> {
        let wanted = self.extra_input_channels();
        let (mut parts, padding) = self.input_parts(x, extra, wanted, conditioning)?;
        parts.extend(padding);
        Ok(if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            Tensor::cat(parts, 1)
        })
    }

    /// The input channels, checked: `[x, condition mask, extra channels]` (`wanted` of them)
    /// and the padding-mask channel (when the network concatenates one), kept apart for
    /// networks that put more channels after it (the multi-view DiT's view embedding).
    pub(crate) fn input_parts(
        &self,
        x: Tensor<5>,
        extra: Option<Tensor<5>>,
        wanted: usize,
        conditioning: &DitConditioning,
    ) -> Result<(Vec<Tensor<5>>, Option<Tensor<5>>)> {
        let c = &self.config;
        let [b, ch, t, h, w] = x.dims();
        if b == 0 || ch != c.out_channels {
            return Err(Error::Shape {
                what: "DiT input latent".into(),
                expected: format!("[batch ≥ 1, {}, T, H, W]", c.out_channels),
                found: x.dims().to_vec(),
            });
        }
        self.token_grid([t, h, w])?;
        let mut parts = vec![x];
        match (&conditioning.condition_mask, c.has_condition_mask()) {
            (Some(mask), true) => {
                if mask.dims() != [b, 1, t, h, w] {
                    return Err(Error::Shape {
                        what: "condition mask".into(),
                        expected: format!("[{b}, 1, {t}, {h}, {w}]"),
                        found: mask.dims().to_vec(),
                    });
                }
                parts.push(mask.clone());
            }
            (None, true) => {
                return Err(Error::Argument(
                    "this network is a Video2World model: it needs a condition mask".into(),
                ));
            }
            (Some(_), false) => {
                return Err(Error::Argument(
                    "this network is a Text2World model: it takes no condition mask".into(),
                ));
            }
            (None, false) => {}
        }
        match extra {
            Some(e) if e.dims() == [b, wanted, t, h, w] && wanted > 0 => parts.push(e),
            None if wanted == 0 => {}
            other => {
                return Err(Error::Shape {
                    what: "extra input channels".into(),
                    expected: format!("[{b}, {wanted}, {t}, {h}, {w}]"),
                    found: other.map_or(vec![], |e| e.dims().to_vec()),
                });
            }
        }
        if c.concat_padding_mask {
            let device = parts[0].device();
            let mask = match &conditioning.padding_mask {
                Some(m) => {
                    let [mb, mc, mh, mw] = m.dims();
                    if (mb != 1 && mb != b) || mc != 1 || mh == 0 || mw == 0 {
                        return Err(Error::Shape {
                            what: "padding mask".into(),
                            expected: format!("[1 or {b}, 1, height, width]"),
                            found: m.dims().to_vec(),
                        });
                    }
                    resize_nearest(m.clone(), h, w).expand([b, 1, h, w])
                }
                None => Tensor::zeros([b, 1, h, w], &device),
            };
            return Ok((
                parts,
                Some(mask.unsqueeze_dim::<5>(2).expand([b, 1, t, h, w])),
            ));
        }
        Ok((parts, None))
    }

    /// The action's AdaLN-LoRA term `[batch, 3·hidden]`, after checking that the action fits
    /// the network (`None` for a network without an action embedder).
    fn action_embedding(
        &self,
        action: Option<&Tensor<2>>,
        batch: usize,
    ) -> Result<Option<Tensor<2>>> {
        match (&self.action_embedder, action) {
            (None, None) => Ok(None),
            (None, Some(a)) => Err(Error::Argument(format!(
                "this network has no action conditioning, but an action of shape {:?} was given",
                a.dims()
            ))),
            (Some(e), None) => Err(Error::Argument(format!(
                "this network is action-conditioned: it needs an action [batch, {}]",
                e.action_dim()
            ))),
            (Some(e), Some(a)) => {
                let [ab, ad] = a.dims();
                if (ab != batch && ab != 1) || ad != e.action_dim() {
                    return Err(Error::Shape {
                        what: "action".into(),
                        expected: format!("[{batch} or 1, {}]", e.action_dim()),
                        found: vec![ab, ad],
                    });
                }
                let hidden3 = 3 * self.config.hidden_size();
                Ok(Some(e.forward(a.clone()).expand([batch, hidden3])))
            }
        }
    }

    fn check_timestep(&self, timestep: Tensor<1>, batch: usize) -> Result<Tensor<1>> {
        match timestep.dims()[0] {
            n if n == batch => Ok(timestep),
            1 => Ok(timestep.expand([batch])),
            n => Err(Error::Shape {
                what: "timestep".into(),
                expected: format!("[{batch}] or [1]"),
                found: vec![n],
            }),
        }
    }

    fn check_context(&self, context: &Tensor<3>, batch: usize) -> Result<()> {
        let [b, n, d] = context.dims();
        if b != batch || n == 0 || d != self.config.text_embed_dim {
            return Err(Error::Shape {
                what: "text embeddings (encoder_hidden_states)".into(),
                expected: format!("[{batch}, tokens ≥ 1, {}]", self.config.text_embed_dim),
                found: vec![b, n, d],
            });
        }
        Ok(())
    }
}
