//! Curates a folder of videos into webdataset shards and a manifest, printing a progress line
//! per stage and the summary.
//!
//! ```text
//! cargo run --release -p cosmos-curator --example curate_folder -- [FOLDER] [OUT]
//! ```
//!
//! FOLDER defaults to testdata/media (bikes.mp4: 6 shots, 3 long enough; carphone_pristine.mp4:
//! one shot), OUT to a fresh folder under the system's temporary folder. Captions are taken from
//! sidecar files (VIDEO.srt, VIDEO.vtt, VIDEO.captions.json or VIDEO.txt) when present.

use std::path::PathBuf;
use std::time::Instant;

use cosmos_curator::progress::{Progress, Stage};
use cosmos_curator::{CaptionConfig, CurateConfig, Curator, ShardSpec};

/// Prints when a stage finishes.
struct PrintProgress;

impl Progress for PrintProgress {
    fn finish(&self, stage: Stage) {
        println!("  {} done", stage.name());
    }

    fn message(&self, text: &str) {
        println!("  {text}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let folder = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/media"))
    });
    if folder.to_str() == Some("--help") {
        println!("usage: curate_folder [FOLDER] [OUT]");
        return Ok(());
    }
    let out = args.next().map(PathBuf::from).unwrap_or_else(|| {
        std::env::temp_dir().join(format!("cosmos-curate-example-{}", std::process::id()))
    });

    let mut config = CurateConfig {
        captions: CaptionConfig::Sidecar,
        ..CurateConfig::default()
    };
    config.encode.preset = "veryfast".into();
    println!("curating {} into {}", folder.display(), out.display());
    let started = Instant::now();
    let summary = Curator::new(config)?
        .with_progress(Box::new(PrintProgress))
        .run(&[folder], &out, ShardSpec::default())?;
    print!("{summary}");
    for shard in &summary.shards {
        println!("shard {}", out.join(shard).display());
    }
    println!("curated in {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}
