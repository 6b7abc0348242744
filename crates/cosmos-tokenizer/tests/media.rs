//! Real images and videos through small random tokenizers (feature `media`): plumbing,
//! shapes, frame counts, colour range and error handling. With random weights the scores
//! mean nothing, so only their presence and range are checked.
#![cfg(feature = "media")]

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use cosmos_tokenizer::Error;
use cosmos_tokenizer::media::{
    TokenizeOptions, decode_latents, image_to_tensor, read_latents, tensor_to_image,
    tokenize_image, tokenize_video, video_writer, write_latents,
};

const MEDIA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/media");

fn media(name: &str) -> PathBuf {
    Path::new(MEDIA).join(name)
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cosmos-tokenizer-media-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn image_colour_range_maps_to_minus_one_one() {
    let image =
        ndarray::Array3::from_shape_fn((2, 2, 3), |(y, x, c)| [0u8, 255, 128][(y + x + c) % 3]);
    let x = image_to_tensor(image.view(), &Device::flex()).unwrap();
    assert_eq!(x.dims(), [1, 3, 2, 2]);
    let min = x.clone().min().into_scalar::<f32>();
    let max = x.clone().max().into_scalar::<f32>();
    assert_eq!((min, max), (-1.0, 1.0));
    assert_eq!(tensor_to_image(x).unwrap(), image);
}

#[test]
fn png_image_round_trips_through_a_random_image_tokenizer() {
    let tokenizer = common::small("CI", 31);
    let options = TokenizeOptions {
        resize: Some((60, 44)),
        ..TokenizeOptions::default()
    };
    let result = tokenize_image(&tokenizer, &media("astronaut.png"), &options).unwrap();
    // 60×44 is padded to 64×48 (multiples of 8): latent 8×6.
    assert_eq!(result.encoded.latent.dims(), [1, 16, 1, 6, 8]);
    assert_eq!(result.size, (44, 60));
    let image = result.reconstruction.as_ref().unwrap();
    assert_eq!(image.dim(), (44, 60, 3));
    let psnr = result.psnr.unwrap();
    let ssim = result.ssim.unwrap();
    assert!(psnr.is_finite() && psnr > 0.0, "{psnr}");
    assert!((-1.0..=1.0).contains(&ssim), "{ssim}");
    let out = temp("astronaut.png");
    cosmos_tokenizer::media::write_image(&out, image).unwrap();
    assert_eq!(cosmos_media::read_image(&out).unwrap().dim(), (44, 60, 3));
}

#[test]
fn rgba_png_is_read_as_rgb_and_discrete_indices_are_in_range() {
    let tokenizer = common::small("DI", 32);
    let options = TokenizeOptions {
        resize: Some((32, 24)),
        decode: false,
        ..TokenizeOptions::default()
    };
    let result = tokenize_image(
        &tokenizer,
        &media("squirrel_cosmos_tokenizer_test_image.png"),
        &options,
    )
    .unwrap();
    let indices = result.encoded.indices.unwrap();
    assert_eq!(indices.dims(), [1, 1, 3, 4]);
    assert!(indices.clone().min().into_scalar::<i64>() >= 0);
    assert!(indices.max().into_scalar::<i64>() < 64_000);
    assert!(result.psnr.is_none() && result.reconstruction.is_none());
}

#[test]
fn mp4_video_goes_through_in_windows_and_is_written_back() {
    let tokenizer = common::small("CV", 33);
    let options = TokenizeOptions {
        window: Some(9),
        max_frames: Some(12),
        resize: Some((64, 32)),
        ..TokenizeOptions::default()
    };
    let out = temp("bikes.mp4");
    let mut writer = None;
    let mut seen = Vec::new();
    let result = tokenize_video(
        &tokenizer,
        &media("bikes.mp4"),
        &options,
        |frames| {
            let (t, h, w, _) = frames.dim();
            let writer = writer.get_or_insert_with(|| video_writer(&out, w, h, 25.0).unwrap());
            for i in 0..t {
                writer
                    .write_frame(frames.index_axis(ndarray::Axis(0), i))
                    .unwrap();
            }
            Ok(())
        },
        |p| seen.push(p.done),
    )
    .unwrap();
    writer.unwrap().finish().unwrap();
    // Windows of 9 and 3 frames (the last padded to 9): 2 + 2 latent frames.
    assert_eq!(result.frames, 12);
    assert_eq!(result.encoded.latent.dims(), [1, 16, 4, 4, 8]);
    assert_eq!(seen, vec![0, 9, 12]);
    assert!(result.psnr.unwrap().is_finite());
    let back = cosmos_media::read_video(&out, &cosmos_media::ReadOptions::default()).unwrap();
    assert_eq!(back.frames.dim(), (12, 32, 64, 3));

    // The latents file decodes to the same number of frames at the same size.
    let latents = temp("bikes.safetensors");
    write_latents(
        &latents,
        &result.encoded,
        &result.metadata(&tokenizer, "test"),
    )
    .unwrap();
    let (encoded, metadata) = read_latents(&latents, &Device::flex()).unwrap();
    assert_eq!(metadata["frames"], "12");
    let frames = decode_latents(&tokenizer, &encoded, &metadata).unwrap();
    assert_eq!(frames.dim(), (12, 32, 64, 3));
}

#[test]
fn discrete_latents_file_keeps_indices() {
    let tokenizer = common::small("DV", 34);
    let options = TokenizeOptions {
        max_frames: Some(9),
        resize: Some((32, 32)),
        decode: false,
        ..TokenizeOptions::default()
    };
    let result = tokenize_video(
        &tokenizer,
        &media("carphone_pristine.mp4"),
        &options,
        |_| Ok(()),
        |_| {},
    )
    .unwrap();
    let path = temp("carphone.safetensors");
    write_latents(&path, &result.encoded, &result.metadata(&tokenizer, "test")).unwrap();
    let (encoded, _) = read_latents(&path, &Device::flex()).unwrap();
    assert_eq!(
        encoded.indices.unwrap().into_data().convert::<i64>(),
        result.encoded.indices.unwrap().into_data().convert::<i64>()
    );
}

#[test]
fn truncated_video_is_a_typed_error() {
    let bytes = std::fs::read(media("bikes.mp4")).unwrap();
    let path = temp("truncated.mp4");
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    let tokenizer = common::small("CV", 35);
    let options = TokenizeOptions {
        resize: Some((32, 16)),
        ..TokenizeOptions::default()
    };
    let err = tokenize_video(&tokenizer, &path, &options, |_| Ok(()), |_| {}).unwrap_err();
    assert!(matches!(err, Error::Media(_)), "{err:?}");
    let missing = tokenize_video(
        &tokenizer,
        &temp("missing.mp4"),
        &options,
        |_| Ok(()),
        |_| {},
    );
    assert!(matches!(missing, Err(Error::Media(_))));
    let not_image = tokenize_image(&tokenizer, &media("README.md"), &options);
    assert!(not_image.is_err());
}
