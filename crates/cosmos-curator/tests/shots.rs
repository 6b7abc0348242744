//! Shot detection on real video against PySceneDetect's reference cut list.

mod common;

use cosmos_curator::shot::{detection_read_options, pyscenedetect_read_options};
use cosmos_curator::{
    AdaptiveDetector, AdaptiveDetectorConfig, ContentDetector, ContentDetectorConfig, ShotDetector,
    detect_shots, detect_shots_with,
};
use cosmos_media::{ReadOptions, SkipLoopFilter};

/// `[[start, end], ...]` from testdata/media/bikes.pyscenedetect.json.
fn reference_scenes() -> Vec<(u64, u64)> {
    let text = std::fs::read_to_string(common::media("bikes.pyscenedetect.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["scenes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s[0].as_u64().unwrap(), s[1].as_u64().unwrap()))
        .collect()
}

fn assert_within_one_frame(found: &[(u64, u64)], expected: &[(u64, u64)]) {
    assert_eq!(
        found.len(),
        expected.len(),
        "found {found:?}, PySceneDetect {expected:?}"
    );
    for (f, e) in found.iter().zip(expected) {
        assert!(
            f.0.abs_diff(e.0) <= 1 && f.1.abs_diff(e.1) <= 1,
            "found {found:?}, PySceneDetect {expected:?}"
        );
    }
}

#[test]
fn content_detector_matches_pyscenedetect_on_bikes() {
    let expected = reference_scenes();
    assert_eq!(expected.len(), 6, "the reference lists 5 hard cuts");
    let list = detect_shots(common::bikes(), &mut ContentDetector::default()).unwrap();
    assert_eq!(list.frame_count, 250);
    assert_eq!(list.fps, 25.0);
    let found: Vec<(u64, u64)> = list
        .shots
        .iter()
        .map(|s| (s.start_frame, s.end_frame))
        .collect();
    assert_within_one_frame(&found, &expected);
    // Measured: the cut list is identical, not just within one frame.
    assert_eq!(found, expected);
}

/// PySceneDetect's per-frame `content_val` on bikes.mp4, indexed by 0-based frame.
fn reference_scores() -> Vec<(usize, f64)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/bikes.pyscenedetect.stats.csv"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let frame = header.iter().position(|h| *h == "Frame Number").unwrap();
    let score = header.iter().position(|h| *h == "content_val").unwrap();
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (
                fields[frame].parse::<usize>().unwrap() - 1,
                fields[score].parse::<f64>().unwrap(),
            )
        })
        .collect()
}

/// Largest and mean difference of the content detector's scores on bikes.mp4 from
/// PySceneDetect's, decoding with `options`.
fn score_differences(options: &ReadOptions) -> (f64, f64, Vec<f32>) {
    let mut detector = ContentDetector::default();
    detect_shots_with(common::bikes(), &mut detector, options).unwrap();
    let scores = detector.scores().to_vec();
    let reference = reference_scores();
    assert_eq!(reference.len(), 249);
    let differences: Vec<f64> = reference
        .iter()
        .map(|&(i, r)| (f64::from(scores[i]) - r).abs())
        .collect();
    let max = differences.iter().copied().fold(0.0, f64::max);
    let mean = differences.iter().sum::<f64>() / differences.len() as f64;
    (max, mean, scores)
}

/// `detect_shots`' settings with deblocking skipped on non-reference frames only.
fn close_to_pyscenedetect() -> ReadOptions {
    ReadOptions {
        skip_loop_filter: SkipLoopFilter::NonReference,
        ..detection_read_options((1, 1))
    }
}

#[test]
fn content_scores_follow_pyscenedetect_frame_by_frame() {
    // Measured: max 0.88, mean 0.44. The frames are OpenCV's bilinear resize reproduced from the
    // YUV planes (FFmpeg's per-pixel truncations matched on average, not bit for bit), decoded
    // without deblocking on non-reference frames.
    let (max, mean, _) = score_differences(&close_to_pyscenedetect());
    eprintln!("non-reference deblocking skipped: max {max}, mean {mean}");
    assert!(
        max < 1.0 && mean < 0.5,
        "score differences from PySceneDetect: max {max}, mean {mean}"
    );
    // `detect_shots`' own settings skip deblocking on every frame: measured max 2.34, mean 0.66
    // (swscale's fast bilinear filter with the same decoding gave max 1.88, mean 0.27; without
    // deblocking skipped, max 2.53), and every cut still scores far above the threshold.
    let (max, mean, scores) = score_differences(&detection_read_options((1, 1)));
    eprintln!("detection_read_options: max {max}, mean {mean}");
    assert!(
        max < 2.5 && mean < 0.75,
        "score differences from PySceneDetect: max {max}, mean {mean}"
    );
    for cut in [30usize, 76, 137, 187, 242] {
        assert!(scores[cut] >= 27.0, "frame {cut}: score {}", scores[cut]);
    }
}

#[test]
fn pyscenedetect_decoding_reproduces_its_scores_exactly() {
    // OpenCV's frames (full-size swscale BGR, its bilinear resize bit for bit) and OpenCV's HSV:
    // every score equals PySceneDetect's statistics file up to float printing.
    let (max, mean, scores) = score_differences(&pyscenedetect_read_options((1, 1)));
    eprintln!("pyscenedetect_read_options: max {max:e}, mean {mean:e}");
    assert!(
        max < 1e-4,
        "score differences from PySceneDetect: max {max}, mean {mean}"
    );
    assert_eq!(scores[0], 0.0);
    // Both detectors give PySceneDetect's cut list, the adaptive one included (its ratio at frame
    // 76 is 3.147 there, for a threshold of 3).
    for detector in [
        Box::new(ContentDetector::default()) as Box<dyn ShotDetector>,
        Box::new(AdaptiveDetector::new(AdaptiveDetectorConfig::default()).unwrap()),
    ] {
        let mut detector = detector;
        let list = detect_shots_with(
            common::bikes(),
            detector.as_mut(),
            &pyscenedetect_read_options((1, 1)),
        )
        .unwrap();
        let found: Vec<(u64, u64)> = list
            .shots
            .iter()
            .map(|s| (s.start_frame, s.end_frame))
            .collect();
        assert_eq!(found, reference_scenes(), "{}", detector.name());
    }
}

#[test]
fn adaptive_detector_finds_the_same_cuts() {
    // The cut at frame 76 is on the adaptive threshold's edge: PySceneDetect's own adaptive
    // ratio there is 3.15 for a threshold of 3; ours is 3.07 with these settings and 2.96 with
    // deblocking skipped on every frame (`detect_shots`' default), which misses it.
    let mut detector = AdaptiveDetector::new(AdaptiveDetectorConfig::default()).unwrap();
    let list =
        detect_shots_with(common::bikes(), &mut detector, &close_to_pyscenedetect()).unwrap();
    let found: Vec<(u64, u64)> = list
        .shots
        .iter()
        .map(|s| (s.start_frame, s.end_frame))
        .collect();
    assert_within_one_frame(&found, &reference_scenes());
}

#[test]
fn a_single_shot_has_no_cut() {
    for detector in [
        Box::new(ContentDetector::default()) as Box<dyn ShotDetector>,
        Box::new(AdaptiveDetector::new(AdaptiveDetectorConfig::default()).unwrap()),
    ] {
        let mut detector = detector;
        let list = detect_shots(common::carphone(), detector.as_mut()).unwrap();
        assert_eq!(list.frame_count, 120);
        assert_eq!(list.shots.len(), 1, "{}: {:?}", detector.name(), list.shots);
        assert_eq!(
            (list.shots[0].start_frame, list.shots[0].end_frame),
            (0, 120)
        );
    }
}

#[test]
fn a_higher_threshold_keeps_only_the_hardest_cuts_and_luma_only_works() {
    let config = ContentDetectorConfig {
        threshold: 1000.0,
        ..ContentDetectorConfig::default()
    };
    let list = detect_shots(common::bikes(), &mut ContentDetector::new(config).unwrap()).unwrap();
    assert_eq!(list.shots.len(), 1);
    let luma = ContentDetectorConfig {
        weights: cosmos_curator::shot::ComponentWeights::LUMA_ONLY,
        ..ContentDetectorConfig::default()
    };
    let list = detect_shots(common::bikes(), &mut ContentDetector::new(luma).unwrap()).unwrap();
    let cuts: Vec<u64> = list.shots.iter().skip(1).map(|s| s.start_frame).collect();
    assert!(
        cuts.iter().all(|c| [30, 76, 137, 187, 242]
            .iter()
            .any(|r: &u64| r.abs_diff(*c) <= 1)),
        "{cuts:?}"
    );
}

#[test]
fn unreadable_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.mp4");
    std::fs::write(&garbage, b"this is not a video").unwrap();
    assert!(detect_shots(&garbage, &mut ContentDetector::default()).is_err());
    let bytes = std::fs::read(common::bikes()).unwrap();
    let truncated = dir.path().join("truncated.mp4");
    std::fs::write(&truncated, &bytes[..bytes.len() / 5]).unwrap();
    assert!(detect_shots(&truncated, &mut ContentDetector::default()).is_err());
    assert!(
        detect_shots(
            dir.path().join("missing.mp4"),
            &mut ContentDetector::default()
        )
        .is_err()
    );
}
