//! `cosmos guard`: the guardrail on its own. `text` checks a prompt against the blocklist;
//! `video` pixelates the faces of a video file.

use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Subcommand, ValueEnum};
use cosmos_guardrail::media::pixelate_video_file;
use cosmos_guardrail::{
    Blocklist, FaceDetector, FacePixelator, Mtcnn, RetinaFaceDetector, TextGuard, Verdict,
};
use cosmos_nn::burn::tensor::Device;

/// Exit code of `cosmos guard text` for a blocked prompt.
pub const EXIT_BLOCKED: i32 = 3;

const TEXT_HELP: &str = "\
Checks a prompt with the blocklist (the pre-generation guard). Without --blocklist the small list
compiled into cosmos-guardrail is used. A blocklist folder is laid out like the reference's
(guardrail/blocklist/ of the Cosmos checkpoints): custom/*.txt, exact_match/*.txt and
whitelist/*.txt, one keyword or phrase per line (UTF-8, '#' starts a comment line).

Matching folds look-alike and full-width letters, accents and invisible characters, reads
leetspeak (b0mb, k!ll, a$$), joins spaced or hyphenated letters (b o m b, b-o-m-b), matches
inflections (bombs, massacred) and phrases across any spacing, and never matches inside a longer
innocent word (Scunthorpe, class, therapist). An empty prompt is refused.

Exit status: 0 safe, 3 blocked (the rule that fired is printed), 2 error.";

const VIDEO_HELP: &str = "\
Pixelates every face of at least 20x20 pixels (5x5 blocks, as the reference's face blur filter)
and writes an H.264 MP4 with the same frame count and frame rate. The default detector is MTCNN
with the weights shipped in cosmos-guardrail; --detector retinaface uses the reference's
RetinaFace ResNet-50 and needs --retinaface-weights Resnet50_Final.pth.

--faces-json writes {\"frames\": [{\"frame\": i, \"boxes\": [[x1, y1, x2, y2], ...], \"scores\": [...],
\"pixelated\": [[x1, y1, x2, y2], ...]}, ...]} with an entry for every frame.

Exit status: 0 done, 2 error.";

/// Arguments of `cosmos guard`.
#[derive(Args, Debug)]
pub struct GuardArgs {
    #[command(subcommand)]
    pub command: GuardCommand,
}

/// The guard subcommands.
#[derive(Subcommand, Debug)]
pub enum GuardCommand {
    /// Check a prompt with the blocklist (exit 0 safe, 3 blocked, 2 error).
    #[command(after_long_help = TEXT_HELP)]
    Text(TextArgs),
    /// Pixelate the faces of a video.
    #[command(after_long_help = VIDEO_HELP)]
    Video(VideoArgs),
}

/// Arguments of `cosmos guard text`.
#[derive(Args, Debug)]
pub struct TextArgs {
    /// Blocklist folder (custom/, exact_match/, whitelist/ of *.txt files).
    #[arg(long, value_name = "DIR")]
    pub blocklist: Option<PathBuf>,
    /// Print every rule that fires, not only the first.
    #[arg(long)]
    pub all: bool,
    /// The prompt; `-` reads it from standard input.
    pub prompt: String,
}

/// Face detectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Detector {
    /// MTCNN with facenet-pytorch's weights (shipped).
    Mtcnn,
    /// RetinaFace ResNet-50 (the reference's; needs --retinaface-weights).
    Retinaface,
}

/// Arguments of `cosmos guard video`.
#[derive(Args, Debug)]
pub struct VideoArgs {
    /// Input video (anything FFmpeg reads).
    pub input: PathBuf,
    /// Output MP4.
    #[arg(long, value_name = "OUTPUT.mp4")]
    pub out: PathBuf,
    /// Also write the faces found, per frame, as JSON.
    #[arg(long, value_name = "FILE")]
    pub faces_json: Option<PathBuf>,
    /// Face detector.
    #[arg(long, value_enum, default_value = "mtcnn")]
    pub detector: Detector,
    /// RetinaFace weights: `Resnet50_Final.pth`, a folder holding it, or a Hugging Face
    /// repository id in the local hub cache.
    #[arg(long, value_name = "FILE")]
    pub retinaface_weights: Option<PathBuf>,
    /// Folder with MTCNN's pnet.pt, rnet.pt, onet.pt, or a Hugging Face repository id in the
    /// local hub cache (default: the weights compiled into the binary).
    #[arg(long, value_name = "DIR")]
    pub mtcnn_weights: Option<PathBuf>,
    /// Frames decoded and processed at a time.
    #[arg(long, default_value_t = 16)]
    pub chunk: usize,
}

type BoxError = Box<dyn std::error::Error>;

/// Runs `cosmos guard`; returns the exit code.
pub fn run(args: &GuardArgs, device: &Device) -> Result<i32, BoxError> {
    match &args.command {
        GuardCommand::Text(a) => run_text(a),
        GuardCommand::Video(a) => run_video(a, device),
    }
}

fn run_text(args: &TextArgs) -> Result<i32, BoxError> {
    let prompt = if args.prompt == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes)?;
        String::from_utf8(bytes).map_err(|e| {
            format!(
                "the prompt on standard input is not valid UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            )
        })?
    } else {
        args.prompt.clone()
    };
    let blocklist = match &args.blocklist {
        Some(dir) => Blocklist::from_dir(dir)?,
        None => Blocklist::builtin(),
    };
    if args.all && !prompt.trim().is_empty() {
        let matches = blocklist.find_all(&prompt)?;
        if matches.is_empty() {
            println!("safe");
            return Ok(0);
        }
        for m in &matches {
            println!("blocked: {m}");
        }
        return Ok(EXIT_BLOCKED);
    }
    match blocklist.check_prompt(&prompt)? {
        Verdict::Safe => {
            println!("safe");
            Ok(0)
        }
        Verdict::Unsafe { reason, .. } => {
            println!("blocked: {reason}");
            Ok(EXIT_BLOCKED)
        }
    }
}

fn run_video(args: &VideoArgs, device: &Device) -> Result<i32, BoxError> {
    let detector: Box<dyn FaceDetector> = match args.detector {
        Detector::Mtcnn => Box::new(match &args.mtcnn_weights {
            Some(dir) => Mtcnn::from_dir(dir, device)?,
            None => Mtcnn::bundled(device)?,
        }),
        Detector::Retinaface => {
            let weights = args.retinaface_weights.as_ref().ok_or(
                "--detector retinaface needs --retinaface-weights (the reference's Resnet50_Final.pth)",
            )?;
            // A folder (a Hugging Face snapshot, say) holds the reference's file name.
            let file = if weights.is_dir() {
                weights.join("Resnet50_Final.pth")
            } else {
                weights.clone()
            };
            Box::new(RetinaFaceDetector::from_file(&file, device)?)
        }
    };
    let start = Instant::now();
    let pixelator = FacePixelator::new(detector);
    let report = pixelate_video_file(&args.input, &args.out, &pixelator, args.chunk)?;
    if let Some(path) = &args.faces_json {
        std::fs::write(path, report.to_json_string())
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let pixelated: usize = report.regions.iter().map(Vec::len).sum();
    println!(
        "{}: {} frames at {:.3} fps, {} faces found ({} pixelated) in {} frames with {} -> {} ({:.1} s)",
        args.input.display(),
        report.frame_count,
        report.fps,
        report.face_count(),
        pixelated,
        report.frames_with_faces(),
        report.detector,
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(0)
}
