//! Temporal windows and spatial tiles.

mod common;

use burn::tensor::{Device, Distribution, Tensor};
use cosmos_tokenizer::Chunking;

fn video(shape: [usize; 5], seed: u64) -> Tensor<5> {
    let device = Device::flex();
    device.seed(seed);
    Tensor::random(shape, Distribution::Uniform(-1.0, 1.0), &device)
}

fn max_diff(a: Tensor<5>, b: Tensor<5>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

#[test]
fn windows_are_encoded_independently_like_the_reference_pipeline() {
    let tokenizer = common::small("CV", 21);
    let x = video([1, 3, 26, 16, 16], 1);
    let chunking = Chunking::window(17);
    // 26 frames = a 17-frame window and a 9-frame one.
    let encoded = tokenizer.encode_chunked(x.clone(), &chunking).unwrap();
    assert_eq!(encoded.latent.dims(), [1, 16, 3 + 2, 2, 2]);
    let first = tokenizer.encode(x.clone().narrow(2, 0, 17)).unwrap().latent;
    let second = tokenizer.encode(x.narrow(2, 17, 9)).unwrap().latent;
    let expected = Tensor::cat(vec![first, second], 2);
    assert!(max_diff(encoded.latent.clone(), expected) < 1e-6);
    let decoded = tokenizer.decode_chunked(encoded.latent, &chunking).unwrap();
    assert_eq!(decoded.dims(), [1, 3, 26, 16, 16]);
}

#[test]
fn a_last_window_that_is_not_one_plus_multiple_is_refused() {
    let tokenizer = common::small("CV", 22);
    let err = tokenizer
        .encode_chunked(video([1, 3, 20, 16, 16], 2), &Chunking::window(17))
        .unwrap_err();
    assert!(err.to_string().contains("pad_frames"), "{err}");
    assert!(
        tokenizer
            .encode_chunked(video([1, 3, 9, 16, 16], 2), &Chunking::window(8))
            .is_err()
    );
}

#[test]
fn tiles_as_large_as_the_frame_change_nothing() {
    let tokenizer = common::small("DV", 23);
    let x = video([1, 3, 9, 16, 24], 3);
    let whole = tokenizer.encode(x.clone()).unwrap();
    let tiled = tokenizer.encode_tiled(x, Some(32), 8).unwrap();
    assert_eq!(
        tiled.indices.unwrap().into_data(),
        whole.indices.unwrap().into_data()
    );
}

#[test]
fn tiled_encoding_keeps_each_tiles_interior() {
    let tokenizer = common::small("DV", 24);
    let x = video([1, 3, 9, 16, 40], 4);
    // Tiles of 24 px overlapping by 8: starts 0 and 16 (latent 0..3 and 2..5), split at 3 (latent units... ceil).
    let tiled = tokenizer.encode_tiled(x.clone(), Some(24), 8).unwrap();
    let indices = tiled.indices.unwrap();
    assert_eq!(indices.dims(), [1, 2, 2, 5]);
    let left = tokenizer
        .encode(x.clone().narrow(4, 0, 24))
        .unwrap()
        .indices
        .unwrap();
    let right = tokenizer
        .encode(x.narrow(4, 16, 24))
        .unwrap()
        .indices
        .unwrap();
    // Latent columns 0..3 come from the left tile, 3..5 from the right one (columns 1..3 of it).
    assert_eq!(
        indices.clone().narrow(3, 0, 3).into_data(),
        left.narrow(3, 0, 3).into_data()
    );
    assert_eq!(
        indices.narrow(3, 3, 2).into_data(),
        right.narrow(3, 1, 2).into_data()
    );
}

#[test]
fn tiled_decoding_blends_only_where_tiles_overlap() {
    let tokenizer = common::small("CV", 25);
    let latent = video([1, 16, 2, 2, 6], 5);
    // Latent tiles of 4 columns overlapping by 2: columns 0..4 and 2..6.
    let tiled = tokenizer.decode_tiled(latent.clone(), Some(4), 2).unwrap();
    assert_eq!(tiled.dims(), [1, 3, 9, 16, 48]);
    let left = tokenizer.decode(latent.clone().narrow(4, 0, 4)).unwrap();
    let right = tokenizer.decode(latent.narrow(4, 2, 4)).unwrap();
    // Pixels 0..16 are only in the left tile, 32..48 only in the right one.
    assert!(max_diff(tiled.clone().narrow(4, 0, 16), left.narrow(4, 0, 16)) < 1e-5);
    assert!(max_diff(tiled.narrow(4, 32, 16), right.narrow(4, 16, 16)) < 1e-5);
}

#[test]
fn invalid_chunkings_are_config_errors() {
    let tokenizer = common::small("CV", 26);
    let x = video([1, 3, 9, 16, 16], 6);
    let bad_tile = Chunking::window(9).with_tiles(12, 0);
    assert!(tokenizer.encode_chunked(x.clone(), &bad_tile).is_err());
    let bad_overlap = Chunking::window(9).with_tiles(16, 16);
    assert!(tokenizer.encode_chunked(x, &bad_overlap).is_err());
}
