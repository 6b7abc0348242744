//! `cosmos demo` end to end: the built binary runs the embedded world model on a held-out
//! episode and writes a playable MP4 and GIF of ground truth | prediction | copy-last.

use std::process::Command;

use image::AnimationDecoder;
use image::codecs::gif::GifDecoder;

#[test]
fn demo_writes_the_clips_and_reports_the_scores() {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cosmos"))
        .args(["demo", "--push", "left", "--ball", "1", "--out"])
        .arg(out.path())
        .output()
        .expect("cosmos runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        output.status
    );

    // One line per predicted frame, then the summary as the last line.
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("frame ")).count(),
        12,
        "{stdout}"
    );
    assert!(stdout.contains("guardrail"), "{stdout}");
    let last = stdout.lines().last().expect("output");
    let fields: Vec<(&str, f64)> = last
        .split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k, v.parse::<f64>().expect("number"))
        })
        .collect();
    let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        keys,
        ["psnr_model_db", "psnr_copy_last_db", "action_error_px"],
        "{last}"
    );
    for (k, v) in &fields {
        assert!(v.is_finite() && *v >= 0.0, "{k} = {v}");
    }
    assert!(fields[0].1 > 10.0 && fields[1].1 > 10.0, "{last}");

    let mp4 = out.path().join("demo.mp4");
    assert!(
        std::fs::metadata(&mp4).unwrap().len() > 1000,
        "demo.mp4 written"
    );
    let gif = std::fs::File::open(out.path().join("demo.gif")).unwrap();
    let frames = GifDecoder::new(std::io::BufReader::new(gif))
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 17, "5 context + 12 predicted frames");
    // Three 64-pixel panels with 2-pixel gaps, enlarged 4×.
    assert_eq!(frames[0].buffer().width(), (3 * 64 + 2 * 2) * 4);
    assert_eq!(frames[0].buffer().height(), 64 * 4);

    // The per-frame plot beside the GIF: both series (blue model, orange copy-last) drawn.
    let plot = image::open(out.path().join("demo_metrics.png"))
        .expect("demo_metrics.png decodes")
        .to_rgb8();
    assert_eq!(plot.dimensions(), (1000, 380));
    let near = |p: &image::Rgb<u8>, c: [u8; 3]| (0..3).all(|i| p.0[i].abs_diff(c[i]) < 8);
    let blue = plot.pixels().filter(|p| near(p, [31, 119, 180])).count();
    let orange = plot.pixels().filter(|p| near(p, [255, 127, 14])).count();
    assert!(blue > 300 && orange > 300, "blue {blue}, orange {orange}");
    assert!(stdout.contains("demo_metrics.png"), "{stdout}");
}

#[test]
fn demo_refuses_bad_arguments() {
    let output = Command::new(env!("CARGO_BIN_EXE_cosmos"))
        .args(["demo", "--ball", "9", "--out"])
        .arg(std::env::temp_dir())
        .output()
        .expect("cosmos runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--ball"));
}
