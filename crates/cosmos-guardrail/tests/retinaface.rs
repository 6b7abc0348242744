//! RetinaFace: the network loads a state dict in the reference's key names (random values,
//! the real `Resnet50_Final.pth` is not available offline) and runs; priors, box decoding and
//! the confidence/NMS filter against hand-computed values.

use std::collections::BTreeMap;

use cosmos_guardrail::face::retinaface::{
    DetectionThresholds, decode_boxes, filter_detections, prior_boxes,
};
use cosmos_guardrail::{FaceDetector, RetinaFaceConfig, RetinaFaceDetector};
use cosmos_nn::burn::tensor::{Device, Tensor, TensorData};
use cosmos_nn::checkpoint::Checkpoint;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }
}

/// The keys and shapes of `Resnet50_Final.pth` (torchvision ResNet-50 body, FPN, SSH, heads),
/// written out from the reference's module definitions, with the `module.` prefix of its
/// DataParallel training.
fn reference_state_dict(rng: &mut Lcg) -> BTreeMap<String, TensorData> {
    let mut shapes: Vec<(String, Vec<usize>)> = Vec::new();
    let bn = |shapes: &mut Vec<(String, Vec<usize>)>, name: &str, c: usize| {
        for p in [
            "weight",
            "bias",
            "running_mean",
            "running_var",
            "num_batches_tracked",
        ] {
            let shape = if p == "num_batches_tracked" {
                vec![]
            } else {
                vec![c]
            };
            shapes.push((format!("{name}.{p}"), shape));
        }
    };
    shapes.push(("body.conv1.weight".into(), vec![64, 3, 7, 7]));
    bn(&mut shapes, "body.bn1", 64);
    let mut cin = 64;
    for (layer, (blocks, width)) in [(3, 64), (4, 128), (6, 256), (3, 512)]
        .into_iter()
        .enumerate()
    {
        for b in 0..blocks {
            let p = format!("body.layer{}.{b}", layer + 1);
            shapes.push((format!("{p}.conv1.weight"), vec![width, cin, 1, 1]));
            bn(&mut shapes, &format!("{p}.bn1"), width);
            shapes.push((format!("{p}.conv2.weight"), vec![width, width, 3, 3]));
            bn(&mut shapes, &format!("{p}.bn2"), width);
            shapes.push((format!("{p}.conv3.weight"), vec![width * 4, width, 1, 1]));
            bn(&mut shapes, &format!("{p}.bn3"), width * 4);
            if b == 0 {
                shapes.push((
                    format!("{p}.downsample.0.weight"),
                    vec![width * 4, cin, 1, 1],
                ));
                bn(&mut shapes, &format!("{p}.downsample.1"), width * 4);
            }
            cin = width * 4;
        }
    }
    for (name, c_in, k) in [
        ("output1", 512, 1),
        ("output2", 1024, 1),
        ("output3", 2048, 1),
        ("merge1", 256, 3),
        ("merge2", 256, 3),
    ] {
        shapes.push((format!("fpn.{name}.0.weight"), vec![256, c_in, k, k]));
        bn(&mut shapes, &format!("fpn.{name}.1"), 256);
    }
    for s in 1..=3 {
        for (name, c_in, c_out) in [
            ("conv3X3", 256, 128),
            ("conv5X5_1", 256, 64),
            ("conv5X5_2", 64, 64),
            ("conv7X7_2", 64, 64),
            ("conv7x7_3", 64, 64),
        ] {
            shapes.push((format!("ssh{s}.{name}.0.weight"), vec![c_out, c_in, 3, 3]));
            bn(&mut shapes, &format!("ssh{s}.{name}.1"), c_out);
        }
    }
    for (head, out) in [("ClassHead", 4), ("BboxHead", 8), ("LandmarkHead", 20)] {
        for i in 0..3 {
            shapes.push((format!("{head}.{i}.conv1x1.weight"), vec![out, 256, 1, 1]));
            shapes.push((format!("{head}.{i}.conv1x1.bias"), vec![out]));
        }
    }
    shapes
        .into_iter()
        .map(|(name, shape)| {
            let data = if name.ends_with("num_batches_tracked") {
                TensorData::new(vec![1000i64], Vec::<usize>::new())
            } else {
                let n: usize = shape.iter().product();
                let fan_in: usize = shape.iter().skip(1).product::<usize>().max(1);
                let scale = if name.ends_with("running_var") {
                    0.0
                } else {
                    (2.0 / fan_in as f32).sqrt()
                };
                let values: Vec<f32> = (0..n)
                    .map(|_| {
                        if name.contains(".bn3.") && name.ends_with("weight") {
                            // Small residual branches keep the random network's activations
                            // in range through 16 blocks.
                            0.1 + 0.01 * rng.next()
                        } else if name.ends_with("running_var")
                            || (name.contains("bn") || name.contains(".1."))
                                && name.ends_with("weight")
                        {
                            1.0 + 0.1 * rng.next()
                        } else {
                            scale * 2.0 * rng.next() + if scale == 0.0 { 1.0 } else { 0.0 }
                        }
                    })
                    .collect();
                TensorData::new(values, shape)
            };
            (format!("module.{name}"), data)
        })
        .collect()
}

#[test]
fn loads_reference_key_names_and_runs() {
    let device = Device::default();
    let mut rng = Lcg(7);
    let tensors = reference_state_dict(&mut rng);
    let n_keys = tensors.len();
    let checkpoint = Checkpoint::from_tensors(tensors);
    let config = RetinaFaceConfig::new();
    let mut model = config.init(&device);
    let report = model.load_checkpoint(&checkpoint).unwrap();
    let tracked = checkpoint
        .keys()
        .filter(|k| k.ends_with("num_batches_tracked"))
        .count();
    assert_eq!(report.ignored.len(), tracked);
    assert_eq!(report.loaded.len() + tracked, n_keys);

    // One 40x56 frame: priors 5·7·2 + 3·4·2 + 2·2·2 = 102.
    let (h, w) = (40, 56);
    let input = Tensor::<4>::from_data(
        TensorData::new(
            (0..3 * h * w)
                .map(|_| 50.0 * rng.next())
                .collect::<Vec<f32>>(),
            [1, 3, h, w],
        ),
        &device,
    );
    let out = model.forward(input);
    assert_eq!(out.loc.dims(), [1, 102, 4]);
    assert_eq!(out.conf.dims(), [1, 102, 2]);
    assert_eq!(out.landmarks.dims(), [1, 102, 10]);
    let conf = out.conf.into_data().try_to_vec::<f32>().unwrap();
    for pair in conf.chunks(2) {
        assert!((pair[0] + pair[1] - 1.0).abs() < 1e-5 && pair.iter().all(|p| p.is_finite()));
    }
    let loc = out.loc.into_data().try_to_vec::<f32>().unwrap();
    assert!(loc.iter().all(|v| v.is_finite()));

    // End to end with known heads: zero head weights make the outputs equal the biases, so
    // every box equals its prior and anchor 0 of every location scores sigmoid(5) = 0.9933
    // (class bias [0, 5]) while anchor 1 scores sigmoid(−5) (bias [5, 0]).
    let mut tensors = checkpoint.clone().into_tensors();
    for i in 0..3 {
        for (head, out) in [("ClassHead", 4), ("BboxHead", 8), ("LandmarkHead", 20)] {
            tensors.insert(
                format!("module.{head}.{i}.conv1x1.weight"),
                TensorData::new(vec![0f32; out * 256], [out, 256, 1, 1]),
            );
            let bias = if head == "ClassHead" {
                vec![0.0, 5.0, 5.0, 0.0]
            } else {
                vec![0f32; out]
            };
            tensors.insert(
                format!("module.{head}.{i}.conv1x1.bias"),
                TensorData::new(bias, [out]),
            );
        }
    }
    let detector =
        RetinaFaceDetector::from_checkpoint(&Checkpoint::from_tensors(tensors), &device).unwrap();
    let frames = ndarray::Array4::<u8>::from_shape_fn((2, h, w, 3), |(t, y, x, c)| {
        ((t * 31 + y * 7 + x * 3 + c * 50) % 256) as u8
    });
    let faces = detector.detect_frames(frames.view()).unwrap();
    assert_eq!(faces.len(), 2);
    let priors = prior_boxes(&config, h, w);
    let boxes = decode_boxes(&vec![[0.0; 4]; priors.len()], &priors, [0.1, 0.2], w, h);
    let face_score = 1.0 / (1.0 + (-5f32).exp());
    let scores: Vec<f32> = (0..priors.len())
        .map(|i| {
            if i % 2 == 0 {
                face_score
            } else {
                1.0 - face_score
            }
        })
        .collect();
    let expected = filter_detections(&boxes, &scores, &DetectionThresholds::default());
    // All 35 stride-8 boxes of 16 px survive NMS (neighbours overlap by IoU 0.36 < 0.4), and the
    // first kept box is the first prior: centre (4, 4), 16 px.
    assert!(expected.len() >= 35, "{}", expected.len());
    let first = [
        expected[0].x1,
        expected[0].y1,
        expected[0].x2,
        expected[0].y2,
    ];
    for (a, b) in first.iter().zip([-4.0, -4.0, 12.0, 12.0]) {
        assert!((a - b).abs() < 1e-4, "{first:?}");
    }
    for frame in &faces {
        assert_eq!(frame.len(), expected.len());
        for (a, b) in frame.iter().zip(&expected) {
            assert!(
                (a.x1 - b.x1).abs() < 1e-3 && (a.y2 - b.y2).abs() < 1e-3,
                "{a:?} {b:?}"
            );
            assert!((a.score - face_score).abs() < 1e-5);
        }
    }
}

#[test]
fn mismatched_weights_name_every_problem() {
    let device = Device::default();
    let mut tensors = reference_state_dict(&mut Lcg(1));
    tensors.remove("module.ssh2.conv7x7_3.0.weight");
    tensors.insert(
        "module.BboxHead.1.conv1x1.bias".into(),
        TensorData::new(vec![0f32; 6], [6]),
    );
    tensors.insert(
        "module.extra.weight".into(),
        TensorData::new(vec![0f32; 2], [2]),
    );
    let err = RetinaFaceDetector::from_checkpoint(&Checkpoint::from_tensors(tensors), &device)
        .err()
        .expect("mismatch")
        .to_string();
    assert!(
        err.contains("1 missing, 1 unexpected, 1 mis-shaped"),
        "{err}"
    );
    assert!(err.contains("ssh2.conv7x7_3"), "{err}");
    assert!(err.contains("module.extra.weight"), "{err}");
    assert!(
        err.contains("BboxHead.1.conv1x1.bias") && err.contains("[8]"),
        "{err}"
    );
}

#[test]
fn priors_by_hand() {
    let config = RetinaFaceConfig::new();
    let (h, w) = (40usize, 56usize);
    let p = prior_boxes(&config, h, w);
    assert_eq!(p.len(), 102);
    let close = |a: [f32; 4], b: [f32; 4]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
    // Level 0, row 0, column 0: centre (4, 4) px, sizes 16 and 32.
    assert!(close(
        p[0],
        [4.0 / 56.0, 4.0 / 40.0, 16.0 / 56.0, 16.0 / 40.0]
    ));
    assert!(close(
        p[1],
        [4.0 / 56.0, 4.0 / 40.0, 32.0 / 56.0, 32.0 / 40.0]
    ));
    // Level 0, row 1, column 2 (index (1·7 + 2)·2): centre (20, 12).
    assert!(close(
        p[18],
        [20.0 / 56.0, 12.0 / 40.0, 16.0 / 56.0, 16.0 / 40.0]
    ));
    // Level 1 starts at 70: centre (8, 8), size 64; level 2 at 94: centre (16, 16), 256.
    assert!(close(
        p[70],
        [8.0 / 56.0, 8.0 / 40.0, 64.0 / 56.0, 64.0 / 40.0]
    ));
    assert!(close(
        p[95],
        [16.0 / 56.0, 16.0 / 40.0, 512.0 / 56.0, 512.0 / 40.0]
    ));
}

#[test]
fn decoding_by_hand() {
    // Prior centre (0.5, 0.5), size (0.2, 0.4); offsets (1, −1, ln 2 / 0.2, 0):
    // centre (0.5 + 0.1·0.2, 0.5 − 0.1·0.4) = (0.52, 0.46), size (0.4, 0.4)
    // → corners (0.32, 0.26, 0.72, 0.66) · (100, 50, 100, 50).
    let boxes = decode_boxes(
        &[[1.0, -1.0, 2f32.ln() / 0.2, 0.0]],
        &[[0.5, 0.5, 0.2, 0.4]],
        [0.1, 0.2],
        100,
        50,
    );
    let expect = [32.0, 13.0, 72.0, 33.0];
    for (a, b) in boxes[0].iter().zip(expect) {
        assert!((a - b).abs() < 1e-4, "{boxes:?}");
    }
}

#[test]
fn confidence_and_nms_by_hand() {
    let boxes = [
        [0.0, 0.0, 30.0, 30.0],    // 0.90
        [2.0, 2.0, 32.0, 32.0], // 0.95: IoU with box 0 = 29²/(2·31² − 29²) = 0.78 → box 0 dropped
        [100.0, 0.0, 130.0, 30.0], // 0.70: not above the threshold
        [15.0, 0.0, 45.0, 30.0], // 0.71: IoU with box 1 = 18·29/(2·961 − 522) = 0.37 → kept
    ];
    let scores = [0.90, 0.95, 0.70, 0.71];
    let faces = filter_detections(&boxes, &scores, &DetectionThresholds::default());
    let kept: Vec<(f32, f32)> = faces.iter().map(|f| (f.x1, f.score)).collect();
    assert_eq!(kept, vec![(2.0, 0.95), (15.0, 0.71)]);
    let strict = DetectionThresholds {
        nms: 0.3,
        ..Default::default()
    };
    assert_eq!(filter_detections(&boxes, &scores, &strict).len(), 1);
    let top1 = DetectionThresholds {
        keep_top_k: 1,
        ..Default::default()
    };
    assert_eq!(filter_detections(&boxes, &scores, &top1).len(), 1);
}
