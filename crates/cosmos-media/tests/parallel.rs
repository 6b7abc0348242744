//! Keyframe listing, parallel segment decoding and encoder bit rates on the real test videos.

use cosmos_media::{
    DamagePolicy, Error, FrameReader, ParallelFrameReader, ReadOptions, ScaleFilter, Video,
    WriteOptions, keyframes, probe, read_video, write_video,
};
use ndarray::{Array3, Axis, s};

mod common;
use common::{BIKES, CARPHONE};

fn frames_of(
    reader: impl Iterator<Item = cosmos_media::Result<cosmos_media::VideoFrame>>,
) -> Vec<(u64, Array3<u8>)> {
    reader
        .map(|frame| {
            let frame = frame.unwrap();
            (frame.index, frame.pixels)
        })
        .collect()
}

#[test]
fn keyframes_come_from_the_index() {
    let list = keyframes(BIKES).unwrap();
    let positions: Vec<u64> = list.iter().map(|k| k.position).collect();
    // bikes.mp4 was encoded with a keyframe at every cut (ffprobe lists the same packets).
    assert_eq!(positions, vec![0, 30, 76, 137, 187, 242]);
    assert!((list[1].time_s - 1.2).abs() < 1e-9, "{list:?}");
    assert_eq!(keyframes(CARPHONE).unwrap().len(), 1);
    assert!(matches!(
        keyframes("/nonexistent/video.mp4"),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn parallel_segments_return_exactly_the_sequential_frames() {
    for filter in [ScaleFilter::Area, ScaleFilter::FastBilinear] {
        let options = ReadOptions {
            threads: 2,
            ..ReadOptions::default().resize(256, 109).scale_filter(filter)
        };
        let parallel = ParallelFrameReader::open(BIKES, &options).unwrap();
        assert_eq!(parallel.segments(), 6);
        assert_eq!(parallel.output_size(), (256, 109));
        let parallel = frames_of(parallel);
        let sequential = frames_of(
            FrameReader::open(
                BIKES,
                &ReadOptions {
                    threads: 1,
                    ..options.clone()
                },
            )
            .unwrap(),
        );
        assert_eq!(parallel.len(), 250);
        assert!(
            parallel
                .iter()
                .enumerate()
                .all(|(i, (index, _))| *index == i as u64)
        );
        for (i, ((_, a), (_, b))) in parallel.iter().zip(&sequential).enumerate() {
            assert!(a == b, "{filter:?}: frame {i} differs");
        }
    }
    // The two filters really differ.
    let area = read_video(BIKES, &ReadOptions::default().range(0, 1).resize(256, 109)).unwrap();
    let fast = read_video(
        BIKES,
        &ReadOptions::default()
            .range(0, 1)
            .resize(256, 109)
            .scale_filter(ScaleFilter::FastBilinear),
    )
    .unwrap();
    assert_ne!(area.frames, fast.frames);
}

#[test]
fn open_with_picks_the_size_from_the_stream() {
    let reader = ParallelFrameReader::open_with(BIKES, &ReadOptions::default(), |info| {
        Some((info.width / 4, info.height / 4))
    })
    .unwrap();
    assert_eq!(reader.output_size(), (160, 68));
    assert_eq!(reader.info().frames, Some(250));
    assert_eq!(reader.fps(), 25.0);
    let frames = frames_of(reader);
    assert_eq!(frames.len(), 250);
    assert_eq!(frames[0].1.dim(), (68, 160, 3));
}

#[test]
fn partial_reads_and_single_keyframe_files_decode_sequentially() {
    let options = ReadOptions {
        threads: 2,
        ..ReadOptions::default().range(20, 5)
    };
    let reader = ParallelFrameReader::open(BIKES, &options).unwrap();
    assert_eq!(reader.segments(), 1);
    let frames = frames_of(reader);
    assert_eq!(
        frames.iter().map(|f| f.0).collect::<Vec<_>>(),
        vec![20, 21, 22, 23, 24]
    );
    let carphone = ParallelFrameReader::open(
        CARPHONE,
        &ReadOptions {
            threads: 2,
            ..ReadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(carphone.segments(), 1);
    assert_eq!(carphone.count(), 120);
}

#[test]
fn dropping_a_parallel_reader_early_stops_its_workers() {
    let options = ReadOptions {
        threads: 2,
        ..ReadOptions::default().resize(64, 28)
    };
    for stop_after in [0, 3, 40] {
        let mut reader = ParallelFrameReader::open(BIKES, &options).unwrap();
        for _ in 0..stop_after {
            reader.next_frame().unwrap().unwrap();
        }
        drop(reader); // must not hang
    }
}

#[test]
fn damage_in_a_segment_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(BIKES).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 64]
        .iter_mut()
        .for_each(|b| *b ^= 0xff);
    let path = dir.path().join("flipped.mp4");
    std::fs::write(&path, &bytes).unwrap();
    let options = ReadOptions {
        threads: 2,
        ..ReadOptions::default().resize(64, 28)
    };
    let strict: Vec<_> = ParallelFrameReader::open(&path, &options)
        .unwrap()
        .collect();
    assert!(
        strict
            .iter()
            .any(|f| matches!(f, Err(Error::Damaged { .. }))),
        "no damage error"
    );
    let mut kept = ParallelFrameReader::open(
        &path,
        &ReadOptions {
            on_damage: DamagePolicy::Keep,
            ..options
        },
    )
    .unwrap();
    let mut count = 0;
    while let Some(_frame) = kept.next_frame().unwrap() {
        count += 1;
    }
    assert_eq!(count, 250);
    let damage = kept.damage().expect("damage report");
    assert!(
        damage.corrupt_frames + damage.rejected_packets > 0,
        "{damage:?}"
    );
}

#[test]
fn segments_written_with_short_keyframe_intervals_decode_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let clip = read_video(CARPHONE, &ReadOptions::default()).unwrap();
    let path = dir.path().join("gop12.mp4");
    write_video(
        &path,
        &clip,
        &WriteOptions {
            preset: "veryfast".into(),
            keyframe_interval: Some(12),
            ..WriteOptions::default()
        },
    )
    .unwrap();
    let list = keyframes(&path).unwrap();
    assert!(list.len() >= 9, "{} keyframes", list.len());
    assert!(
        list.windows(2).all(|k| k[1].position - k[0].position <= 16),
        "{:?}",
        list.iter().map(|k| k.position).collect::<Vec<_>>()
    );
    let options = ReadOptions {
        threads: 2,
        ..ReadOptions::default()
    };
    let parallel = ParallelFrameReader::open(&path, &options).unwrap();
    assert_eq!(parallel.segments(), list.len());
    let parallel = frames_of(parallel);
    let sequential = read_video(
        &path,
        &ReadOptions {
            threads: 1,
            ..options
        },
    )
    .unwrap();
    assert_eq!(parallel.len(), 120);
    for (i, (_, frame)) in parallel.iter().enumerate() {
        assert!(
            frame.view() == sequential.frames.index_axis(Axis(0), i),
            "frame {i}"
        );
    }
}

#[test]
fn a_lower_bitrate_gives_a_smaller_file_with_the_same_frames() {
    let dir = tempfile::tempdir().unwrap();
    let clip = read_video(BIKES, &ReadOptions::default().range(0, 50)).unwrap();
    let mut sizes = Vec::new();
    for bitrate in [200_000u64, 2_000_000] {
        let path = dir.path().join(format!("{bitrate}.mp4"));
        write_video(
            &path,
            &clip,
            &WriteOptions {
                preset: "veryfast".into(),
                bitrate: Some(bitrate),
                ..WriteOptions::default()
            },
        )
        .unwrap();
        let info = probe(&path).unwrap();
        assert_eq!(info.frames, Some(50));
        let back = read_video(&path, &ReadOptions::default()).unwrap();
        assert_eq!(back.len(), 50);
        let bytes = std::fs::metadata(&path).unwrap().len();
        // Two seconds at the target rate, within a factor of two.
        let target = bitrate * 2 / 8;
        assert!(
            bytes > target / 2 && bytes < target * 2,
            "{bitrate} b/s: {bytes} bytes for a target of {target}"
        );
        sizes.push((bytes, back));
    }
    assert!(
        sizes[0].0 * 3 < sizes[1].0,
        "{} vs {}",
        sizes[0].0,
        sizes[1].0
    );
    // The low rate costs quality, the high one keeps it.
    let low = cosmos_media::psnr_video(clip.frames.view(), sizes[0].1.frames.view()).unwrap();
    let high = cosmos_media::psnr_video(clip.frames.view(), sizes[1].1.frames.view()).unwrap();
    assert!(high.mean > low.mean + 3.0, "{} vs {}", high.mean, low.mean);
    let bad = WriteOptions {
        bitrate: Some(10),
        ..WriteOptions::default()
    };
    let small: Video = read_video(BIKES, &ReadOptions::default().range(0, 2)).unwrap();
    assert!(matches!(
        write_video(dir.path().join("bad.mp4"), &small, &bad),
        Err(Error::InvalidArgument(_))
    ));
    let _ = s![..];
}

#[test]
fn quick_open_reads_the_same_facts_and_frames() {
    for path in [BIKES, CARPHONE] {
        let probed = ReadOptions::default().resize(128, 96);
        let quick = ReadOptions {
            quick_open: true,
            ..probed.clone()
        };
        let a = FrameReader::open(path, &probed).unwrap();
        let b = FrameReader::open(path, &quick).unwrap();
        assert_eq!(a.info(), b.info(), "{path}");
        let (a, b) = (frames_of(a), frames_of(b));
        assert_eq!(a.len(), b.len());
        assert!(a == b, "{path}: frames differ");
    }
    // A container whose header says less (Matroska) is probed as usual.
    let dir = tempfile::tempdir().unwrap();
    let clip = read_video(CARPHONE, &ReadOptions::default().range(0, 10)).unwrap();
    let mkv = dir.path().join("clip.mkv");
    write_video(
        &mkv,
        &clip,
        &WriteOptions {
            preset: "veryfast".into(),
            faststart: false,
            ..WriteOptions::default()
        },
    )
    .unwrap();
    let quick = ReadOptions {
        quick_open: true,
        ..ReadOptions::default()
    };
    let reader = FrameReader::open(&mkv, &quick).unwrap();
    assert!(
        (reader.info().fps - 29.97).abs() < 0.01,
        "{:?}",
        reader.info()
    );
    assert_eq!(reader.count(), 10);
}

#[test]
fn segment_failures_are_told_apart_from_other_errors() {
    let segment = Error::Ffmpeg {
        path: BIKES.into(),
        operation: "seek to a keyframe",
        reason: "landed elsewhere".into(),
    };
    assert!(segment.is_segment_failure());
    let other = Error::Ffmpeg {
        path: BIKES.into(),
        operation: "convert a frame",
        reason: "bad".into(),
    };
    assert!(!other.is_segment_failure());
    assert!(!Error::InvalidArgument("x".into()).is_segment_failure());
}
