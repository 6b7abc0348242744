//! Post-training recipes: the whole of `cosmos train dit` and `cosmos train ar` as library
//! calls, so that a program does from Rust exactly what the command line does (the CLI only
//! parses its arguments into a [`DitRecipe`] / [`ArRecipe`] and prints the report).
//!
//! [`post_train_dit`] takes one of three bases:
//! - a **world-model folder** ([`WorldModel::load`]: `cosmos world model --out DIR`, `cosmos
//!   train world-model`, or an earlier run of this recipe): its tokenizer encodes the clips at
//!   the model's frame size, every window of the model's length in each clip is a sample
//!   ([`ShardOptions::window_step`]), its action conditioner (and spatial push map) and latent
//!   normalisation are kept, and the result is a world-model folder again, complete
//!   (`config.json`, `model.safetensors`, `tokenizer/`), that [`WorldModel::load`] and `cosmos
//!   generate --model OUT --actions A.json` read;
//! - a **diffusers pipeline folder** (`transformer/`, `vae/`, `text_encoder/`) or a bare
//!   **transformer folder**: zero-initialised action / camera / view conditioners are added
//!   (and T5 text through the existing cross-attention); the result is a diffusers transformer
//!   folder plus `conditioner.safetensors`.
//!
//! Both write `posttrain.json` ([`RunInfo`]) and keep `checkpoint.safetensors` for `resume`.

use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device, Tensor};
use ndarray::{ArrayView4, s};

use crate::conditioning::{ConditionKind, ConditionedDit, FrameConditionerConfig};
use crate::data::{
    ActionMapper, ClipEncoder, LatentNormalization, LatentSet, ShardOptions,
    encode_shards_with_maps,
};
use crate::lora::{self, LoraConfig};
use crate::trainer::{
    CHECKPOINT_FILE, RunInfo, TrainOptions, TrainProgress, TrainSummary, Trainer, export_diffusers,
    module_tensors, write_safetensors,
};
use crate::world_model::{
    CONDITION_LATENT_FRAMES, CONTEXT_FRAMES, FRAMES_PER_LATENT, TOKENIZER_DIR, WorldModel,
    push_map, save_model,
};
use crate::{Error, Result};

/// Mean of `ln σ` when fine-tuning a world model: the shipped one was trained at high noise
/// only (`cosmos train world-model --p-mean 3.4 --p-std 0.3`) and is sampled in one Euler step,
/// so fine-tuning keeps that distribution unless told otherwise.
pub const WORLD_MODEL_P_MEAN: f64 = 3.4;
/// Standard deviation of `ln σ` when fine-tuning a world model (see [`WORLD_MODEL_P_MEAN`]).
pub const WORLD_MODEL_P_STD: f64 = 0.3;

/// Everything `cosmos train dit` is told. `None` fields take the base's value (world model) or
/// the documented default (DiT).
#[derive(Debug, Clone)]
pub struct DitRecipe {
    /// Webdataset shards (`KEY.mp4` + `KEY.json` per clip; [`find_shards`] lists a folder's).
    pub shards: Vec<PathBuf>,
    /// The base: a world-model folder, a diffusers pipeline folder or a transformer folder.
    pub model: PathBuf,
    /// Output folder.
    pub out: PathBuf,
    /// Extra conditioning. A world model has its action conditioner already (`action` or
    /// nothing); a DiT gets zero-initialised conditioners for each kind.
    pub conditions: Vec<ConditionKind>,
    /// LoRA adapters (merged into the written weights); full fine-tuning when `None`.
    pub lora: Option<LoraConfig>,
    /// Optimiser steps.
    pub steps: usize,
    /// Clips per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Warm-up steps.
    pub warmup_steps: usize,
    /// Seed of the data order and noise.
    pub seed: u64,
    /// Checkpoint interval in steps.
    pub checkpoint_every: usize,
    /// Extra loss weight where the scene moves ([`TrainOptions::motion_weight`]).
    pub motion_weight: f64,
    /// Mean of `ln σ` (world model: [`WORLD_MODEL_P_MEAN`]; DiT: [`TrainOptions`]' default).
    pub p_mean: Option<f64>,
    /// Standard deviation of `ln σ` (world model: [`WORLD_MODEL_P_STD`]).
    pub p_std: Option<f64>,
    /// Continue from `out/checkpoint.safetensors`.
    pub resume: bool,
    /// DiT only: the video tokenizer (`world`, a Cosmos tokenizer folder or file); default the
    /// pipeline's `vae/`. A world model brings its own.
    pub tokenizer: Option<String>,
    /// Frames per sample (world model: its window, `5 + 4·predicted latent frames`; DiT: 17).
    pub frames: Option<usize>,
    /// Frame size `(width, height)` (world model: its world's; DiT: 64×64).
    pub size: Option<(u32, u32)>,
    /// Keep one decoded frame in N.
    pub stride: usize,
    /// Windows start every N frames of a clip (world model: 4, one latent frame; DiT: only
    /// the first window of each clip).
    pub window_step: Option<usize>,
    /// Latent frames that condition (world model: 2; DiT: 1).
    pub condition_frames: Option<usize>,
    /// Frame rate given to RoPE (world model: its own; DiT: 24).
    pub fps: Option<f64>,
    /// Record field of the per-frame actions.
    pub action_field: String,
    /// Record field of the per-frame camera poses.
    pub camera_field: String,
    /// Record field of the view index.
    pub view_field: String,
    /// Views of the rig (default: the largest index in the data + 1).
    pub views: Option<usize>,
    /// Latent cache folder (default `out/cache`).
    pub cache: Option<PathBuf>,
}

impl DitRecipe {
    /// A recipe with the command line's defaults.
    pub fn new(shards: Vec<PathBuf>, model: PathBuf, out: PathBuf) -> Self {
        Self {
            shards,
            model,
            out,
            conditions: Vec::new(),
            lora: None,
            steps: 1000,
            batch_size: 1,
            learning_rate: 1e-4,
            warmup_steps: 50,
            seed: 0,
            checkpoint_every: 100,
            motion_weight: 4.0,
            p_mean: None,
            p_std: None,
            resume: false,
            tokenizer: None,
            frames: None,
            size: None,
            stride: 1,
            window_step: None,
            condition_frames: None,
            fps: None,
            action_field: "actions".into(),
            camera_field: "camera".into(),
            view_field: "view".into(),
            views: None,
            cache: None,
        }
    }

    fn train_options(
        &self,
        condition_frames: usize,
        fps: Option<f64>,
        world: bool,
    ) -> TrainOptions {
        let defaults = TrainOptions::default();
        let (p_mean, p_std) = if world {
            (WORLD_MODEL_P_MEAN, WORLD_MODEL_P_STD)
        } else {
            (defaults.p_mean, defaults.p_std)
        };
        TrainOptions {
            steps: self.steps,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            warmup_steps: self.warmup_steps,
            seed: self.seed,
            condition_frames,
            fps,
            checkpoint_every: Some(self.checkpoint_every.max(1)),
            out_dir: Some(self.out.clone()),
            motion_weight: self.motion_weight,
            p_mean: self.p_mean.unwrap_or(p_mean),
            p_std: self.p_std.unwrap_or(p_std),
            ..defaults
        }
    }
}

/// What the base of a [`DitRecipe`] was, and so what the run wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DitBase {
    /// A world-model folder: `out` is a world-model folder.
    WorldModel,
    /// A diffusers DiT: `out/transformer/` and `out/conditioner.safetensors`.
    Dit,
}

/// What [`post_train_dit`] did.
#[derive(Debug, Clone)]
pub struct DitReport {
    /// The kind of base (and of output).
    pub base: DitBase,
    /// The training run.
    pub summary: TrainSummary,
    /// Samples trained on.
    pub samples: usize,
    /// The output folder.
    pub out: PathBuf,
}

/// Every `*.tar` under `dir` (recursively), sorted.
pub fn find_shards(dir: &Path) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let path = entry.map_err(|e| Error::io(dir, e))?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "tar") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut shards = Vec::new();
    walk(dir, &mut shards)?;
    shards.sort();
    if shards.is_empty() {
        return Err(Error::Config(format!(
            "{}: no *.tar shards (write them with `cosmos curate`)",
            dir.display()
        )));
    }
    Ok(shards)
}

/// Runs `cosmos train dit`: post-trains the base of `recipe` on its shards and writes the
/// result to `recipe.out` (see the [module](self) for what each base gives). `log` receives
/// one-line messages, `progress` every step.
pub fn post_train_dit(
    recipe: &DitRecipe,
    device: &Device,
    log: &mut dyn FnMut(&str),
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<DitReport> {
    if recipe.shards.is_empty() {
        return Err(Error::Config("no shards given".into()));
    }
    if WorldModel::is_world_model_dir(&recipe.model) {
        post_train_world_model(recipe, device, log, progress)
    } else {
        post_train_diffusers(recipe, device, log, progress)
    }
}

/// A world-model base: its tokenizer, window, normalisation and conditioners.
fn post_train_world_model(
    recipe: &DitRecipe,
    device: &Device,
    log: &mut dyn FnMut(&str),
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<DitReport> {
    let base = WorldModel::load(&recipe.model, device)?;
    let base_dir = recipe.model.display().to_string();
    if let Some(kind) = recipe
        .conditions
        .iter()
        .find(|k| **k != ConditionKind::Action)
    {
        return Err(Error::Config(format!(
            "{base_dir} is a world model conditioned on actions only; {kind:?} conditioning \
             needs a DiT base"
        )));
    }
    if let Some(t) = &recipe.tokenizer {
        return Err(Error::Config(format!(
            "{base_dir} is a world model with its own tokenizer ({base_dir}/{TOKENIZER_DIR}); \
             --tokenizer {t} cannot replace it"
        )));
    }
    let config = base.config.clone();
    let window = 1 + FRAMES_PER_LATENT * (config.window_latent_frames() - 1);
    let size = config.world.size as u32;
    let mismatch = |what: &str, expected: String, found: String| Error::Shape {
        what: format!("{what} for the world model {base_dir}"),
        expected,
        found,
    };
    if let Some(f) = recipe.frames.filter(|&f| f != window) {
        return Err(mismatch(
            "frames per sample",
            format!("{window} (its window: {CONTEXT_FRAMES} context + predicted frames)"),
            f.to_string(),
        ));
    }
    if let Some((w, h)) = recipe.size.filter(|&s| s != (size, size)) {
        return Err(mismatch(
            "frame size",
            format!("{size}x{size}"),
            format!("{w}x{h}"),
        ));
    }
    if let Some(c) = recipe
        .condition_frames
        .filter(|&c| c != CONDITION_LATENT_FRAMES)
    {
        return Err(mismatch(
            "condition latent frames",
            CONDITION_LATENT_FRAMES.to_string(),
            c.to_string(),
        ));
    }
    let options = ShardOptions {
        frames: window,
        size: (size, size),
        stride: recipe.stride.max(1),
        action_field: Some(recipe.action_field.clone()),
        camera_field: None,
        view_field: None,
        window_step: recipe.window_step.or(Some(FRAMES_PER_LATENT)),
    };
    let cache = recipe
        .cache
        .clone()
        .unwrap_or_else(|| recipe.out.join("cache"));
    let WorldModel {
        tokenizer,
        model,
        config,
        ..
    } = base;
    let world = config.world.clone();
    let mut set = {
        let mut encode = |v: Tensor<5>| Ok(tokenizer.encode(v)?.latent);
        let mut encoder = ClipEncoder::tokenizer(&tokenizer, &mut encode);
        // The spatial push map is drawn from the context frames, as at rollout time.
        let draw: &mut ActionMapper<'_> = &mut |frames: ArrayView4<u8>,
                                                actions: &[Vec<f32>],
                                                [t, h, w]: [usize; 3]|
         -> Result<Vec<f32>> {
            let context = frames.slice(s![..CONTEXT_FRAMES.min(frames.dim().0), .., .., ..]);
            Ok(push_map(context, actions, &world, t, [h, w]))
        };
        let map = if config.action_map { Some(draw) } else { None };
        encode_shards_with_maps(
            &recipe.shards,
            &mut encoder,
            &options,
            Some(&cache),
            None,
            map,
            log,
        )?
    };
    let want = FRAMES_PER_LATENT * config.action_dim;
    match set.action_dim {
        Some(found) if found == want => {}
        found => {
            return Err(Error::Shape {
                what: format!("'{}' of the clip records", recipe.action_field),
                expected: format!(
                    "vectors of {} values (the action_dim of {base_dir})",
                    config.action_dim
                ),
                found: match found {
                    Some(d) => format!("vectors of {} values", d / FRAMES_PER_LATENT),
                    None => "no actions".into(),
                },
            });
        }
    }
    set.normalize(config.normalization);
    log(&format!(
        "data: {} windows of {window} frames at {size}x{size}, actions of {} values per frame{}",
        set.len(),
        config.action_dim,
        if config.action_map { ", push maps" } else { "" }
    ));
    let options = recipe.train_options(CONDITION_LATENT_FRAMES, config.fps, true);
    let (model, summary) = train(model, &set, recipe, options, log, progress)?;
    save_model(&model, &config, &recipe.out, DType::F32)?;
    // The base's own tokenizer goes with the weights trained on its latents.
    copy_tokenizer(&recipe.model, &recipe.out)?;
    run_info(
        recipe,
        &set,
        config.normalization,
        window,
        (size, size),
        CONDITION_LATENT_FRAMES,
        &summary,
    )
    .save(&recipe.out.join("posttrain.json"))?;
    Ok(DitReport {
        base: DitBase::WorldModel,
        summary,
        samples: set.len(),
        out: recipe.out.clone(),
    })
}

/// Copies `base/tokenizer/` over `out/tokenizer/` (when `base` has one and is another folder).
fn copy_tokenizer(base: &Path, out: &Path) -> Result<()> {
    let (from, to) = (base.join(TOKENIZER_DIR), out.join(TOKENIZER_DIR));
    let same = match (from.canonicalize(), to.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same || !from.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(&to).map_err(|e| Error::io(&to, e))?;
    for entry in std::fs::read_dir(&from).map_err(|e| Error::io(&from, e))? {
        let path = entry.map_err(|e| Error::io(&from, e))?.path();
        if path.is_file()
            && let Some(name) = path.file_name()
        {
            std::fs::copy(&path, to.join(name)).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// LoRA (when asked), the trainer, resume, the run; returns the trained model (LoRA merged).
fn train(
    mut model: ConditionedDit,
    set: &LatentSet,
    recipe: &DitRecipe,
    options: TrainOptions,
    log: &mut dyn FnMut(&str),
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<(ConditionedDit, TrainSummary)> {
    if let Some(l) = &recipe.lora {
        model = lora::apply(model, l)?;
        log(&format!(
            "LoRA rank {}: {} adapter parameters",
            l.rank,
            lora::adapter_params(&model)
        ));
    }
    let mut trainer = Trainer::new(model, options)?;
    let checkpoint = recipe.out.join(CHECKPOINT_FILE);
    if recipe.resume {
        trainer.resume(&checkpoint)?;
        log(&format!(
            "resumed from {} at step {}",
            checkpoint.display(),
            trainer.step
        ));
    }
    let summary = trainer.run(set, progress)?;
    let model = trainer.into_model();
    let model = if recipe.lora.is_some() {
        lora::merge(model)
    } else {
        model
    };
    Ok((model, summary))
}

fn run_info(
    recipe: &DitRecipe,
    set: &LatentSet,
    normalization: LatentNormalization,
    frames: usize,
    (w, h): (u32, u32),
    condition_frames: usize,
    summary: &TrainSummary,
) -> RunInfo {
    let mut conditions: Vec<String> = recipe
        .conditions
        .iter()
        .map(|k| format!("{k:?}").to_ascii_lowercase())
        .collect();
    if set.action_dim.is_some() && conditions.is_empty() {
        conditions.push("action".into());
    }
    RunInfo {
        conditions,
        action_dim_per_latent_frame: set.action_dim,
        camera_dim_per_latent_frame: set.camera_dim,
        views: set.views,
        text_context: set.context_shape,
        latent_normalization: normalization,
        frames,
        size: [w, h],
        condition_latent_frames: condition_frames,
        lora: recipe.lora.clone(),
        steps: summary.steps,
        final_loss: summary.final_loss,
    }
}

/// A diffusers DiT base (pipeline or transformer folder).
fn post_train_diffusers(
    recipe: &DitRecipe,
    device: &Device,
    log: &mut dyn FnMut(&str),
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<DitReport> {
    use cosmos_diffusion::pretrained::{ModelPaths, load_text_encoder, load_video_tokenizer};
    use cosmos_diffusion::{LatentDecoder, LatentEncoder, TextEncoder};
    let kinds = &recipe.conditions;
    let paths = ModelPaths::find(&recipe.model).ok();
    let transformer = match &paths {
        Some(p) => p.transformer.clone(),
        None if recipe.model.join("transformer").is_dir() => recipe.model.join("transformer"),
        None => recipe.model.clone(),
    };
    let dit = cosmos_diffusion::load_dit(&transformer, device)?;
    let condition_frames = recipe.condition_frames.unwrap_or(1);
    if condition_frames > 0 && !dit.config.has_condition_mask() {
        return Err(Error::Config(
            "this DiT is a Text2World model: pass --condition-frames 0 or use a Video2World one"
                .into(),
        ));
    }
    log(&format!(
        "DiT: {} blocks, hidden {}, from {}",
        dit.config.num_layers,
        dit.config.hidden_size(),
        transformer.display()
    ));

    // Latents: shards → frames → tokenizer (cached).
    let frames = recipe.frames.unwrap_or(17);
    let size = recipe.size.unwrap_or((64, 64));
    let options = ShardOptions {
        frames,
        size,
        stride: recipe.stride,
        action_field: kinds
            .contains(&ConditionKind::Action)
            .then(|| recipe.action_field.clone()),
        camera_field: kinds
            .contains(&ConditionKind::Camera)
            .then(|| recipe.camera_field.clone()),
        view_field: kinds
            .contains(&ConditionKind::View)
            .then(|| recipe.view_field.clone()),
        window_step: recipe.window_step,
    };
    let cache = recipe
        .cache
        .clone()
        .unwrap_or_else(|| recipe.out.join("cache"));
    let mut text_encoder = if kinds.contains(&ConditionKind::Text) {
        let p = paths.as_ref().ok_or_else(|| {
            Error::Config("--condition text needs a pipeline folder with text_encoder/ (T5)".into())
        })?;
        Some(load_text_encoder(p, device)?)
    } else {
        None
    };
    let mut embed_text = |text: &str| -> Result<Vec<f32>> {
        let encoder = text_encoder
            .as_mut()
            .ok_or_else(|| Error::Config("no text encoder loaded".into()))?;
        let e = encoder
            .encode(&[text])
            .map_err(|e| Error::Config(format!("text encoder: {e}")))?;
        e.embeddings
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| Error::Config(format!("text embeddings: {e:?}")))
    };
    let context_shape = if kinds.contains(&ConditionKind::Text) {
        let n = embed_text("")?.len();
        let d = dit.config.text_embed_dim;
        Some([n / d, d])
    } else {
        None
    };
    let (mut set, normalization) = match recipe.tokenizer.as_deref() {
        Some(which) => {
            let tokenizer = if which == "world" {
                crate::tokenizer_train::load_world_tokenizer(device)?
            } else {
                cosmos_tokenizer::Tokenizer::load(which, None, device)?
            };
            let mut encode = |v: Tensor<5>| Ok(tokenizer.encode(v)?.latent);
            let mut encoder = ClipEncoder::tokenizer(&tokenizer, &mut encode);
            let text = context_shape.map(|s| (&mut embed_text as &mut _, s));
            let set = encode_shards_with_maps(
                &recipe.shards,
                &mut encoder,
                &options,
                Some(&cache),
                text,
                None,
                log,
            )?;
            let n = LatentNormalization::fit(&set);
            (set, n)
        }
        None => {
            let p = paths.as_ref().ok_or_else(|| {
                Error::Config(
                    "no video tokenizer: pass --tokenizer DIR (or `world`), or a pipeline folder \
                     with vae/"
                        .into(),
                )
            })?;
            let mut tokenizer = load_video_tokenizer(p, device)?;
            let k = tokenizer.temporal_compression();
            // The pipeline's encoder already normalises latents to the DiT's scale.
            let mut encode = |v: Tensor<5>| {
                tokenizer
                    .encode(v)
                    .map_err(|e| Error::Config(format!("video tokenizer: {e}")))
            };
            let mut encoder = ClipEncoder {
                encode: &mut encode,
                temporal_compression: k,
                device: device.clone(),
            };
            let text = context_shape.map(|s| (&mut embed_text as &mut _, s));
            let set = encode_shards_with_maps(
                &recipe.shards,
                &mut encoder,
                &options,
                Some(&cache),
                text,
                None,
                log,
            )?;
            (set, LatentNormalization::default())
        }
    };
    set.normalize(normalization);
    if let Some(v) = recipe.views {
        if let Some(found) = set.views.filter(|&found| found > v) {
            return Err(Error::Config(format!(
                "--views {v}, but the data has view indices up to {}",
                found - 1
            )));
        }
        set.views = set.views.map(|_| v);
    }
    let [_, t, _, _] = set.shape;
    let pt = dit.config.patch_size[0];
    let per_token = |d: usize| d * pt;
    if t % pt != 0 {
        return Err(Error::Config(format!(
            "{t} latent frames are not a multiple of the temporal patch {pt}"
        )));
    }
    if pt != 1 && (set.action_dim.is_some() || set.camera_dim.is_some()) {
        return Err(Error::Config(
            "per-frame conditioning needs a temporal patch size of 1".into(),
        ));
    }
    log(&format!(
        "data: {} clips, latent {:?}, actions {:?}, camera {:?}, views {:?}, text {:?}",
        set.len(),
        set.shape,
        set.action_dim,
        set.camera_dim,
        set.views,
        set.context_shape
    ));

    // Model: the DiT + zero-initialised conditioners (+ LoRA).
    let conditioner = FrameConditionerConfig::new(dit.config.hidden_size())
        .with_action_dim(set.action_dim.map(per_token))
        .with_camera_dim(set.camera_dim.map(per_token))
        .with_views(set.views)
        .init(device)?;
    let model = ConditionedDit::new(dit, conditioner)?;
    let options = recipe.train_options(condition_frames, Some(recipe.fps.unwrap_or(24.0)), false);
    let (model, summary) = train(model, &set, recipe, options, log, progress)?;

    // Export: the DiT in diffusers format (LoRA merged), the conditioners, the settings.
    export_diffusers(&model.dit, &recipe.out.join("transformer"), DType::F32)?;
    write_safetensors(
        &recipe.out.join("conditioner.safetensors"),
        &module_tensors(&model.conditioner, ""),
        Default::default(),
        DType::F32,
    )?;
    run_info(
        recipe,
        &set,
        normalization,
        frames,
        size,
        condition_frames,
        &summary,
    )
    .save(&recipe.out.join("posttrain.json"))?;
    Ok(DitReport {
        base: DitBase::Dit,
        summary,
        samples: set.len(),
        out: recipe.out.clone(),
    })
}

/// Where the token sequences of an [`ArRecipe`] come from.
#[derive(Debug, Clone)]
pub enum ArData {
    /// Curated shards, tokenized with the discrete video tokenizer at `tokenizer` (cached per
    /// shard, and the whole set written to `out/tokens.safetensors`).
    Shards {
        /// The shards.
        shards: Vec<PathBuf>,
        /// The DV tokenizer (a Cosmos-1.0-Tokenizer-DV folder or a parity fixture).
        tokenizer: PathBuf,
    },
    /// A token set an earlier run wrote (`out/tokens.safetensors`).
    Tokens(PathBuf),
}

/// Everything `cosmos train ar` is told, besides the base model.
#[derive(Debug, Clone)]
pub struct ArRecipe {
    /// The token sequences.
    pub data: ArData,
    /// Output folder.
    pub out: PathBuf,
    /// Condition on the clip records' per-frame actions.
    pub actions: bool,
    /// LoRA adapters (merged into the exported weights).
    pub lora: Option<LoraConfig>,
    /// Optimiser steps.
    pub steps: usize,
    /// Sequences per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Warm-up steps.
    pub warmup_steps: usize,
    /// Stop (with a checkpoint) after this many seconds of training.
    pub max_seconds: Option<f64>,
    /// Seed of the data order.
    pub seed: u64,
    /// Continue from `out/ar_checkpoint.safetensors`.
    pub resume: bool,
    /// Checkpoint interval in steps.
    pub checkpoint_every: usize,
    /// Latent frames that condition (inputs only).
    pub condition_frames: usize,
    /// Keep one decoded frame in N.
    pub stride: usize,
    /// Record field of the per-frame actions.
    pub action_field: String,
    /// T5 embeddings `(values, [keys, dim])` for a model with cross-attention, used for every
    /// clip ([`read_prompt_embeddings`]).
    pub prompt_embeddings: Option<(Vec<f32>, [usize; 2])>,
    /// Token cache folder for shards (default `out/token-cache`).
    pub cache: Option<PathBuf>,
}

/// What [`post_train_ar`] did.
#[derive(Debug, Clone)]
pub struct ArReport {
    /// The training run.
    pub summary: TrainSummary,
    /// The exported checkpoint (`out/model/model.safetensors`).
    pub checkpoint: PathBuf,
    /// Its configuration (`out/model/config.json`).
    pub config: PathBuf,
    /// `out/action_projection.safetensors`, when actions condition.
    pub action_projection: Option<PathBuf>,
}

/// One embedding tensor `[keys, dim]` (or `[1, keys, dim]`) of a safetensors file as
/// `(values, [keys, dim])`.
pub fn read_prompt_embeddings(path: &Path) -> Result<(Vec<f32>, [usize; 2])> {
    let format = |reason: String| Error::Format {
        path: path.display().to_string(),
        reason,
    };
    let checkpoint =
        cosmos_nn::checkpoint::Checkpoint::open(path).map_err(cosmos_nn::Error::from)?;
    let mut keys = checkpoint.keys();
    let (Some(key), None) = (keys.next(), keys.next()) else {
        return Err(format(format!(
            "expected exactly one tensor (T5 embeddings), found {}",
            checkpoint.len()
        )));
    };
    let data = checkpoint
        .get(key)
        .ok_or_else(|| format(format!("tensor '{key}' is unreadable")))?;
    let shape = data.shape().to_vec();
    let (l, d) = match shape[..] {
        [l, d] | [1, l, d] => (l, d),
        _ => {
            return Err(format(format!(
                "expected embeddings [keys, dim] or [1, keys, dim], found {shape:?}"
            )));
        }
    };
    let values: Vec<f32> = data
        .clone()
        .convert_dtype(DType::F32)
        .try_into_vec()
        .map_err(|e| format(format!("{e:?}")))?;
    Ok((values, [l, d]))
}

/// Runs `cosmos train ar`: fine-tunes `base` on the recipe's token sequences (next-token
/// cross-entropy on the predicted frames) and exports `out/model/` (reference key names, LoRA
/// merged), the action projection and `posttrain.json`.
pub fn post_train_ar(
    base: cosmos_ar::ArTransformer,
    recipe: &ArRecipe,
    device: &Device,
    log: &mut dyn FnMut(&str),
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<ArReport> {
    use crate::ar::{
        AR_CHECKPOINT_FILE, ArRunInfo, ArTrainOptions, ArTrainer, ConditionedAr, TokenSet,
        adapter_params, apply_lora, encode_token_shards, export_checkpoint, merge_lora,
    };
    let config = base.config().clone();
    let [t, h, w] = config.latent_shape().ok_or_else(|| {
        Error::Config("the model config has no video_latent_shape [T, H, W]".into())
    })?;
    let context = match (&recipe.prompt_embeddings, config.insert_cross_attn) {
        (Some(p), true) => Some(p.clone()),
        (None, true) => {
            return Err(Error::Config(
                "this is a Video2World model with cross-attention: give --prompt-embeddings (T5 \
                 embeddings of the clips' prompt)"
                    .into(),
            ));
        }
        (Some(_), false) => {
            return Err(Error::Config(
                "this model takes no text: drop --prompt-embeddings".into(),
            ));
        }
        (None, false) => None,
    };

    // Tokens: a cached set, or shards → frames → DV tokenizer (cached per shard).
    let set = match &recipe.data {
        ArData::Tokens(path) => TokenSet::load(path)?,
        ArData::Shards { shards, tokenizer } => {
            if shards.is_empty() {
                return Err(Error::Config("no shards given".into()));
            }
            let tokenizer = cosmos_ar::tokenizer::load_discrete_video_tokenizer(tokenizer, device)?;
            let k = tokenizer.temporal_compression();
            let s = tokenizer.spatial_compression();
            let shard_options = ShardOptions {
                frames: 1 + (t - 1) * k,
                size: ((w * s) as u32, (h * s) as u32),
                stride: recipe.stride,
                action_field: recipe.actions.then(|| recipe.action_field.clone()),
                ..ShardOptions::default()
            };
            let cache = recipe
                .cache
                .clone()
                .unwrap_or_else(|| recipe.out.join("token-cache"));
            let mut embed = |_: &str| -> Result<Vec<f32>> {
                Ok(context.as_ref().map(|(v, _)| v.clone()).unwrap_or_default())
            };
            let text = context
                .as_ref()
                .map(|(_, shape)| (&mut embed as &mut _, *shape));
            let set = encode_token_shards(
                shards,
                &tokenizer,
                device,
                &shard_options,
                Some(&cache),
                text,
                log,
            )?;
            set.save(&recipe.out.join("tokens.safetensors"))?;
            set
        }
    };
    if recipe.actions && set.action_dim.is_none() {
        return Err(Error::Config(
            "--condition action, but the token set carries no actions".into(),
        ));
    }
    // The set may carry actions the run does not use.
    let set = if recipe.actions {
        set
    } else {
        let mut plain = set;
        plain.action_dim = None;
        plain.samples.iter_mut().for_each(|s| s.actions = None);
        plain
    };
    if config.insert_cross_attn && set.context_shape.is_none() {
        return Err(Error::Config(
            "this model has cross-attention, but the token set carries no text embeddings \
             (build it with --prompt-embeddings)"
                .into(),
        ));
    }
    log(&format!(
        "data: {} sequences over the grid {:?}, actions {:?}, text {:?}",
        set.len(),
        set.latent_shape,
        set.action_dim,
        set.context_shape
    ));

    // Model: the transformer + a zero-initialised action projection (+ LoRA).
    let mut model = ConditionedAr::new(base, set.action_dim)?;
    if let Some(l) = &recipe.lora {
        model = apply_lora(model, l)?;
        log(&format!(
            "LoRA rank {}: {} adapter parameters",
            l.rank,
            adapter_params(&model)
        ));
    }
    let options = ArTrainOptions {
        steps: recipe.steps,
        batch_size: recipe.batch_size,
        learning_rate: recipe.learning_rate,
        warmup_steps: recipe.warmup_steps,
        seed: recipe.seed,
        condition_frames: recipe.condition_frames,
        checkpoint_every: Some(recipe.checkpoint_every.max(1)),
        out_dir: Some(recipe.out.clone()),
        max_seconds: recipe.max_seconds,
        ..ArTrainOptions::default()
    };
    let mut trainer = ArTrainer::new(model, options)?;
    let checkpoint = recipe.out.join(AR_CHECKPOINT_FILE);
    if recipe.resume {
        trainer.resume(&checkpoint)?;
        log(&format!(
            "resumed from {} at step {}",
            checkpoint.display(),
            trainer.step
        ));
    }
    let summary = trainer.run(&set, progress)?;

    // Export: the transformer in the reference format (LoRA merged), the action projection,
    // the settings.
    let model = trainer.into_model();
    let model = if recipe.lora.is_some() {
        merge_lora(model)
    } else {
        model
    };
    let exported = export_checkpoint(&model.model, &recipe.out.join("model"), DType::F32)?;
    let action_projection = match &model.action_projection {
        Some(projection) => {
            let path = recipe.out.join("action_projection.safetensors");
            write_safetensors(
                &path,
                &module_tensors(projection, ""),
                Default::default(),
                DType::F32,
            )?;
            Some(path)
        }
        None => None,
    };
    ArRunInfo {
        action_dim_per_latent_frame: model.action_dim(),
        latent_shape: set.latent_shape,
        condition_latent_frames: recipe.condition_frames,
        lora: recipe.lora.clone(),
        steps: summary.steps,
        final_loss: summary.final_loss,
    }
    .save(&recipe.out.join("posttrain.json"))?;
    Ok(ArReport {
        summary,
        checkpoint: exported,
        config: recipe.out.join("model").join("config.json"),
        action_projection,
    })
}
