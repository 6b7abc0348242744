//! Shots of one video with the content and adaptive detectors, and how long detection takes
//! (decoding included; fastest and median of RUNS runs after a warm-up, and the CPU time the
//! process used per run, all threads together, on Linux).
//!
//! ```text
//! cargo run --release -p cosmos-curator --example shots -- [VIDEO] [RUNS]
//! ```
//!
//! VIDEO defaults to testdata/media/bikes.mp4, RUNS to 7.
use std::time::Instant;

use cosmos_curator::{
    AdaptiveDetector, AdaptiveDetectorConfig, ContentDetector, ShotDetector, detect_shots,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().filter(|a| a != "--help").unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/media/bikes.mp4"
        )
        .to_string()
    });
    let runs: usize = args
        .next()
        .map(|r| r.parse())
        .transpose()?
        .unwrap_or(7)
        .max(1);
    let detectors: Vec<Box<dyn ShotDetector>> = vec![
        Box::new(ContentDetector::default()),
        Box::new(AdaptiveDetector::new(AdaptiveDetectorConfig::default())?),
    ];
    let info = cosmos_media::probe(&path)?;
    let segments = cosmos_media::keyframes(&path)?.len();
    println!(
        "{path}: {}x{}, {:?} frames, {segments} keyframes in the index",
        info.width, info.height, info.frames
    );
    for mut detector in detectors {
        let list = detect_shots(&path, detector.as_mut())?;
        let mut times = Vec::new();
        let cpu_before = cpu_seconds();
        for _ in 0..runs {
            let start = Instant::now();
            detect_shots(&path, detector.as_mut())?;
            times.push(start.elapsed().as_secs_f64());
        }
        let cpu = match (cpu_before, cpu_seconds()) {
            (Some(before), Some(after)) => {
                format!(
                    ", CPU {:.1} ms per run",
                    (after - before) / runs as f64 * 1e3
                )
            }
            _ => String::new(),
        };
        times.sort_by(f64::total_cmp);
        let shots: Vec<_> = list
            .shots
            .iter()
            .map(|s| (s.start_frame, s.end_frame))
            .collect();
        println!(
            "{}: {} frames, shots {shots:?}; min {:.1} ms, median {:.1} ms{cpu}",
            detector.name(),
            list.frame_count,
            times[0] * 1e3,
            times[times.len() / 2] * 1e3
        );
    }
    Ok(())
}

/// User + system CPU time of this process so far (Linux: /proc/self/stat, in clock ticks of
/// 1/100 s), `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / 100.0)
}
