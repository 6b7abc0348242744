//! MTCNN with its real weights on real media: faces where they are, none where they are not;
//! pixelation of what it finds, on images and on video files.

use cosmos_guardrail::face::FaceDetector;
use cosmos_guardrail::media::pixelate_video_file;
use cosmos_guardrail::{FaceBox, FacePixelator, FramePostprocessor, Mtcnn};
use cosmos_media::{ReadOptions, ResizeFilter};
use cosmos_nn::burn::tensor::Device;
use ndarray::{Axis, s};

fn media(name: &str) -> String {
    format!("{}/../../testdata/media/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn mtcnn() -> Mtcnn {
    Mtcnn::bundled(&Device::default()).expect("bundled MTCNN weights load")
}

fn center_in(b: &FaceBox, x: (f32, f32), y: (f32, f32)) -> bool {
    let (cx, cy) = b.center();
    cx > x.0 && cx < x.1 && cy > y.0 && cy < y.1
}

#[test]
fn finds_the_astronaut_face_at_two_sizes() {
    let m = mtcnn();
    let image = cosmos_media::read_image(media("astronaut.png")).unwrap();
    // Eileen Collins' face spans about x 180..270, y 60..175 of the 512x512 photo.
    for size in [512usize, 256] {
        let k = size as f32 / 512.0;
        let im =
            cosmos_media::resize_image(image.view(), size, size, ResizeFilter::Bilinear).unwrap();
        let faces = m.detect(im.view()).unwrap();
        assert_eq!(faces.len(), 1, "{size}: {faces:?}");
        let f = faces[0];
        assert!(f.score > 0.99, "{f:?}");
        assert!(
            center_in(&f, (200.0 * k, 250.0 * k), (95.0 * k, 140.0 * k)),
            "{size}: {f:?}"
        );
        assert!(
            f.width() > 60.0 * k && f.width() < 120.0 * k,
            "{size}: {f:?}"
        );
        assert!(
            f.height() > 70.0 * k && f.height() < 140.0 * k,
            "{size}: {f:?}"
        );
    }
}

#[test]
fn no_face_on_the_squirrel() {
    let image =
        cosmos_media::read_image(media("squirrel_cosmos_tokenizer_test_image.png")).unwrap();
    let faces = mtcnn().detect(image.view()).unwrap();
    assert!(faces.is_empty(), "{faces:?}");
}

#[test]
fn a_face_in_every_carphone_frame() {
    // Every 6th frame of the 120: the driver's face, about 50x60 px, left of centre.
    let video = cosmos_media::read_video(
        media("carphone_pristine.mp4"),
        &ReadOptions::default().stride(6),
    )
    .unwrap();
    assert_eq!(video.len(), 20);
    let faces = mtcnn().detect_frames(video.frames.view()).unwrap();
    for (i, f) in faces.iter().enumerate() {
        assert_eq!(f.len(), 1, "frame {}: {f:?}", i * 6);
        assert!(
            center_in(&f[0], (55.0, 100.0), (50.0, 80.0)),
            "frame {}: {f:?}",
            i * 6
        );
        assert!(f[0].height() > 40.0, "frame {}: {f:?}", i * 6);
    }
}

#[test]
fn bikes_door_shot_has_no_face_and_the_cyclist_shot_has_one() {
    let m = mtcnn();
    // Shot 1 (frames 0-29): a door.
    let door = cosmos_media::read_video(
        media("bikes.mp4"),
        &ReadOptions::default().range(0, 10).stride(3),
    )
    .unwrap();
    let faces = m.detect_frames(door.frames.view()).unwrap();
    assert!(faces.iter().all(Vec::is_empty), "{faces:?}");
    // Shot 3 (frames 76-136): a cyclist in a helmet stops at a crossing; his face is about
    // 22x28 px around x 410..440.
    let cyclist = cosmos_media::read_video(
        media("bikes.mp4"),
        &ReadOptions::default().range(110, 5).stride(5),
    )
    .unwrap();
    let faces = m.detect_frames(cyclist.frames.view()).unwrap();
    for (i, f) in faces.iter().enumerate() {
        assert!(
            f.iter()
                .any(|b| center_in(b, (405.0, 445.0), (20.0, 75.0)) && b.width() >= 15.0),
            "frame {}: {f:?}",
            110 + 5 * i
        );
    }
}

#[test]
fn pixelates_the_astronaut_face_only() {
    let m = mtcnn();
    let image = cosmos_media::read_image(media("astronaut.png")).unwrap();
    let im = cosmos_media::resize_image(image.view(), 256, 256, ResizeFilter::Bilinear).unwrap();
    let mut frames = im.clone().insert_axis(Axis(0));
    let pixelator = FacePixelator::new(m);
    let report = pixelator.process(&mut frames).unwrap();
    assert_eq!(report.count(), 1);
    let [x1, y1, x2, y2] = report.regions[0][0];
    assert!(x2 - x1 >= 20 && y2 - y1 >= 20);
    let out = frames.index_axis(Axis(0), 0);
    // Outside the region nothing changed; inside, at most 25 distinct colours (5x5 blocks) and
    // the detail is gone.
    let mut changed_outside = 0;
    for ((y, x, c), v) in out.indexed_iter() {
        let inside = x >= x1 && x < x2 && y >= y1 && y < y2;
        if !inside && *v != im[[y, x, c]] {
            changed_outside += 1;
        }
    }
    assert_eq!(changed_outside, 0);
    let region = out.slice(s![y1..y2, x1..x2, ..]);
    let mut colours: Vec<[u8; 3]> = region
        .outer_iter()
        .flat_map(|row| {
            row.outer_iter()
                .map(|p| [p[0], p[1], p[2]])
                .collect::<Vec<_>>()
        })
        .collect();
    colours.sort();
    colours.dedup();
    assert!(colours.len() <= 25, "{} colours", colours.len());
    assert_ne!(region, im.slice(s![y1..y2, x1..x2, ..]));
}

#[test]
fn pixelates_a_video_file_and_writes_faces_json() {
    let dir = tempfile::tempdir().unwrap();
    // 18 frames of carphone, re-encoded as a short input file.
    let input = dir.path().join("in.mp4");
    let clip = cosmos_media::read_video(
        media("carphone_pristine.mp4"),
        &ReadOptions::default().range(0, 18),
    )
    .unwrap();
    cosmos_media::write_video(&input, &clip, &Default::default()).unwrap();
    let output = dir.path().join("out.mp4");
    let report = pixelate_video_file(&input, &output, &FacePixelator::new(mtcnn()), 8).unwrap();
    assert_eq!(report.frame_count, 18);
    assert_eq!(report.frames_with_faces(), 18);
    let written = cosmos_media::read_video(&output, &Default::default()).unwrap();
    assert_eq!(written.len(), 18);
    assert!(
        (written.fps - clip.fps).abs() < 1e-6,
        "{} vs {}",
        written.fps,
        clip.fps
    );
    // The face region is flat (blocks), the background still matches the input.
    let [x1, y1, x2, y2] = report.regions[0][0];
    let original = cosmos_media::read_video(&input, &Default::default()).unwrap();
    let face_diff: f64 = written
        .frames
        .slice(s![0, y1..y2, x1..x2, ..])
        .iter()
        .zip(original.frames.slice(s![0, y1..y2, x1..x2, ..]).iter())
        .map(|(a, b)| (*a as f64 - *b as f64).abs())
        .sum::<f64>()
        / ((y2 - y1) * (x2 - x1) * 3) as f64;
    assert!(face_diff > 5.0, "face region barely changed: {face_diff}");
    let corner = cosmos_media::psnr(
        written.frames.slice(s![0, 0..30, 140..176, ..]),
        original.frames.slice(s![0, 0..30, 140..176, ..]),
    )
    .unwrap();
    assert!(corner > 35.0, "background changed: {corner} dB");

    let json = report.to_json();
    let frames = json["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 18);
    assert_eq!(frames[3]["frame"], 3);
    let b = frames[3]["boxes"][0].as_array().unwrap();
    assert_eq!(b.len(), 4);
    assert!(b[0].as_i64().unwrap() < b[2].as_i64().unwrap());

    // Unreadable input: an error naming the file.
    std::fs::write(dir.path().join("junk.mp4"), b"not a video").unwrap();
    let err = pixelate_video_file(
        dir.path().join("junk.mp4"),
        dir.path().join("o.mp4"),
        &FacePixelator::new(mtcnn()),
        8,
    )
    .unwrap_err();
    assert!(err.to_string().contains("junk.mp4"), "{err}");
}

#[test]
fn zero_size_frames_are_an_error() {
    let m = mtcnn();
    let frames = ndarray::Array4::<u8>::zeros((2, 0, 16, 3));
    let err = m.detect_frames(frames.view()).unwrap_err();
    assert!(err.to_string().contains("H, W > 0"), "{err}");
    let mut frames = ndarray::Array4::<u8>::zeros((1, 8, 0, 3));
    assert!(FacePixelator::new(mtcnn()).process(&mut frames).is_err());
}

#[test]
fn weights_with_wrong_names_are_reported() {
    use cosmos_nn::burn::tensor::TensorData;
    use cosmos_nn::checkpoint::Checkpoint;
    let mut m = Mtcnn::untrained(&Device::default());
    let mut tensors = std::collections::BTreeMap::new();
    tensors.insert(
        "conv1.weight".to_string(),
        TensorData::new(vec![0f32; 270], [10, 3, 3, 3]),
    );
    tensors.insert(
        "conv9.weight".to_string(),
        TensorData::new(vec![0f32; 4], [4]),
    );
    let err = m
        .load_report("pnet", &Checkpoint::from_tensors(tensors))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("conv9.weight") && err.contains("missing"),
        "{err}"
    );
}
