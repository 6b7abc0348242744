//! `cosmos world`: the built-in physics world as a stand-in robot dataset, and the shipped
//! world model as a world-model folder.
//!
//! - `cosmos world episodes --count N --out DIR [--seed S]` writes `DIR/episode_K.mp4` and
//!   `DIR/episode_K.actions.json` (a JSON array, one action vector per frame: action `t` acts
//!   between frame `t` and `t + 1`) for K = 0..N.
//! - `cosmos world model --out DIR` writes the shipped world model in the folder format that
//!   `WorldModel::load`, `cosmos generate --model` and `cosmos train dit --model` read.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use cosmos_posttrain::world::{WorldConfig, episode};
use cosmos_posttrain::world_model::WorldModel;

/// Arguments of `cosmos world`.
#[derive(Args, Debug)]
pub struct WorldArgs {
    #[command(subcommand)]
    pub command: WorldCommand,
}

/// What `cosmos world` does.
#[derive(Subcommand, Debug)]
pub enum WorldCommand {
    /// Write episodes of the built-in physics world: `episode_K.mp4` + `episode_K.actions.json`.
    Episodes(EpisodesArgs),
    /// Export the shipped world model as a world-model folder (config.json, model.safetensors,
    /// tokenizer/).
    Model(ModelArgs),
}

/// Arguments of `cosmos world episodes`.
#[derive(Args, Debug)]
pub struct EpisodesArgs {
    /// Number of episodes.
    #[arg(long)]
    pub count: usize,
    /// Output folder (created if needed).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of episode 0; episode K uses seed S + K.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Frames per episode (at 8 fps; curation keeps clips of 2 s and more).
    #[arg(long, default_value_t = 64)]
    pub frames: usize,
}

/// Arguments of `cosmos world model`.
#[derive(Args, Debug)]
pub struct ModelArgs {
    /// Output folder (created if needed).
    #[arg(long)]
    pub out: PathBuf,
}

type BoxError = Box<dyn std::error::Error>;

/// Frame rate of the world's episodes (the world model's time step).
pub const WORLD_FPS: f64 = 8.0;

/// Runs `cosmos world`.
pub fn run(args: &WorldArgs) -> Result<(), BoxError> {
    match &args.command {
        WorldCommand::Episodes(a) => episodes(a),
        WorldCommand::Model(a) => {
            WorldModel::export_shipped(&a.out)?;
            println!(
                "wrote the shipped world model to {} (config.json, model.safetensors, tokenizer/)",
                a.out.display()
            );
            Ok(())
        }
    }
}

fn episodes(args: &EpisodesArgs) -> Result<(), BoxError> {
    if args.count == 0 {
        return Err("--count must be at least 1".into());
    }
    if args.frames < 2 {
        return Err(format!("--frames must be at least 2, found {}", args.frames).into());
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("{}: cannot create the folder: {e}", args.out.display()))?;
    let world = WorldConfig::default();
    for k in 0..args.count {
        let seed = args.seed + k as u64;
        let e = episode(&world, seed, args.frames);
        let video = args.out.join(format!("episode_{k}.mp4"));
        write_frames(&video, e.frames, WORLD_FPS)?;
        let actions: Vec<Vec<f32>> = e.actions.iter().map(|a| a.to_vector(world.balls)).collect();
        let path = args.out.join(format!("episode_{k}.actions.json"));
        std::fs::write(&path, serde_json::to_string(&actions)? + "\n")
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!(
        "wrote {} episodes of {} frames ({} fps, action vectors of {}) to {}",
        args.count,
        args.frames,
        WORLD_FPS,
        cosmos_posttrain::world::Action::dim(world.balls),
        args.out.display()
    );
    Ok(())
}

/// Writes `[T, H, W, 3]` frames as an H.264 MP4.
pub fn write_frames(path: &Path, frames: ndarray::Array4<u8>, fps: f64) -> Result<(), BoxError> {
    let video = cosmos_media::Video::new(frames, fps)?;
    cosmos_media::write_video(path, &video, &cosmos_media::WriteOptions::default())?;
    Ok(())
}

/// Reads a JSON array of action vectors (`[[f32; dim], ...]`).
pub fn read_actions(path: &Path) -> Result<Vec<Vec<f32>>, BoxError> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let actions: Vec<Vec<f32>> = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: expected a JSON array of action vectors (one per frame): {e}",
            path.display()
        )
    })?;
    if let Some((k, _)) = actions
        .iter()
        .enumerate()
        .find(|(_, a)| a.iter().any(|v| !v.is_finite()))
    {
        return Err(format!(
            "{}: action {k} holds a value that is not finite",
            path.display()
        )
        .into());
    }
    Ok(actions)
}
