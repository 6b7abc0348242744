//! Shot detection speed: PySceneDetect's ContentDetector algorithm (and its adaptive variant) over
//! a whole video, decoding included, against decoding alone at the same frame size.
//!
//! ```text
//! cargo bench -p cosmos-curator --bench shot_detection
//! COSMOS_BENCH_VIDEOS=/path/bigbuckbunny.mp4:/path/other.mp4 \
//!     cargo bench -p cosmos-curator --bench shot_detection
//! ```
//!
//! The default video is testdata/media/bikes.mp4 (250 frames, 640x272, 5 cuts, a keyframe at
//! each cut, so its 6 segments decode in parallel). PySceneDetect 0.7.2
//! (`detect(path, ContentDetector())`) takes 0.175 s on it on the idle 2-core machine these
//! figures are kept for (docs/performance.md, Curator section). `decode_only` decodes the file the
//! way `detect_shots` does (same size, filter and segments) without scoring: the floor any
//! detector on these frames pays.

use std::path::PathBuf;
use std::time::Duration;

use cosmos_curator::shot::{ANALYSIS_LONG_SIDE, content_frame_size, detection_read_options};
use cosmos_curator::{AdaptiveDetector, AdaptiveDetectorConfig, ContentDetector, detect_shots};
use criterion::{Criterion, criterion_group, criterion_main};

fn videos() -> Vec<PathBuf> {
    let mut videos = vec![PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/media/bikes.mp4"
    ))];
    if let Ok(extra) = std::env::var("COSMOS_BENCH_VIDEOS") {
        videos.extend(
            extra
                .split(':')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
        );
    }
    videos
}

fn shot_detection(c: &mut Criterion) {
    let mut group = c.benchmark_group("shot_detection");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    for video in videos() {
        let name = video
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let shots = detect_shots(&video, &mut ContentDetector::default())
            .expect("readable benchmark video");
        eprintln!(
            "{name}: {} frames, {} shots",
            shots.frame_count,
            shots.shots.len()
        );
        group.bench_function(format!("content/{name}"), |b| {
            let mut detector = ContentDetector::default();
            b.iter(|| detect_shots(&video, &mut detector).expect("detect"));
        });
        group.bench_function(format!("adaptive/{name}"), |b| {
            let mut detector =
                AdaptiveDetector::new(AdaptiveDetectorConfig::default()).expect("config");
            b.iter(|| detect_shots(&video, &mut detector).expect("detect"));
        });
        group.bench_function(format!("decode_only/{name}"), |b| {
            b.iter(|| {
                let reader = cosmos_media::ParallelFrameReader::open_with(
                    &video,
                    &detection_read_options((1, 1)),
                    |info| {
                        Some(content_frame_size(
                            info.width,
                            info.height,
                            ANALYSIS_LONG_SIDE,
                        ))
                    },
                )
                .expect("open");
                reader.count()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, shot_detection);
criterion_main!(benches);
