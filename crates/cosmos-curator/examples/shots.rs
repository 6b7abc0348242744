//! Shots of one video with the content and adaptive detectors, and how long detection takes
//! (decoding included; fastest and median of RUNS runs after a warm-up).
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
    for mut detector in detectors {
        let list = detect_shots(&path, detector.as_mut())?;
        let mut times = Vec::new();
        for _ in 0..runs {
            let start = Instant::now();
            detect_shots(&path, detector.as_mut())?;
            times.push(start.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let shots: Vec<_> = list
            .shots
            .iter()
            .map(|s| (s.start_frame, s.end_frame))
            .collect();
        println!(
            "{}: {} frames, shots {shots:?}; min {:.1} ms, median {:.1} ms",
            detector.name(),
            list.frame_count,
            times[0] * 1e3,
            times[times.len() / 2] * 1e3
        );
    }
    Ok(())
}
