//! Bad input gives typed errors that say what was expected, never a panic.

mod common;

use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use cosmos_nn::checkpoint::Checkpoint;
use cosmos_nn::parity::Fixture;
use cosmos_tokenizer::{Error, Tokenizer, TokenizerConfig, pad_frames, pad_spatial};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/parity/tokenizer"
);

fn video(shape: [usize; 5]) -> Tensor<5> {
    Tensor::random(shape, Distribution::Uniform(-1.0, 1.0), &Device::flex())
}

#[test]
fn wrong_channel_count_is_a_shape_error() {
    let tokenizer = common::small("CV", 1);
    let err = tokenizer.encode(video([1, 4, 9, 16, 16])).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("3 channels") && message.contains("[1, 4, 9, 16, 16]"),
        "{message}"
    );
}

#[test]
fn frame_count_must_be_one_plus_multiple_and_pad_frames_fixes_it() {
    let tokenizer = common::small("DV", 2);
    let x = video([1, 3, 12, 16, 16]);
    let err = tokenizer.encode(x.clone()).unwrap_err();
    match &err {
        Error::FrameCount {
            frames,
            temporal_compression,
            padded,
            trimmed,
            ..
        } => {
            assert_eq!(
                (*frames, *temporal_compression, *padded, *trimmed),
                (12, 8, 17, 9)
            );
        }
        other => panic!("expected a frame-count error, got {other:?}"),
    }
    assert!(err.to_string().contains("pad_frames"));
    let (padded, padding) = pad_frames(x, tokenizer.temporal_compression());
    let encoded = tokenizer.encode(padded).unwrap();
    assert_eq!(encoded.indices.unwrap().dims(), [1, 3, 2, 2]);
    assert_eq!(padding.frames_after, 5);
    // Image tokenizers take any frame count.
    let image = common::small("CI", 2);
    assert_eq!(
        image
            .encode(video([1, 3, 2, 16, 16]))
            .unwrap()
            .latent
            .dims()[2],
        2
    );
}

#[test]
fn odd_resolution_is_refused_and_pad_spatial_fixes_it() {
    let tokenizer = common::small("CV", 3);
    let x = video([1, 3, 1, 15, 20]);
    let err = tokenizer.encode(x.clone()).unwrap_err();
    match &err {
        Error::Resolution {
            height,
            width,
            multiple,
            padded_height,
            padded_width,
        } => {
            assert_eq!(
                (*height, *width, *multiple, *padded_height, *padded_width),
                (15, 20, 8, 16, 24)
            );
        }
        other => panic!("expected a resolution error, got {other:?}"),
    }
    let (padded, padding) = pad_spatial(x, tokenizer.spatial_compression(), -1.0);
    let decoded = tokenizer
        .decode(tokenizer.encode(padded).unwrap().latent)
        .unwrap();
    assert_eq!(padding.crop(decoded).dims(), [1, 3, 1, 15, 20]);
}

#[test]
fn nan_and_infinity_are_refused() {
    let tokenizer = common::small("CI", 4);
    let mut values = vec![0.0f32; 3 * 16 * 16];
    values[100] = f32::NAN;
    let x = Tensor::<5>::from_data(
        TensorData::new(values.clone(), [1, 3, 1, 16, 16]),
        &Device::flex(),
    );
    assert!(matches!(tokenizer.encode(x), Err(Error::NonFinite(_))));
    values[100] = f32::INFINITY;
    let x = Tensor::<4>::from_data(TensorData::new(values, [1, 3, 16, 16]), &Device::flex());
    assert!(matches!(
        tokenizer.encode_image(x),
        Err(Error::NonFinite(_))
    ));
    let latent = Tensor::<5>::full([1, 16, 1, 2, 2], f32::NAN, &Device::flex());
    assert!(matches!(tokenizer.decode(latent), Err(Error::NonFinite(_))));
}

#[test]
fn wrong_latents_and_indices_are_refused() {
    let tokenizer = common::small("DV", 5);
    let err = tokenizer
        .decode(Tensor::zeros([1, 16, 2, 2, 2], &Device::flex()))
        .unwrap_err();
    assert!(err.to_string().contains("6 channels"), "{err}");
    let indices = Tensor::<4, Int>::from_data(
        TensorData::new(vec![0i64, 1, 64_000, 3], [1, 1, 2, 2]),
        &Device::flex(),
    );
    assert!(matches!(
        tokenizer.decode_indices(indices),
        Err(Error::IndexRange { max: 64_000, .. })
    ));
    let continuous = common::small("CV", 5);
    let indices = Tensor::<4, Int>::zeros([1, 1, 2, 2], &Device::flex());
    assert!(matches!(
        continuous.decode_indices(indices),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn checkpoint_for_another_config_names_the_keys() {
    let fixture = Fixture::open(format!("{DIR}/cv4x8x8_small.safetensors")).unwrap();
    let mut config = TokenizerConfig::from_json(&fixture.json).unwrap();
    config.channels = 32;
    let err = Tokenizer::from_checkpoint(config, &fixture.weights, &Device::flex()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Checkpoint(_)), "{err:?}");
    assert!(
        message.contains("mis-shaped") && message.contains("encoder.conv_in.0.conv3d.weight"),
        "{message}"
    );
    // The DV fixture's weights in the CV architecture.
    let dv = Fixture::open(format!("{DIR}/dv4x8x8_small.safetensors")).unwrap();
    let cv = TokenizerConfig::from_json(&fixture.json).unwrap();
    let err = Tokenizer::from_checkpoint(cv, &dv.weights, &Device::flex()).unwrap_err();
    assert!(err.to_string().contains("quant_conv"), "{err}");
}

#[test]
fn a_checkpoint_with_one_half_loads_that_half_only() {
    let fixture = Fixture::open(format!("{DIR}/cv4x8x8_small.safetensors")).unwrap();
    let config = TokenizerConfig::from_json(&fixture.json).unwrap();
    let mut encoder_only = Checkpoint::from_tensors(Default::default());
    for key in fixture
        .weights
        .keys()
        .filter(|k| k.starts_with("encoder.") || k.starts_with("quant_conv."))
    {
        encoder_only.insert(key, fixture.weights.get(key).unwrap().clone());
    }
    let tokenizer = Tokenizer::from_checkpoint(config, &encoder_only, &Device::flex()).unwrap();
    assert!(tokenizer.has_encoder() && !tokenizer.has_decoder());
    let latent = tokenizer
        .encode(fixture.tensor::<5>("input", &Device::flex()).unwrap())
        .unwrap()
        .latent;
    assert!(matches!(
        tokenizer.decode(latent),
        Err(Error::Unsupported(_))
    ));
    let empty = Checkpoint::from_tensors(Default::default());
    let config = TokenizerConfig::from_json(&fixture.json).unwrap();
    assert!(matches!(
        Tokenizer::from_checkpoint(config, &empty, &Device::flex()),
        Err(Error::Checkpoint(_))
    ));
}

#[test]
fn corrupt_or_truncated_checkpoint_files_are_errors() {
    let bytes = std::fs::read(format!("{DIR}/ci8x8_small.safetensors")).unwrap();
    let dir = std::env::temp_dir().join(format!("cosmos-tokenizer-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let truncated = dir.join("Cosmos-Tokenizer-CI8x8-truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = Tokenizer::load(&truncated, None, &Device::flex()).unwrap_err();
    assert!(matches!(err, Error::Checkpoint(_)), "{err:?}");
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint at all").unwrap();
    let config = TokenizerConfig::preset("CI8x8").unwrap();
    assert!(Tokenizer::load(&garbage, Some(config), &Device::flex()).is_err());
    // A folder with no checkpoint and no config.
    let err = Tokenizer::load(dir.join("missing"), None, &Device::flex()).unwrap_err();
    assert!(
        err.to_string().contains("cannot tell") || err.to_string().contains("no such"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_configs_are_config_errors() {
    let json = serde_json::json!({"name": "CV", "channels": 8});
    assert!(matches!(
        TokenizerConfig::from_json(&json),
        Err(Error::Config(_))
    ));
    let mut config = common::small_config("CV");
    config.channels_mult = vec![];
    assert!(matches!(
        Tokenizer::random(config, &Device::flex()),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        TokenizerConfig::preset("XV8x8x8"),
        Err(Error::UnknownPreset { .. })
    ));
}
