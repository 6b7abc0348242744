//! Decoding speed: full-size RGB frames against the luma fast path.
//!
//! ```text
//! cargo run --release -p cosmos-media --example decode_speed -- [VIDEO] [RUNS]
//! ```
//!
//! Defaults to testdata/media/bikes.mp4 and 7 runs; prints the fastest and the median wall time of
//! each way of decoding the whole file (after one warm-up run), and frames per second.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cosmos_media::{
    FrameReader, ParallelFrameReader, PixelLayout, ReadOptions, ScaleFilter, SkipLoopFilter,
    read_video,
};

/// One way of decoding the whole file; returns the frame count.
type Case<'a> = Box<dyn Fn() -> Result<usize, Box<dyn std::error::Error>> + 'a>;

fn min_and_median(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (times[0], times[times.len() / 2])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/media/bikes.mp4"
        ))
    });
    if path.to_str() == Some("--help") {
        println!("usage: decode_speed [VIDEO] [RUNS]");
        return Ok(());
    }
    let runs: usize = args
        .next()
        .map(|r| r.parse())
        .transpose()?
        .unwrap_or(7)
        .max(1);
    let info = cosmos_media::probe(&path)?;
    println!(
        "{}: {:?} frames, {}x{}, {} fps; {} cores; {runs} runs each",
        path.display(),
        info.frames,
        info.width,
        info.height,
        info.fps,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    let cases: Vec<(&str, Case)> = vec![
        (
            "video-rs Decoder (RGB, full size, its defaults)",
            Box::new(|| {
                let mut decoder = video_rs::Decoder::new(path.as_path())?;
                Ok(decoder.decode_iter().take_while(Result::is_ok).count())
            }),
        ),
        (
            "read_video RGB full size, 1 thread",
            Box::new(|| {
                Ok(read_video(
                    &path,
                    &ReadOptions {
                        threads: 1,
                        ..Default::default()
                    },
                )?
                .len())
            }),
        ),
        (
            "read_video RGB full size, auto threads",
            Box::new(|| Ok(read_video(&path, &ReadOptions::default())?.len())),
        ),
        (
            "FrameReader RGB full size, streamed, 1 thread",
            Box::new(|| {
                Ok(FrameReader::open(
                    &path,
                    &ReadOptions {
                        threads: 1,
                        ..Default::default()
                    },
                )?
                .count())
            }),
        ),
        (
            "RGB 48x27 (TransNetV2 input), auto threads",
            Box::new(|| Ok(read_video(&path, &ReadOptions::default().resize(48, 27))?.len())),
        ),
        (
            "luma 48x27, 1 thread",
            Box::new(|| {
                let options = ReadOptions {
                    threads: 1,
                    ..ReadOptions::default()
                        .resize(48, 27)
                        .pixels(PixelLayout::Luma)
                };
                Ok(FrameReader::open(&path, &options)?.count())
            }),
        ),
        (
            "read_luma_frames 48x27, auto threads",
            Box::new(|| {
                Ok(cosmos_media::read_luma_frames(&path, 48, 27)?
                    .frames
                    .len_of(ndarray::Axis(0)))
            }),
        ),
        (
            "luma 48x27, auto threads, skip_loop_filter",
            Box::new(|| {
                let options = ReadOptions {
                    skip_loop_filter: SkipLoopFilter::All,
                    ..ReadOptions::default()
                        .resize(48, 27)
                        .pixels(PixelLayout::Luma)
                };
                Ok(FrameReader::open(&path, &options)?.count())
            }),
        ),
    ];
    // The curator's shot-detection decode (longer side 256, linear from YUV, no deblocking), with
    // one frame-threaded decoder and with keyframe-delimited segments in parallel.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let long = info.width.max(info.height).max(1) as f64 / 256.0;
    let small = (
        ((info.width as f64 / long).round() as u32).max(1),
        ((info.height as f64 / long).round() as u32).max(1),
    );
    let detection = ReadOptions {
        skip_loop_filter: SkipLoopFilter::All,
        quick_open: true,
        threads: cores,
        ..ReadOptions::default()
            .resize(small.0, small.1)
            .scale_filter(ScaleFilter::Linear)
    };
    let frame_threads = detection.clone();
    let segmented = detection.clone();
    let segments = cosmos_media::keyframes(&path)?.len();
    let mut cases = cases;
    let shared = &path;
    cases.push((
        "detection size, frame threads (one decoder)",
        Box::new(move || Ok(FrameReader::open(shared, &frame_threads)?.count())),
    ));
    let label = format!("detection size, {segments} segments in parallel");
    cases.push((
        Box::leak(label.into_boxed_str()),
        Box::new(move || Ok(ParallelFrameReader::open(shared, &segmented)?.count())),
    ));
    for (name, run) in cases {
        let frames = run()?;
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = Instant::now();
            let count = run()?;
            times.push(start.elapsed());
            assert_eq!(count, frames);
        }
        let (fastest, middle) = min_and_median(times);
        println!(
            "{name:<48} {frames:>5} frames  min {:>7.1} ms  median {:>7.1} ms  {:>6.0} frames/s (min)",
            fastest.as_secs_f64() * 1e3,
            middle.as_secs_f64() * 1e3,
            frames as f64 / fastest.as_secs_f64()
        );
    }
    Ok(())
}
