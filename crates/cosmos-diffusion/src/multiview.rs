//! NVIDIA's multi-view DiT (cosmos-predict1 `MultiviewGeneralDIT` and its Video2World
//! subclass `MultiviewVideoExtendGeneralDIT`, the networks of the Cosmos-1.0 multi-view driving
//! models), loaded by its own key names.
//!
//! All `V` views of a camera rig are generated together, as one sequence: the latent is
//! `[B, C, V·T, H, W]` with the views one after the other along time (view-major). What makes the
//! network multi-view, on top of the single-view [`CosmosDit`]:
//! - **view embeddings**: `view_embeddings` (`[V, D_v]`, plus `repeat_frame_embedding(r)`, a
//!   `Linear(1, D_v)` of the per-view frame-repeat flag, when the network has it) are
//!   concatenated as `D_v` extra input channels of every latent position of that view, after
//!   the condition mask and the padding mask;
//! - **positions restart per view**: RoPE and the sin-cos per-block embedding
//!   (`extra_per_block_abs_pos_emb_type = "sincos"`, 1D sin|cos tables per axis, concatenated
//!   `t | h | w`) are those of a `T`-frame video, repeated for every view;
//! - **cross-attention per view**: the text context is `[B, V·M, D]`, and view `v`'s tokens
//!   attend to the `v`-th block of `M` tokens ([`DitBlock::forward_views`]); self-attention
//!   runs over all views together, which is how the views see each other.
//!
//! The blocks, time embedding, final layer and their checkpoint names are the single-view
//! network's ([`crate::checkpoint`]); the fixtures in `testdata/parity/diffusion/` (made with
//! cosmos-predict1's own classes) check the whole forward pass.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use cosmos_nn::attention::Rotary;
use cosmos_nn::checkpoint::{Checkpoint, KeyMap, LoadReport, load_module};
use cosmos_nn::rope::{Rope3d, RotaryLayout};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::checkpoint::{KeyNaming, key_map};
use crate::config::DitConfig;
use crate::dit::{CosmosDit, DitBlock, DitConditioning, DitPositions, modulated};
use crate::embed::{PatchEmbedConfig, unpatchify};
use crate::{Error, Result};

/// The multi-view part of the network's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiviewConfig {
    /// Views of the rig (`n_views`; 6 for the published driving models).
    pub n_views: usize,
    /// Width of a view's embedding (`view_condition_dim`; 6 published).
    pub view_condition_dim: usize,
    /// Whether a per-view frame-repeat flag is embedded too (`add_repeat_frame_embedding`).
    pub repeat_frame_embedding: bool,
    /// Whether the sin-cos per-block position embedding is added
    /// (`extra_per_block_abs_pos_emb` with type `sincos`).
    pub extra_sincos: bool,
    /// Position scales of the sin-cos embedding `(t, h, w)` (`extra_*_extrapolation_ratio`).
    pub extra_extrapolation: [f64; 3],
}

impl MultiviewConfig {
    /// Reads cosmos-predict1's `MultiviewGeneralDIT` constructor arguments: the single-view
    /// [`DitConfig`] and the multi-view settings.
    pub fn from_cosmos_predict1(value: &Value) -> Result<(DitConfig, Self)> {
        let get = |k: &str| value.get(k);
        let usize_of = |k: &str| -> Result<usize> {
            get(k)
                .and_then(Value::as_u64)
                .map(|v| v as usize)
                .filter(|&v| v > 0)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "multi-view config: '{k}' must be a positive integer"
                    ))
                })
        };
        let bool_or = |k: &str, d: bool| get(k).and_then(Value::as_bool).unwrap_or(d);
        let f64_or = |k: &str| get(k).and_then(Value::as_f64).unwrap_or(1.0);
        if !bool_or("concat_view_embedding", true) {
            return Err(Error::Unsupported(
                "multi-view networks without concatenated view embeddings".into(),
            ));
        }
        if bool_or("concat_traj_embedding", false) {
            return Err(Error::Unsupported(
                "multi-view networks with a trajectory embedding (concat_traj_embedding)".into(),
            ));
        }
        let extra = bool_or("extra_per_block_abs_pos_emb", false);
        // The multi-view class builds a sin-cos per-block embedding whatever the type says.
        let mut single = value.clone();
        if let Some(map) = single.as_object_mut() {
            map.insert("extra_per_block_abs_pos_emb".into(), Value::Bool(false));
        }
        let dit = DitConfig::from_cosmos_predict1(&single)?;
        if dit.action_dim.is_some() {
            return Err(Error::Unsupported(
                "an action embedder on a multi-view network".into(),
            ));
        }
        Ok((
            dit,
            Self {
                n_views: usize_of("n_views")?,
                view_condition_dim: usize_of("view_condition_dim")?,
                repeat_frame_embedding: bool_or("add_repeat_frame_embedding", false),
                extra_sincos: extra,
                extra_extrapolation: [
                    f64_or("extra_t_extrapolation_ratio"),
                    f64_or("extra_h_extrapolation_ratio"),
                    f64_or("extra_w_extrapolation_ratio"),
                ],
            },
        ))
    }

    /// Builds the network with random weights (load a checkpoint with
    /// [`MultiviewDit::load_checkpoint`]).
    pub fn init(&self, dit: &DitConfig, device: &Device) -> Result<MultiviewDit> {
        if self.n_views == 0 || self.view_condition_dim == 0 {
            return Err(Error::Config(
                "n_views and view_condition_dim must be positive".into(),
            ));
        }
        let mut net = dit.init(device)?;
        // The view embedding enters as extra input channels of the patch embedding.
        net.patch_embed = PatchEmbedConfig::new(
            dit.patch_embed_channels() + self.view_condition_dim,
            dit.hidden_size(),
            dit.patch_size,
        )
        .init(device);
        Ok(MultiviewDit {
            dit: net,
            view_embeddings: EmbeddingConfig::new(self.n_views, self.view_condition_dim)
                .init(device),
            repeat_frame_embedding: self
                .repeat_frame_embedding
                .then(|| LinearConfig::new(1, self.view_condition_dim).init(device)),
            views: self.clone(),
        })
    }
}

/// The multi-view diffusion transformer: a [`CosmosDit`] with view embeddings, per-view
/// positions and per-view cross-attention.
#[derive(Module, Debug)]
pub struct MultiviewDit {
    /// The single-view network (its patch embedding takes the view channels too).
    pub dit: CosmosDit,
    /// `view_embeddings`: one `D_v`-wide vector per view.
    pub view_embeddings: Embedding,
    /// `repeat_frame_embedding`: `Linear(1, D_v)` of the per-view frame-repeat flag.
    pub repeat_frame_embedding: Option<Linear>,
    /// The multi-view settings.
    #[module(skip)]
    pub views: MultiviewConfig,
}

impl MultiviewDit {
    /// Loads a checkpoint under cosmos-predict1's names (`net.` prefix optional): the
    /// single-view names, `view_embeddings.weight` and `repeat_frame_embedding.{weight,bias}`.
    /// Every missing, unexpected or mis-shaped key is reported.
    pub fn load_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<LoadReport> {
        let map = multiview_key_map()?;
        Ok(load_module(self, checkpoint, &map)?)
    }

    /// Per-view post-patch token grid `[T, H, W]` of a latent of `V·T` frames.
    fn view_grid(&self, latent: [usize; 3]) -> Result<[usize; 3]> {
        let v = self.views.n_views;
        let [t, h, w] = latent;
        if t == 0 || t % v != 0 {
            return Err(Error::Shape {
                what: "multi-view latent frames".into(),
                expected: format!("a multiple of the {v} views (views laid along time)"),
                found: vec![t],
            });
        }
        self.dit.token_grid([t / v, h, w])
    }

    /// Position tables for a latent of `V·T` frames: those of one `T`-frame view, repeated for
    /// every view (RoPE and, when the network has it, the sin-cos per-block embedding).
    pub fn positions(&self, latent: [usize; 3], fps: Option<f64>) -> Result<DitPositions> {
        if let Some(f) = fps
            && !(f > 0.0 && f.is_finite())
        {
            return Err(Error::Argument(format!("fps must be positive, found {f}")));
        }
        let view = self.view_grid(latent)?;
        let v = self.views.n_views;
        let c = &self.dit.config;
        let device = self.dit.device();
        let rope = Rope3d::new(
            Rope3d::cosmos_split(c.attention_head_dim),
            10000.0,
            c.rope_scale,
            c.base_fps,
        );
        let (cos, sin) = rope.cos_sin(view, fps, RotaryLayout::Halves, &device);
        let extra = self.views.extra_sincos.then(|| {
            let one = sincos_table(c.hidden_size(), view, self.views.extra_extrapolation);
            let tokens = view.iter().product::<usize>();
            let all: Vec<f32> = (0..v).flat_map(|_| one.iter().copied()).collect();
            Tensor::from_data(
                TensorData::new(all, [1, v * tokens, c.hidden_size()]),
                &device,
            )
        });
        Ok(DitPositions {
            grid: [v * view[0], view[1], view[2]],
            fps,
            rotary: Rotary {
                cos: Tensor::cat(vec![cos; v], 0),
                sin: Tensor::cat(vec![sin; v], 0),
                layout: RotaryLayout::Halves,
            },
            extra,
        })
    }

    /// The view-embedding channels `[B, D_v, V·T, H, W]`: view `v`'s embedding (plus the
    /// embedding of `frame_repeat[:, v]`) at every latent position of that view.
    fn view_channels(
        &self,
        batch: usize,
        [t, h, w]: [usize; 3],
        frame_repeat: Option<&Tensor<2>>,
    ) -> Result<Tensor<5>> {
        let v = self.views.n_views;
        let d = self.views.view_condition_dim;
        let device = self.dit.device();
        let index = Tensor::<1, Int>::arange(0..v as i64, &device).unsqueeze_dim::<2>(0);
        let mut e = self.view_embeddings.forward(index).expand([batch, v, d]); // [B, V, D_v]
        match (&self.repeat_frame_embedding, frame_repeat) {
            (Some(linear), repeat) => {
                let repeat = match repeat {
                    Some(r) => {
                        let [rb, rv] = r.dims();
                        if (rb != batch && rb != 1) || rv != v {
                            return Err(Error::Shape {
                                what: "frame_repeat".into(),
                                expected: format!("[{batch} or 1, {v}] (one value per view)"),
                                found: vec![rb, rv],
                            });
                        }
                        r.clone().expand([batch, v])
                    }
                    // The reference's default when no flag is given: zeros.
                    None => Tensor::zeros([batch, v], &device),
                };
                e = e + linear.forward(repeat.unsqueeze_dim::<3>(2));
            }
            (None, Some(_)) => {
                return Err(Error::Argument(
                    "this multi-view network has no frame-repeat embedding, but frame_repeat \
                     was given"
                        .into(),
                ));
            }
            (None, None) => {}
        }
        let per_view = t / v;
        Ok(e.swap_dims(1, 2) // [B, D_v, V]
            .reshape([batch, d, v, 1, 1, 1])
            .expand([batch, d, v, per_view, h, w])
            .reshape([batch, d, t, h, w]))
    }

    /// The raw network output for `x: [batch, out_channels, V·T, H, W]` (views laid along
    /// time), `timestep: [batch]` or `[1]`, `context: [batch, V·M, text_embed_dim]` (`M` text
    /// tokens per view, view-major) and the optional per-view frame-repeat flags `[batch, V]`.
    /// Returns `[batch, out_channels, V·T, H, W]`.
    pub fn forward(
        &self,
        x: Tensor<5>,
        timestep: Tensor<1>,
        context: Tensor<3>,
        conditioning: &DitConditioning,
        frame_repeat: Option<&Tensor<2>>,
    ) -> Result<Tensor<5>> {
        let [_, _, t, h, w] = x.dims();
        let positions = self.positions([t, h, w], conditioning.fps)?;
        self.forward_with_positions(x, timestep, context, conditioning, frame_repeat, &positions)
    }

    /// [`forward`](Self::forward) with position tables made by [`positions`](Self::positions).
    pub fn forward_with_positions(
        &self,
        x: Tensor<5>,
        timestep: Tensor<1>,
        context: Tensor<3>,
        conditioning: &DitConditioning,
        frame_repeat: Option<&Tensor<2>>,
        positions: &DitPositions,
    ) -> Result<Tensor<5>> {
        let [b, _, t, h, w] = x.dims();
        let v = self.views.n_views;
        let view = self.view_grid([t, h, w])?;
        let grid = [v * view[0], view[1], view[2]];
        if grid != positions.grid {
            return Err(Error::Shape {
                what: "position tables".into(),
                expected: format!("made for token grid {grid:?}"),
                found: positions.grid.to_vec(),
            });
        }
        if conditioning.action.is_some() {
            return Err(Error::Argument(
                "the multi-view network takes no action".into(),
            ));
        }
        let c = &self.dit.config;
        let [cb, m, cd] = context.dims();
        if cb != b || m == 0 || m % v != 0 || cd != c.text_embed_dim {
            return Err(Error::Shape {
                what: "text embeddings (crossattn_emb)".into(),
                expected: format!(
                    "[{b}, {v}·M, {}] (M text tokens for each of the {v} views)",
                    c.text_embed_dim
                ),
                found: vec![cb, m, cd],
            });
        }
        let timestep = match timestep.dims()[0] {
            n if n == b => timestep,
            1 => timestep.expand([b]),
            n => {
                return Err(Error::Shape {
                    what: "timestep".into(),
                    expected: format!("[{b}] or [1]"),
                    found: vec![n],
                });
            }
        };
        let (mut parts, padding) = self.dit.input_parts(x, None, 0, conditioning)?;
        parts.extend(padding);
        parts.push(self.view_channels(b, [t, h, w], frame_repeat)?);
        let mut x = self.dit.patch_embed.forward(Tensor::cat(parts, 1));
        let (temb, embedded) = self.dit.time_embed.forward(timestep);
        for block in &self.dit.transformer_blocks {
            x = DitBlock::forward_views(block, x, &context, &embedded, &temb, positions, v);
        }
        let hidden = c.hidden_size();
        let (x, _) = modulated(
            &self.dit.norm_out,
            x,
            &embedded,
            temb.narrow(1, 0, 2 * hidden),
        );
        let x = cosmos_nn::kernels::attention::linear(&self.dit.proj_out, x);
        Ok(unpatchify(x, grid, c.patch_size))
    }
}

/// cosmos-predict1's names onto [`MultiviewDit`]'s fields: the single-view rules, then the
/// single-view fields moved under `dit.`.
pub fn multiview_key_map() -> Result<KeyMap> {
    let map = key_map(KeyNaming::CosmosPredict1)?.rule(
        r"^(patch_embed|learnable_pos_embed|time_embed|transformer_blocks|norm_out|proj_out)\.",
        "dit.$1.",
    )?;
    Ok(map)
}

/// The 1D sin|cos table of cosmos-predict1's `get_1d_sincos_pos_embed_from_grid`: `[n, dim]`,
/// `sin(p·ω_i)` then `cos(p·ω_i)` with `ω_i = 10000^(−i/(dim/2))`, computed in f64.
fn sincos_1d(dim: usize, n: usize, scale: f64) -> Vec<f64> {
    let half = dim / 2;
    let mut out = vec![0.0; n * dim];
    for p in 0..n {
        let pos = p as f64 / scale;
        for i in 0..half {
            let omega = 1.0 / 10000f64.powf(i as f64 / half as f64);
            out[p * dim + i] = (pos * omega).sin();
            out[p * dim + half + i] = (pos * omega).cos();
        }
    }
    out
}

/// The sin-cos per-block embedding of one view, `[T·H·W, hidden]` row-major: the time, height
/// and width tables (`hidden − 2·(hidden/6·2)`, `hidden/6·2`, `hidden/6·2` wide) concatenated
/// per token.
fn sincos_table(hidden: usize, [t, h, w]: [usize; 3], [st, sh, sw]: [f64; 3]) -> Vec<f32> {
    let dh = hidden / 6 * 2;
    let dt = hidden - 2 * dh;
    let (et, eh, ew) = (
        sincos_1d(dt, t, st),
        sincos_1d(dh, h, sh),
        sincos_1d(dh, w, sw),
    );
    let mut out = Vec::with_capacity(t * h * w * hidden);
    for i in 0..t {
        for j in 0..h {
            for k in 0..w {
                out.extend(et[i * dt..(i + 1) * dt].iter().map(|&x| x as f32));
                out.extend(eh[j * dh..(j + 1) * dh].iter().map(|&x| x as f32));
                out.extend(ew[k * dh..(k + 1) * dh].iter().map(|&x| x as f32));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiview_names_map_under_dit() {
        let map = multiview_key_map().unwrap();
        for (key, path) in [
            (
                "net.x_embedder.proj.1.weight",
                "dit.patch_embed.proj.weight",
            ),
            (
                "net.blocks.block1.blocks.1.block.attn.to_k.1.weight",
                "dit.transformer_blocks.1.attn2.k_norm.weight",
            ),
            ("net.final_layer.linear.weight", "dit.proj_out.weight"),
            ("net.view_embeddings.weight", "view_embeddings.weight"),
            (
                "net.repeat_frame_embedding.bias",
                "repeat_frame_embedding.bias",
            ),
        ] {
            assert_eq!(map.map(key), path, "{key}");
        }
        assert!(map.is_ignored("net.pos_embedder.seq"));
    }

    #[test]
    fn sincos_rows_are_sin_then_cos() {
        let t = sincos_1d(4, 3, 1.0);
        // position 2: ω = [1, 1/100]
        assert!((t[8] - 2f64.sin()).abs() < 1e-12);
        assert!((t[9] - 0.02f64.sin()).abs() < 1e-12);
        assert!((t[10] - 2f64.cos()).abs() < 1e-12);
        assert_eq!(sincos_table(12, [1, 2, 2], [1.0; 3]).len(), 4 * 12);
    }
}
