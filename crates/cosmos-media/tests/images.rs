//! Images, GIF, model-layout conversions and metrics on the real test files in testdata/media.

use cosmos_media::{
    AlphaMode, Error, ReadOptions, frames_to_model, gif_delay_centiseconds, image_to_model,
    model_to_frames, model_to_image, psnr, psnr_video, read_gif, read_image, read_image_with,
    read_video, ssim, write_gif, write_image,
};
use ndarray::{Array3, Axis, s};

mod common;
use common::{ASTRONAUT, CARPHONE, SQUIRREL};

#[test]
fn reads_rgb_and_rgba_pngs() {
    let astronaut = read_image(ASTRONAUT).unwrap();
    assert_eq!(astronaut.shape(), &[512, 512, 3]);
    assert!(astronaut.iter().any(|&v| v > 200) && astronaut.iter().any(|&v| v < 30));

    let squirrel = read_image(SQUIRREL).unwrap();
    assert_eq!(squirrel.shape(), &[764, 1024, 3]);
    // Dropping alpha keeps the stored colours: the same bytes as the RGBA decode's first channels.
    let rgba = image::open(SQUIRREL).unwrap().to_rgba8();
    let pixel = rgba.get_pixel(300, 200).0;
    assert_eq!(
        [
            squirrel[[200, 300, 0]],
            squirrel[[200, 300, 1]],
            squirrel[[200, 300, 2]]
        ],
        [pixel[0], pixel[1], pixel[2]]
    );
}

#[test]
fn alpha_is_dropped_or_composited_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alpha.png");
    let mut rgba = image::RgbaImage::new(2, 1);
    rgba.put_pixel(0, 0, image::Rgba([200, 100, 0, 0]));
    rgba.put_pixel(1, 0, image::Rgba([200, 100, 0, 128]));
    rgba.save(&path).unwrap();

    let dropped = read_image(&path).unwrap();
    assert_eq!(dropped.as_slice().unwrap(), &[200, 100, 0, 200, 100, 0]);
    let over_white = read_image_with(&path, AlphaMode::Over([255, 255, 255])).unwrap();
    // Transparent → background; alpha 128 → (c·128 + 255·127) / 255 rounded: 57985 / 255 = 227.4.
    assert_eq!(
        over_white.as_slice().unwrap(),
        &[255, 255, 255, 227, 177, 127]
    );
}

#[test]
fn png_is_lossless_and_jpeg_close() {
    let dir = tempfile::tempdir().unwrap();
    let astronaut = read_image(ASTRONAUT).unwrap();
    let crop = astronaut.slice(s![100..164, 200..296, ..]);
    let png = dir.path().join("crop.png");
    write_image(&png, crop).unwrap();
    assert_eq!(read_image(&png).unwrap(), crop);
    let jpeg = dir.path().join("crop.JPG");
    write_image(&jpeg, crop).unwrap();
    let back = read_image(&jpeg).unwrap();
    assert_eq!(back.shape(), crop.shape());
    let quality = psnr(crop, back.view()).unwrap();
    assert!(quality > 36.0 && quality.is_finite(), "{quality}");
}

#[test]
fn image_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        read_image(dir.path().join("missing.png")),
        Err(Error::NotFound { .. })
    ));
    let image = Array3::<u8>::zeros((4, 4, 3));
    assert!(matches!(
        write_image(dir.path().join("x.bmp"), image.view()),
        Err(Error::UnsupportedImage { .. })
    ));
    assert!(matches!(
        write_image(
            dir.path().join("x.png"),
            Array3::<u8>::zeros((4, 4, 4)).view()
        ),
        Err(Error::Shape { .. })
    ));
    // A BMP header: recognised, but not a format this crate reads.
    let mut bmp = b"BM".to_vec();
    bmp.resize(64, 0);
    std::fs::write(dir.path().join("x.bmp"), &bmp).unwrap();
    assert!(matches!(
        read_image(dir.path().join("x.bmp")),
        Err(Error::UnsupportedImage { .. })
    ));
    // A PNG name on bytes that are no PNG: a decode error.
    std::fs::write(dir.path().join("fake.png"), b"definitely not an image").unwrap();
    assert!(matches!(
        read_image(dir.path().join("fake.png")),
        Err(Error::Image { .. } | Error::UnsupportedImage { .. })
    ));
}

#[test]
fn gif_round_trip_keeps_frames_size_and_rate() {
    let dir = tempfile::tempdir().unwrap();
    let clip = read_video(CARPHONE, &ReadOptions::default().range(0, 10)).unwrap();
    let path = dir.path().join("clip.gif");
    write_gif(&path, clip.frames.view(), clip.fps).unwrap();

    let back = read_gif(&path).unwrap();
    assert_eq!(back.frames.shape(), &[10, 144, 176, 3]);
    assert_eq!(gif_delay_centiseconds(clip.fps), 3);
    assert!((back.fps - 100.0 / 3.0).abs() < 1e-9, "{}", back.fps);
    let quality = psnr_video(clip.frames.view(), back.frames.view()).unwrap();
    assert!(quality.mean > 30.0, "256-colour quantisation: {quality:?}");

    // FFmpeg reads it too.
    let decoded = read_video(&path, &ReadOptions::default()).unwrap();
    assert_eq!(decoded.len(), 10);
    assert!(matches!(
        write_gif(&path, clip.frames.slice(s![..0, .., .., ..]), 25.0),
        Err(Error::NoFrames { .. })
    ));
}

#[test]
fn model_layouts_round_trip_real_frames() {
    let clip = read_video(CARPHONE, &ReadOptions::default().range(0, 4)).unwrap();
    let tensor = frames_to_model(clip.frames.view()).unwrap();
    assert_eq!(tensor.shape(), &[3, 4, 144, 176]);
    assert!(tensor.is_standard_layout());
    assert!(tensor.iter().all(|v| (-1.0..=1.0).contains(v)));
    assert!(
        (tensor[[1, 2, 10, 20]] - (clip.frames[[2, 10, 20, 1]] as f32 / 127.5 - 1.0)).abs() < 1e-6
    );
    assert_eq!(model_to_frames(tensor.view()).unwrap(), clip.frames);

    // A model output slightly off and out of range comes back clamped and rounded.
    let noisy = tensor.mapv(|v| v * 1.5 + 0.001);
    let frames = model_to_frames(noisy.view()).unwrap();
    let permuted = noisy.permuted_axes([1, 2, 3, 0]);
    let (mut high, mut low) = (0, 0);
    ndarray::Zip::from(&frames)
        .and(&permuted)
        .for_each(|&byte, &value| {
            if value >= 1.0 {
                assert_eq!(byte, 255);
                high += 1;
            } else if value <= -1.0 {
                assert_eq!(byte, 0);
                low += 1;
            }
        });
    assert!(
        high > 0 && low > 0,
        "{high} clamped high, {low} clamped low"
    );

    let image = read_image(ASTRONAUT).unwrap();
    let tensor = image_to_model(image.view()).unwrap();
    assert_eq!(tensor.shape(), &[3, 512, 512]);
    assert_eq!(model_to_image(tensor.view()).unwrap(), image);
}

#[test]
fn metrics_on_real_frames_behave() {
    let clip = read_video(CARPHONE, &ReadOptions::default().range(0, 30)).unwrap();
    let first = clip.frames.index_axis(Axis(0), 0);
    assert_eq!(psnr(first, first).unwrap(), f64::INFINITY);
    assert!((ssim(first, first).unwrap() - 1.0).abs() < 1e-12);
    // Farther apart in time → less similar.
    let near = ssim(first, clip.frames.index_axis(Axis(0), 1)).unwrap();
    let far = ssim(first, clip.frames.index_axis(Axis(0), 29)).unwrap();
    assert!(
        near > far && near < 1.0 && far > 0.0,
        "near {near}, far {far}"
    );
}
