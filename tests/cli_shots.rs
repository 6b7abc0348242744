//! `cosmos shots` against PySceneDetect: on testdata/media/bikes.mp4 the CSV must list exactly
//! the scenes PySceneDetect 0.7.2's `list-scenes` wrote with the same detector settings
//! (testdata/media/bikes.scenedetect-{content,adaptive}.csv, provenance in the README there),
//! `--json` must carry the same cut frames, grey footage must get its cut (PySceneDetect's
//! content detector misses it), and unreadable inputs and bad arguments give the documented exit
//! codes.

mod common;
use common::{cosmos, media, path, text};

/// The cut frames (0-based first frames of scenes 2, 3, ...) of a list-scenes CSV.
fn csv_cuts(csv: &str) -> Vec<u64> {
    csv.lines()
        .skip(2)
        .filter(|l| !l.is_empty())
        .skip(1)
        .map(|line| line.split(',').nth(1).unwrap().parse::<u64>().unwrap() - 1)
        .collect()
}

fn json_cuts(stdout: &[u8]) -> Vec<Vec<u64>> {
    let json: serde_json::Value = serde_json::from_slice(stdout).expect("one JSON object");
    json["videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v["cuts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_u64().unwrap())
                .collect()
        })
        .collect()
}

#[test]
fn csv_equals_pyscenedetect_for_both_detectors() {
    let dir = tempfile::tempdir().unwrap();
    for detector in ["content", "adaptive"] {
        let reference =
            std::fs::read_to_string(media(&format!("bikes.scenedetect-{detector}.csv"))).unwrap();
        let csv = dir.path().join(format!("{detector}.csv"));
        let output = cosmos(&[
            "shots",
            path(&media("bikes.mp4")),
            "--detector",
            detector,
            "--csv",
            path(&csv),
            "--quiet",
        ]);
        assert!(output.status.success(), "{}", text(&output));
        let ours = std::fs::read_to_string(&csv).unwrap();
        assert_eq!(csv_cuts(&reference), vec![30, 76, 137, 187, 242]);
        // The cut frames, and every other column and the header, byte for byte.
        assert_eq!(csv_cuts(&ours), csv_cuts(&reference), "{detector}");
        assert_eq!(ours, reference, "{detector}");
        // The table on stdout lists the same scenes.
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("6 shots in 250 frames"), "{stdout}");
    }
}

#[test]
fn json_output_and_csv_templates() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("street.mp4");
    std::fs::copy(media("bikes.mp4"), &copy).unwrap();
    let output = cosmos(&[
        "shots",
        path(&media("bikes.mp4")),
        path(&copy),
        path(&media("carphone_pristine.mp4")),
        "--json",
        "--csv",
        path(dir.path()),
        "--quiet",
    ]);
    assert!(output.status.success(), "{}", text(&output));
    // One JSON object on stdout: per video its cuts and shots.
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["detector"], "content");
    assert_eq!(
        json_cuts(&output.stdout),
        vec![
            vec![30, 76, 137, 187, 242],
            vec![30, 76, 137, 187, 242],
            vec![]
        ]
    );
    let bikes = &json["videos"][0];
    assert_eq!(bikes["frames"], 250);
    assert_eq!(bikes["fps"], 25.0);
    assert_eq!(bikes["min_scene_len"], 15);
    assert_eq!(bikes["shots"].as_array().unwrap().len(), 6);
    assert_eq!(bikes["shots"][1]["start_frame"], 30);
    assert_eq!(bikes["shots"][1]["end_frame"], 76);
    assert_eq!(bikes["shots"][1]["start_s"], 1.2);
    assert_eq!(json["unreadable"].as_array().unwrap().len(), 0);
    // A folder gets PySceneDetect's file names; a video without cuts gets its blank first row.
    let reference = std::fs::read_to_string(media("bikes.scenedetect-content.csv")).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("street-Scenes.csv")).unwrap(),
        reference
    );
    let single = std::fs::read_to_string(dir.path().join("carphone_pristine-Scenes.csv")).unwrap();
    assert!(single.starts_with("\nScene Number,"), "{single}");
    assert!(
        single
            .ends_with("\n1,1,00:00:00.000,0.000,120,00:00:04.004,4.004,120,00:00:04.004,4.004\n"),
        "{single}"
    );
    // $VIDEO_NAME templates; several videos into one plain file is refused before any work.
    let template = dir.path().join("$VIDEO_NAME.cuts.csv");
    let output = cosmos(&["shots", path(&copy), "--csv", path(&template), "--quiet"]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(dir.path().join("street.cuts.csv").is_file());
    let output = cosmos(&[
        "shots",
        path(&copy),
        path(&media("bikes.mp4")),
        "--csv",
        path(&dir.path().join("one.csv")),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("$VIDEO_NAME"), "{}", text(&output));
}

#[test]
fn settings_change_the_cuts_as_pyscenedetect_would() {
    // Frame 76 scores 43.94 (content) and has an adaptive ratio of 3.147 in PySceneDetect's
    // statistics; thresholds on either side of those keep or drop that cut.
    let run = |flags: &[&str]| {
        let mut args = vec!["shots", "--json", "--quiet"];
        let bikes = media("bikes.mp4");
        args.push(path(&bikes));
        args.extend_from_slice(flags);
        let output = cosmos(&args);
        assert!(output.status.success(), "{}", text(&output));
        json_cuts(&output.stdout).remove(0)
    };
    // Expected lists: `scenedetect -i bikes.mp4 [-m 2.5s] detect-content|detect-adaptive [-t T]
    // list-scenes` with PySceneDetect 0.7.2.
    assert_eq!(run(&["--threshold", "43"]), vec![30, 76, 137]);
    assert_eq!(run(&["--threshold", "45"]), vec![30, 137]);
    assert_eq!(
        run(&["--detector", "adaptive", "--threshold", "3.1"]),
        vec![30, 76, 137, 187, 242]
    );
    assert_eq!(
        run(&["--detector", "adaptive", "--threshold", "3.2"]),
        vec![30, 137, 187, 242]
    );
    // With 2.5 s (63 frames) no two cuts are far enough apart, and none is far enough from the
    // start.
    assert_eq!(run(&["--min-scene-len", "2.5s"]), Vec::<u64>::new());
}

#[test]
fn grey_footage_gets_its_cut() {
    // Two grey shots, cut at frame 36: PySceneDetect's content detector scores it 18.07 (a third
    // of the luma change of 54.2) and finds no cut; scoring grey frames by luma finds it.
    let gray = media("bikes_gray_2shots.mp4");
    for detector in ["content", "adaptive"] {
        let output = cosmos(&[
            "shots",
            path(&gray),
            "--detector",
            detector,
            "--json",
            "--quiet",
        ]);
        assert!(output.status.success(), "{}", text(&output));
        assert_eq!(json_cuts(&output.stdout), vec![vec![36]], "{detector}");
    }
    let output = cosmos(&[
        "shots",
        path(&gray),
        "--pyscenedetect-grey",
        "--json",
        "--quiet",
    ]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(json_cuts(&output.stdout), vec![Vec::<u64>::new()]);
}

#[test]
fn unreadable_videos_and_bad_arguments_have_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.mp4");
    std::fs::write(&garbage, b"not a video").unwrap();
    let bikes = media("bikes.mp4");
    // Some unreadable: 1, the rest reported and the bad one named.
    let output = cosmos(&["shots", path(&bikes), path(&garbage), "--json", "--quiet"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["videos"].as_array().unwrap().len(), 1);
    assert!(
        json["unreadable"][0]["video"]
            .as_str()
            .unwrap()
            .ends_with("garbage.mp4")
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("garbage.mp4"));
    // Nothing readable: 2.
    let output = cosmos(&["shots", "/does/not/exist.mp4", "--quiet"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("/does/not/exist.mp4"),
        "{}",
        text(&output)
    );
    // Bad arguments: 2.
    for bad in [
        &["shots", path(&bikes), "--min-scene-len", "soon"][..],
        &["shots", path(&bikes), "--detector", "histogram"],
        &["shots", path(&bikes), "--window-width", "3"],
        &[
            "shots",
            path(&bikes),
            "--detector",
            "adaptive",
            "--window-width",
            "0",
        ],
    ] {
        let output = cosmos(bad);
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {}", text(&output));
    }
}
