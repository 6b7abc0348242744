//! `cosmos generate-ar`: continue a video (or an image) with the autoregressive world model.
//!
//! Input frames → discrete video tokenizer → AR transformer (prefill + KV-cache decoding with
//! seeded top-p sampling) → tokenizer decoder (or the diffusion decoder and the continuous
//! tokenizer) → MP4, following cosmos-predict1's `autoregressive/inference/{base,video2world}.py`.
//! A Video2World model's prompt passes the blocklist pre-guard (exit 3 when blocked) and is
//! encoded by T5 on the model's device, padded to 512 tokens, zero past its length, every key
//! attended (the reference's `context_mask` is all ones).

use std::path::{Path, PathBuf};

use clap::Args;
use cosmos_ar::tokenizer::load_discrete_video_tokenizer;
use cosmos_ar::{
    ArConfig, ArPreset, ArTransformer, SamplingConfig, Video2World, VideoTokenLayout,
    VideoTokenizer, WorldInput,
};
use cosmos_diffusion::diffusion_decoder::{DecoderFiles, TokenDecoder};
use cosmos_guardrail::{Blocklist, TextGuard, Verdict};
use cosmos_nn::burn::tensor::{Device, Int, Tensor, TensorData};
use cosmos_posttrain::ar::ConditionedAr;
use cosmos_posttrain::data::{frame_vectors, latent_frame_vectors};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array4, Axis, s};

type BoxError = Box<dyn std::error::Error>;

/// Arguments of `cosmos generate-ar`.
#[derive(Args, Debug)]
pub struct ArGenerateArgs {
    /// The model: a preset (4b, 5b-video2world, 12b, 13b-video2world), a JSON file with the
    /// reference's ModelConfig (a checkpoint folder's config.json or a parity fixture's
    /// sidecar), or a model folder: config.json, model.pt or model.safetensors, and
    /// optionally tokenizer/ (the DV tokenizer) and text_encoder/ (T5), used when
    /// --checkpoint / --tokenizer / --text-encoder are not given. A folder (and --tokenizer,
    /// --text-encoder, --checkpoint) may be a Hugging Face repository id in the local hub cache.
    #[arg(long, default_value = "4b")]
    pub model: String,
    /// The AR checkpoint: cosmos-predict1's model.pt, or safetensors with the same key names
    /// (default: the model folder's model.pt / model.safetensors).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Use random weights instead of a checkpoint (smoke tests and speed checks: the output is
    /// noise).
    #[arg(long, conflicts_with = "checkpoint")]
    pub random_weights: bool,
    /// The discrete video tokenizer (Cosmos-1.0-Tokenizer-DV8x16x16): a folder holding
    /// encoder.jit and decoder.jit, or a DV tokenizer parity fixture (.safetensors with its
    /// .json beside it). Default: the model folder's tokenizer/.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Input video (anything FFmpeg reads) or image (png, jpg); it is resized and
    /// center-cropped to the model's resolution.
    #[arg(long, visible_alias = "input-video")]
    pub input: PathBuf,
    /// How many of the last input frames condition the generation: 1 + m·k for a tokenizer with
    /// temporal compression k (the reference offers 1 and 9). Images always use 1.
    #[arg(long, default_value_t = 9)]
    pub num_input_frames: usize,
    /// The text prompt of a Video2World model (5B / 13B): checked by the blocklist (exit 3
    /// when blocked), then encoded with the T5 encoder (--text-encoder, or the model folder's
    /// text_encoder/) on the model's device.
    #[arg(long, conflicts_with = "prompt_embeddings")]
    pub prompt: Option<String>,
    /// The T5 encoder for --prompt: a Hugging Face T5 folder (config.json, spiece.model,
    /// weights), e.g. google-t5/t5-11b.
    #[arg(long, requires = "prompt")]
    pub text_encoder: Option<PathBuf>,
    /// Blocklist folder for the prompt's pre-guard (custom/, exact_match/, whitelist/);
    /// default: the list built into cosmos-guardrail.
    #[arg(long, requires = "prompt")]
    pub blocklist: Option<PathBuf>,
    /// T5 embeddings of the prompt, instead of --prompt: a safetensors file with one tensor
    /// [keys, context_dim] or [1, keys, context_dim] (every key is attended, as in the
    /// reference pipeline).
    #[arg(long)]
    pub prompt_embeddings: Option<PathBuf>,
    /// Decode the generated tokens with the diffusion decoder in this folder
    /// (Cosmos-1.0-Diffusion-7B-Decoder-DV8x16x16ToCV8x8x8: model.pt, aux_vars.pt, and the
    /// continuous tokenizer Cosmos-Tokenize1-CV8x8x8-720p in tokenizer/ or vae/; optional
    /// config.json) instead of the discrete tokenizer's decoder.
    #[arg(long)]
    pub diffusion_decoder: Option<PathBuf>,
    /// Euler steps of the diffusion decoder (default: the folder's config, else the
    /// reference's 15).
    #[arg(long, requires = "diffusion_decoder")]
    pub diffusion_decoder_steps: Option<usize>,
    /// Sampling temperature (0: greedy).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// Nucleus sampling threshold.
    #[arg(long, default_value_t = 0.8, conflicts_with = "top_k")]
    pub top_p: f32,
    /// Top-k sampling instead of top-p.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Random seed (same seed, same video).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output MP4 file.
    #[arg(long, short, default_value = "output.mp4")]
    pub output: PathBuf,
    /// Frame rate of the output (the reference writes 25).
    #[arg(long, default_value_t = 25.0)]
    pub fps: f64,
    /// Per-frame actions for a model fine-tuned with `cosmos train ar --condition action`: a
    /// JSON file holding a list of vectors (vector i: the action between frames i and i + 1 of
    /// the generated clip, which starts at the first of the --num-input-frames frames; at least
    /// one per frame but the last), or a clip record with them in --action-field. Needs
    /// --action-projection.
    #[arg(long, requires = "action_projection")]
    pub actions: Option<PathBuf>,
    /// The action projection `cosmos train ar` wrote next to its model
    /// (OUT/action_projection.safetensors). Needs --actions.
    #[arg(long, requires = "actions")]
    pub action_projection: Option<PathBuf>,
    /// The clip-record field holding the actions, when --actions is a clip record.
    #[arg(long, default_value = "actions")]
    pub action_field: String,
}

/// Reads per-frame action vectors: a JSON list of lists, or an object with them in `field`.
fn read_actions(path: &Path, field: &str) -> Result<Vec<Vec<f32>>, BoxError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read --actions {}: {e}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("--actions {}: not JSON: {e}", path.display()))?;
    let record = if json.is_array() {
        serde_json::json!({ field: json })
    } else {
        json
    };
    // Widths are checked where the rows are grouped per latent frame.
    let rows = frame_vectors(&record, field)
        .map_err(|e| format!("--actions {}: {e}", path.display()))?
        .ok_or_else(|| format!("--actions {}: no '{field}' field", path.display()))?;
    Ok(rows)
}

/// Reads a preset name, a JSON config file or a model folder's config.json.
fn load_config(model: &str) -> Result<ArConfig, BoxError> {
    let path = Path::new(model);
    if path.is_dir() {
        let config = path.join("config.json");
        if !config.is_file() {
            return Err(format!(
                "{}: a model folder needs config.json (the reference's ModelConfig)",
                path.display()
            )
            .into());
        }
        return Ok(ArConfig::from_json_file(&config)?);
    }
    if path.extension().is_some_and(|e| e == "json") || path.is_file() {
        return Ok(ArConfig::from_json_file(path)?);
    }
    Ok(ArPreset::parse(model)?.config())
}

/// Reads the input's last `last` frames as `[frames, height, width, 3]` u8 (an image is one
/// frame).
fn read_frames(path: &Path, last: usize) -> Result<Array4<u8>, BoxError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if matches!(ext.as_str(), "png" | "jpg" | "jpeg") {
        let image = cosmos_media::read_image(path)?;
        return Ok(image.insert_axis(Axis(0)));
    }
    let options = match cosmos_media::probe(path)?.frames {
        Some(n) if n > last as u64 => {
            cosmos_media::ReadOptions::default().range(n - last as u64, last)
        }
        _ => cosmos_media::ReadOptions::default(),
    };
    let frames = cosmos_media::read_video(path, &options)?.frames;
    let n = frames.len_of(Axis(0));
    Ok(frames
        .slice(s![n.saturating_sub(last).., .., .., ..])
        .to_owned())
}

/// Aspect-preserving resize so both sides cover the target, then a center crop (the reference's
/// `resize_input`).
fn resize_and_crop(
    frames: &Array4<u8>,
    height: usize,
    width: usize,
) -> Result<Array4<u8>, BoxError> {
    let (_, h, w, _) = frames.dim();
    let scale = (width as f64 / w as f64).max(height as f64 / h as f64);
    let (rh, rw) = (
        ((scale * h as f64).ceil() as usize).max(height),
        ((scale * w as f64).ceil() as usize).max(width),
    );
    let resized = if (rh, rw) == (h, w) {
        frames.clone()
    } else {
        cosmos_media::resize_frames(frames.view(), rw, rh, cosmos_media::ResizeFilter::Bilinear)?
    };
    let (top, left) = ((rh - height) / 2, (rw - width) / 2);
    Ok(resized
        .slice(s![.., top..top + height, left..left + width, ..])
        .to_owned())
}

/// The prompt embeddings file as `[1, keys, dim]`.
fn read_embeddings(path: &Path, device: &Device) -> Result<Tensor<3>, BoxError> {
    let checkpoint = cosmos_nn::checkpoint::Checkpoint::open(path)?;
    let mut keys = checkpoint.keys();
    let (Some(key), None) = (keys.next(), keys.next()) else {
        return Err(format!(
            "{}: expected exactly one tensor (the prompt's T5 embeddings), found {}",
            path.display(),
            checkpoint.len()
        )
        .into());
    };
    let data = checkpoint.get(key).expect("listed key");
    let shape = data.shape().to_vec();
    let (l, d) = match shape[..] {
        [l, d] | [1, l, d] => (l, d),
        _ => {
            return Err(format!(
                "{}: expected embeddings [keys, dim] or [1, keys, dim], found {shape:?}",
                path.display()
            )
            .into());
        }
    };
    let values: Vec<f32> = data
        .clone()
        .convert_dtype(cosmos_nn::burn::tensor::DType::F32)
        .try_into_vec()
        .map_err(|e| format!("{}: {e:?}", path.display()))?;
    Ok(Tensor::from_data(
        TensorData::new(values, [1, l, d]),
        device,
    ))
}

/// The T5 embeddings of `prompt` as the reference's AR Video2World pipeline makes them: T5
/// tokenization padded to 512 tokens, encoded on `device`, zero past the prompt's length.
fn encode_prompt(prompt: &str, folder: &Path, device: &Device) -> Result<Tensor<3>, BoxError> {
    let encoder = cosmos_text::TextEncoder::from_pretrained(folder, device)
        .map_err(|e| format!("text encoder {}: {e}", folder.display()))?;
    let embedded = encoder.encode(&[prompt], device)?;
    for warning in &embedded.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(embedded.embeddings)
}

/// Where the text encoder is: --text-encoder, else the model folder's text_encoder/.
fn text_encoder_folder(args: &ArGenerateArgs) -> Result<PathBuf, BoxError> {
    if let Some(dir) = &args.text_encoder {
        return Ok(dir.clone());
    }
    let folder = Path::new(&args.model).join("text_encoder");
    if folder.join("config.json").is_file() {
        return Ok(folder);
    }
    Err(format!(
        "--prompt needs the T5 text encoder: give --text-encoder DIR (a T5 folder with \
         config.json, spiece.model and weights, e.g. google-t5/t5-11b) or put it in \
         {}/text_encoder/",
        args.model
    )
    .into())
}

/// A file of the model folder, when `--model` is one.
fn in_model_folder(args: &ArGenerateArgs, names: &[&str]) -> Option<PathBuf> {
    let dir = Path::new(&args.model);
    dir.is_dir()
        .then(|| names.iter().map(|n| dir.join(n)).find(|p| p.exists()))
        .flatten()
}

/// The diffusion decoder behind the AR pipeline's hook.
struct DecoderHook<'a> {
    decoder: &'a TokenDecoder,
    bar: &'a ProgressBar,
}

fn decoder_error(e: cosmos_diffusion::Error) -> cosmos_ar::Error {
    cosmos_ar::Error::Stage {
        stage: "diffusion decoder".into(),
        message: e.to_string(),
    }
}

impl cosmos_ar::DiffusionDecoder for DecoderHook<'_> {
    fn latents_from_tokens(
        &self,
        indices: Tensor<4, Int>,
        context: Option<&Tensor<3>>,
    ) -> cosmos_ar::Result<Tensor<5>> {
        self.bar.set_position(0);
        self.bar.set_message("diffusion decoder steps");
        self.decoder
            .latents_from_tokens(indices, context, &mut |step| {
                self.bar.set_length(step.total as u64);
                self.bar.set_position(step.done as u64);
            })
            .map_err(decoder_error)
    }

    fn decode_latents(&self, latents: Tensor<5>) -> cosmos_ar::Result<Tensor<5>> {
        self.decoder.decode_latents(latents).map_err(decoder_error)
    }
}

/// Loads the diffusion decoder folder: the network, its continuous tokenizer, the generic
/// prompt and the settings (steps from the command line, the seed of the run).
fn load_decoder(
    args: &ArGenerateArgs,
    dir: &Path,
    token_spatial_compression: usize,
    has_prompt: bool,
    device: &Device,
) -> Result<TokenDecoder, BoxError> {
    let files = DecoderFiles::find(dir)?;
    let (_, mut settings) = files.read_config()?;
    if let Some(steps) = args.diffusion_decoder_steps {
        if steps == 0 {
            return Err("--diffusion-decoder-steps must be at least 1".into());
        }
        settings.steps = steps;
    }
    settings.seed = args.seed;
    settings.token_spatial_compression = token_spatial_compression;
    let generic = files.generic_context(device)?;
    if generic.is_none() && !has_prompt {
        return Err(format!(
            "{}: the diffusion decoder needs text embeddings: this model has no prompt and the \
             folder has no aux_vars.pt (the generic prompt's embeddings)",
            dir.display()
        )
        .into());
    }
    let net = files.load_network(device)?;
    let tokenizer =
        cosmos_diffusion::pretrained::load_video_tokenizer_at(&files.tokenizer, device)?;
    let mut decoder = TokenDecoder::new(net, Box::new(tokenizer), settings)?;
    decoder.generic_context = generic;
    Ok(decoder)
}

/// Runs the command; returns the exit code (0, or 3 when the guardrail blocks the prompt).
pub fn run(args: &ArGenerateArgs, device: &Device) -> Result<i32, BoxError> {
    let config = load_config(&args.model)?;
    // Cheap checks and inputs first, the (possibly large) networks last.
    if let Some(prompt) = &args.prompt {
        if prompt.trim().is_empty() {
            return Err("--prompt is empty".into());
        }
        if !config.insert_cross_attn {
            return Err(
                "this model has no cross-attention (a base model): it takes no --prompt; use a \
                 Video2World model (5b-video2world, 13b-video2world)"
                    .into(),
            );
        }
        let blocklist = match &args.blocklist {
            Some(dir) => Blocklist::from_dir(dir)?,
            None => Blocklist::builtin(),
        };
        if let Verdict::Unsafe { reason, .. } = blocklist.check_prompt(prompt)? {
            eprintln!("blocked: {reason}");
            return Ok(super::guard::EXIT_BLOCKED);
        }
    }
    let text_encoder = match &args.prompt {
        Some(_) => Some(text_encoder_folder(args)?),
        None => None,
    };
    let has_text = args.prompt.is_some() || args.prompt_embeddings.is_some();
    match (has_text, config.insert_cross_attn) {
        (false, true) => {
            return Err("this is a Video2World model: give --prompt (or --prompt-embeddings, the prompt's T5 embeddings)".into());
        }
        (true, false) => {
            return Err("this model takes no text: drop --prompt-embeddings".into());
        }
        _ => {}
    }
    let tokenizer_path = match (
        args.tokenizer.clone(),
        in_model_folder(args, &["tokenizer"]),
    ) {
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) => {
            return Err(
                "give --tokenizer (the DV tokenizer) or a model folder with tokenizer/".into(),
            );
        }
    };
    let checkpoint = match (&args.checkpoint, args.random_weights) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => None,
        (None, false) => Some(
            in_model_folder(args, &["model.pt", "model.safetensors"]).ok_or(
                "give --checkpoint (or a model folder with model.pt), or --random-weights",
            )?,
        ),
    };
    let tokenizer = load_discrete_video_tokenizer(&tokenizer_path, device)?;
    let [_, h, w] = config
        .latent_shape()
        .ok_or("the model config has no video_latent_shape")?;
    let s = tokenizer.spatial_compression();

    let frames = read_frames(&args.input, args.num_input_frames.max(1))?;
    let frames = resize_and_crop(&frames, h * s, w * s)?;
    let n_frames = frames.len_of(Axis(0));
    let num_input_frames = if n_frames == 1 {
        1
    } else {
        args.num_input_frames
    };
    let k = tokenizer.temporal_compression();
    if num_input_frames == 0 || (num_input_frames - 1) % k != 0 || num_input_frames > n_frames {
        return Err(format!(
            "--num-input-frames must be 1 + m·{k} (this tokenizer's temporal compression) and at most the input's {n_frames} frames, found {num_input_frames}"
        )
        .into());
    }
    let video = cosmos_media::frames_to_model(frames.view())?;
    let shape = video.shape().to_vec();
    let (values, _) = video.into_raw_vec_and_offset();
    let video = Tensor::<5>::from_data(
        TensorData::new(values, [1, shape[0], shape[1], shape[2], shape[3]]),
        device,
    );

    let actions = match &args.actions {
        Some(path) => Some(read_actions(path, &args.action_field)?),
        None => None,
    };

    // One large network at a time where possible: T5 is freed once the prompt is encoded.
    let context = match (&args.prompt, &text_encoder, &args.prompt_embeddings) {
        (Some(prompt), Some(folder), _) => Some(encode_prompt(prompt, folder, device)?),
        (_, _, Some(path)) => Some(read_embeddings(path, device)?),
        _ => None,
    };
    let decoder = match &args.diffusion_decoder {
        Some(dir) => Some(load_decoder(args, dir, s, has_text, device)?),
        None => None,
    };
    let model: ArTransformer = match &checkpoint {
        Some(path) => cosmos_ar::checkpoint::load(&config, path, device)?,
        None => {
            let mut model = config.init(device)?;
            model.prepare_for_decoding();
            model
        }
    };
    let sampling = SamplingConfig {
        temperature: args.temperature,
        top_p: args.top_k.is_none().then_some(args.top_p),
        top_k: args.top_k,
        seed: args.seed,
    };
    let (model, embedding_offsets) = match (actions, &args.action_projection) {
        (Some(rows), Some(projection)) => {
            let conditioned =
                ConditionedAr::new(model, None)?.with_action_projection_file(projection)?;
            let layout = VideoTokenLayout::from_config(&config)?;
            let t = layout.latent_shape[0];
            let clip_frames = 1 + (t - 1) * k;
            let grouped = latent_frame_vectors(&rows, clip_frames, k).map_err(|e| {
                format!("--actions: the {clip_frames}-frame clip needs an action after each frame but the last: {e}")
            })?;
            let width = grouped.len() / t;
            let expected = conditioned.action_dim().unwrap_or(0);
            if width != expected {
                return Err(format!(
                    "--actions: {} values per frame make {width} per latent frame ({k} frames), but the projection takes {expected}",
                    rows.first().map_or(0, Vec::len)
                )
                .into());
            }
            let actions = Tensor::<3>::from_data(TensorData::new(grouped, [1, t, width]), device);
            let sequence = usize::from(layout.begin_of_video.is_some()) + t * h * w;
            let offsets = conditioned.action_offsets(Some(actions), &layout, sequence - 1)?;
            (conditioned.model, offsets)
        }
        _ => (model, None),
    };
    let input = WorldInput {
        video,
        num_input_frames,
        context,
        context_mask: None,
        embedding_offsets,
    };
    let bar = ProgressBar::new(0);
    let hook = decoder
        .as_ref()
        .map(|decoder| DecoderHook { decoder, bar: &bar });
    let pipeline = Video2World {
        model: &model,
        tokenizer: &tokenizer as &dyn VideoTokenizer,
        diffusion_decoder: hook.as_ref().map(|h| h as &dyn cosmos_ar::DiffusionDecoder),
    };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .map_err(|e| e.to_string())?,
    );
    bar.set_message("generating tokens");
    let output = pipeline.generate(&input, &sampling, &mut |p| {
        bar.set_message("generating tokens");
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
    })?;
    bar.finish_and_clear();
    let g = &output.generation;
    eprintln!(
        "generated {} tokens: prefill {:.2} s, decode {:.1} tokens/s",
        g.tokens.first().map_or(0, Vec::len),
        g.prefill_seconds,
        g.decode_tokens_per_second()
    );

    let [_, c, t, vh, vw] = output.video.dims();
    let values: Vec<f32> = output
        .video
        .narrow(0, 0, 1)
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .map_err(|e| format!("decoded video: {e:?}"))?;
    let video = ndarray::Array4::from_shape_vec((c, t, vh, vw), values)?;
    let frames = cosmos_media::model_to_frames(video.view())?;
    let clip = cosmos_media::Video::new(frames, args.fps)?;
    cosmos_media::write_video(&args.output, &clip, &cosmos_media::WriteOptions::default())?;
    println!("{}", args.output.display());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy AR network over the 64 000 FSQ indices of the DV4×8×8 test tokenizer: a
    /// `[3, 4, 4]` grid is a 9-frame 32×32 clip.
    const TOY_CONFIG: &str = r#"{"config": {
        "dim": 32, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "vocab_size": 64000,
        "ffn_hidden_size": 64, "max_seq_len": 64, "use_qk_normalization": true,
        "rope_dim": "3D", "video_latent_shape": [3, 4, 4], "pad_to_multiple_of": 64,
        "apply_abs_pos_emb": true, "precision": "float32"
    }}"#;

    fn args(dir: &Path) -> ArGenerateArgs {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
        ArGenerateArgs {
            model: dir.join("toy.json").display().to_string(),
            checkpoint: None,
            random_weights: true,
            tokenizer: Some(format!("{root}/parity/tokenizer/dv4x8x8_small.safetensors").into()),
            input: format!("{root}/media/bikes.mp4").into(),
            num_input_frames: 5,
            prompt: None,
            text_encoder: None,
            blocklist: None,
            prompt_embeddings: None,
            diffusion_decoder: None,
            diffusion_decoder_steps: None,
            temperature: 1.0,
            top_p: 0.8,
            top_k: None,
            seed: 7,
            output: dir.join("out.mp4"),
            fps: 25.0,
            actions: None,
            action_projection: None,
            action_field: "actions".into(),
        }
    }

    #[test]
    fn toy_video_continuation_runs_end_to_end_to_mp4() {
        let dir = std::env::temp_dir().join(format!("cosmos-generate-ar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("toy.json"), TOY_CONFIG).unwrap();
        let device = cosmos_nn::burn::tensor::Device::flex();
        let args = args(&dir);
        run(&args, &device).unwrap();
        let video =
            cosmos_media::read_video(&args.output, &cosmos_media::ReadOptions::default()).unwrap();
        // 1 + (3 − 1)·4 frames at 8× the 4×4 grid; 2 latent frames came from the input.
        assert_eq!(video.frames.dim(), (9, 32, 32, 3));
        assert!((video.fps - 25.0).abs() < 1e-6);

        // Typed errors reach the command line.
        let no_weights = ArGenerateArgs {
            random_weights: false,
            ..self::args(&dir)
        };
        assert!(run(&no_weights, &device).is_err());
        let bad_frames = ArGenerateArgs {
            num_input_frames: 3,
            ..self::args(&dir)
        };
        let err = run(&bad_frames, &device).unwrap_err().to_string();
        assert!(err.contains("--num-input-frames"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
