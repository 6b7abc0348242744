//! Filters on real footage and on videos with a known property: camera motion made by moving a
//! crop window over a real photo, burned-in subtitles drawn on real footage, blur, exposure, a
//! flat-shaded cartoon, and a re-encoded copy for deduplication.

mod common;

use std::path::Path;

use cosmos_curator::ContentDetector;
use cosmos_curator::analysis::{VideoAnalysis, analyse_video};
use cosmos_curator::clips::ClipContext;
use cosmos_curator::embed::{ClipEmbedder, FrameHashEmbedder, cosine_distance, normalise};
use cosmos_curator::filters::{
    DropReason, FilterConfig, FilterOutcome, HeuristicTypeClassifier, VideoTypeClassifier, evaluate,
};

fn analyse(path: &Path) -> VideoAnalysis {
    analyse_video(path, &mut ContentDetector::default(), &mut |_| {}).expect("analysis")
}

/// The filters' verdict on frames `[start, end)` (the whole video when `None`).
fn judge(analysis: &VideoAnalysis, range: Option<(u64, u64)>) -> FilterOutcome {
    let (start, end) = range.unwrap_or((0, analysis.frame_count()));
    let clip = ClipContext {
        key: "k",
        start_frame: start,
        end_frame: end,
        analysis,
    };
    evaluate(
        &clip,
        &FilterConfig::default(),
        None,
        &mut HeuristicTypeClassifier,
    )
    .expect("filters")
}

fn synthetic(name: &str, frames: ndarray::Array4<u8>) -> (tempfile::TempDir, VideoAnalysis) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    common::write(&path, frames);
    let analysis = analyse(&path);
    (dir, analysis)
}

#[test]
fn real_footage_passes_the_default_filters() {
    let bikes = analyse(&common::bikes());
    for (start, end) in [(76, 137), (137, 187), (187, 242)] {
        let outcome = judge(&bikes, Some((start, end)));
        assert!(
            outcome.failed.is_empty(),
            "bikes [{start}, {end}): {outcome:?}"
        );
        assert_eq!(outcome.video_type, "camera");
        assert!(outcome.scores.motion > 0.001, "{outcome:?}");
    }
    let carphone = judge(&analyse(&common::carphone()), None);
    assert!(carphone.failed.is_empty(), "{carphone:?}");
    assert_eq!(carphone.video_type, "camera");
}

#[test]
fn camera_motion_is_measured_and_tagged() {
    let (_d1, still) = synthetic("still.mp4", common::still(60));
    let outcome = judge(&still, None);
    assert_eq!(outcome.failed, vec![DropReason::Static], "{outcome:?}");
    assert_eq!(outcome.tags, vec!["static"]);
    assert!(outcome.scores.motion < 1e-4, "{outcome:?}");

    let (_d2, pan) = synthetic("pan.mp4", common::pan_right(60));
    let outcome = judge(&pan, None);
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert_eq!(outcome.tags, vec!["pan_right"], "{outcome:?}");
    // The window moves 4 of 480 photo pixels per frame: the content moves 1/120 of the width.
    assert!(
        (outcome.scores.pan_x + 1.0 / 120.0).abs() < 0.0015,
        "{outcome:?}"
    );
    assert!(
        outcome.scores.pan_y.abs() < 0.001 && outcome.scores.zoom.abs() < 0.001,
        "{outcome:?}"
    );

    let (_d3, zoom) = synthetic("zoom.mp4", common::zoom_in(60));
    let outcome = judge(&zoom, None);
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert_eq!(outcome.tags, vec!["zoom_in"], "{outcome:?}");
    // The window shrinks 0.8% per frame: the content grows by 1/0.992 - 1 = 0.81% per frame.
    assert!((outcome.scores.zoom - 0.0081).abs() < 0.0015, "{outcome:?}");

    let (_d4, shaky) = synthetic("shaky.mp4", common::shaky(60));
    let outcome = judge(&shaky, None);
    assert_eq!(
        outcome.failed.first(),
        Some(&DropReason::ErraticMotion),
        "{outcome:?}"
    );
    let smooth = judge(&pan, None).scores.motion_jitter;
    assert!(
        outcome.scores.motion_jitter > 5.0 * smooth,
        "{} vs {smooth}",
        outcome.scores.motion_jitter
    );
}

#[test]
fn burned_in_subtitles_are_detected_on_real_footage() {
    let original = analyse(&common::bikes());
    let mut video = cosmos_media::read_video(common::bikes(), &Default::default()).unwrap();
    let height = video.height();
    common::text::burn_text(
        &mut video.frames,
        "HELLO WORLD THIS IS A SUBTITLE",
        2,
        height - 30,
    );
    let (_dir, subtitled) = synthetic("subtitled.mp4", video.frames);
    for (start, end) in [(76, 137), (137, 187), (187, 242)] {
        let clean = judge(&original, Some((start, end)));
        let burned = judge(&subtitled, Some((start, end)));
        assert!(
            !clean.failed.contains(&DropReason::OverlayText),
            "[{start}, {end}) {clean:?}"
        );
        assert!(
            clean.scores.overlay_text < 0.12,
            "[{start}, {end}) {clean:?}"
        );
        assert_eq!(
            burned.failed,
            vec![DropReason::OverlayText],
            "[{start}, {end}) {burned:?}"
        );
        // The subtitle spans 360 of 640 pixels.
        assert!(
            burned.scores.overlay_text > 0.45,
            "[{start}, {end}) {burned:?}"
        );
    }
}

#[test]
fn blur_and_exposure_are_scored() {
    let frames = common::pan_right(60);
    let (_d1, sharp) = synthetic("sharp.mp4", frames.clone());
    let (_d2, blurred) = synthetic("blurred.mp4", common::blur(&frames, 4));
    let (_d3, dark) = synthetic("dark.mp4", common::exposure(&frames, 0.12));
    let (_d4, bright) = synthetic("bright.mp4", common::exposure(&frames, 3.5));
    let sharp = judge(&sharp, None);
    let blurred = judge(&blurred, None);
    assert!(sharp.failed.is_empty(), "{sharp:?}");
    assert!(blurred.failed.contains(&DropReason::Blurry), "{blurred:?}");
    assert!(
        blurred.scores.sharpness < sharp.scores.sharpness / 10.0,
        "{blurred:?} vs {sharp:?}"
    );
    let dark = judge(&dark, None);
    assert!(dark.failed.contains(&DropReason::Underexposed), "{dark:?}");
    let bright = judge(&bright, None);
    assert!(
        bright.failed.contains(&DropReason::Overexposed),
        "{bright:?}"
    );
}

#[test]
fn cartoon_and_camera_footage_are_told_apart() {
    let (_dir, cartoon) = synthetic("cartoon.mp4", common::cartoon(60));
    let clip = ClipContext {
        key: "k",
        start_frame: 0,
        end_frame: cartoon.frame_count(),
        analysis: &cartoon,
    };
    let label = HeuristicTypeClassifier.classify(&clip).unwrap();
    assert_eq!(label.label, "animation", "{label:?}");
    let bikes = analyse(&common::bikes());
    for shot in &bikes.shots {
        let clip = ClipContext {
            key: "k",
            start_frame: shot.start_frame,
            end_frame: shot.end_frame,
            analysis: &bikes,
        };
        let label = HeuristicTypeClassifier.classify(&clip).unwrap();
        assert_ne!(label.label, "animation", "bikes {shot:?}: {label:?}");
    }
    // The type filter drops what it is told to.
    let mut config = FilterConfig::default();
    config.video_type.drop_labels = vec!["animation".into()];
    let outcome = evaluate(&clip, &config, None, &mut HeuristicTypeClassifier).unwrap();
    assert!(
        outcome.failed.contains(&DropReason::VideoType),
        "{outcome:?}"
    );
}

fn embedding(analysis: &VideoAnalysis, start: u64, end: u64) -> Vec<f32> {
    let clip = ClipContext {
        key: "k",
        start_frame: start,
        end_frame: end,
        analysis,
    };
    let mut vector = FrameHashEmbedder.embed(&clip).unwrap();
    normalise(&mut vector);
    vector
}

#[test]
fn frame_hash_embedding_finds_a_rescaled_reencode() {
    let original = analyse(&common::bikes());
    let video = cosmos_media::read_video(
        common::bikes(),
        &cosmos_media::ReadOptions::default().resize(320, 136),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy_path = dir.path().join("copy.mp4");
    let options = cosmos_media::WriteOptions {
        crf: 30,
        preset: "ultrafast".into(),
        ..Default::default()
    };
    cosmos_media::write_video(&copy_path, &video, &options).unwrap();
    let copy = analyse(&copy_path);
    let epsilon = cosmos_curator::dedup::DedupConfig::default().epsilon;
    let shots = [(76, 137), (137, 187), (187, 242)];
    for &(start, end) in &shots {
        let distance = cosine_distance(
            &embedding(&original, start, end),
            &embedding(&copy, start, end),
        );
        assert!(
            distance < epsilon / 4.0,
            "[{start}, {end}): re-encode at {distance}"
        );
        for &(other_start, other_end) in shots.iter().filter(|s| s.0 != start) {
            let distance = cosine_distance(
                &embedding(&original, start, end),
                &embedding(&original, other_start, other_end),
            );
            assert!(
                distance > 3.0 * epsilon,
                "[{start}, {end}) vs [{other_start}, {other_end}): {distance}"
            );
        }
    }
}
