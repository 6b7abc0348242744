//! Small FFmpeg helpers shared by the decoder and the encoder: one-time initialisation, path
//! checks (ffmpeg-next panics on paths that are not UTF-8), container recognition, colour matrices.

use std::ffi::{CStr, c_int};
use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

use video_rs::ffmpeg;

use crate::error::{Error, Result};

/// Initialises FFmpeg once per process. video-rs routes FFmpeg's log lines into `tracing`, so a
/// damaged file does not spray decoder complaints over stderr; a `tracing` subscriber shows them.
pub(crate) fn ensure_init() -> Result<()> {
    static INIT: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| video_rs::init().map_err(|error| error.to_string()))
        .clone()
        .map_err(|reason| Error::Ffmpeg {
            path: Default::default(),
            operation: "initialise",
            reason,
        })
}

/// Checks that `path` is an existing file and returns it as the `&str` FFmpeg needs.
pub(crate) fn existing_file_str(path: &Path) -> Result<&str> {
    let metadata = std::fs::metadata(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            Error::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    if !metadata.is_file() {
        return Err(Error::NotAVideo {
            path: path.to_path_buf(),
            reason: "not a regular file".into(),
        });
    }
    ffmpeg_path_str(path)
}

/// The path as UTF-8 without NUL bytes (ffmpeg-next unwraps both conversions).
pub(crate) fn ffmpeg_path_str(path: &Path) -> Result<&str> {
    match path.to_str() {
        Some(text) if !text.contains('\0') => Ok(text),
        _ => Err(Error::InvalidArgument(format!(
            "FFmpeg needs a UTF-8 path without NUL bytes, found {}",
            path.display()
        ))),
    }
}

/// Name of the container FFmpeg recognises from the first bytes of the file (not its extension),
/// or `None`. Used to tell a damaged video ("corrupt") from a file that is no video at all.
pub(crate) fn recognised_container(path: &Path) -> Option<String> {
    const PROBE_BYTES: usize = 4096;
    let mut head = Vec::with_capacity(PROBE_BYTES);
    std::fs::File::open(path)
        .ok()?
        .take(PROBE_BYTES as u64)
        .read_to_end(&mut head)
        .ok()?;
    if head.is_empty() {
        return None;
    }
    let size = head.len();
    // FFmpeg's probe functions may read up to AVPROBE_PADDING_SIZE zeroed bytes past the end.
    head.resize(size + ffmpeg::ffi::AVPROBE_PADDING_SIZE as usize, 0);
    let probe = ffmpeg::ffi::AVProbeData {
        filename: c"".as_ptr(),
        buf: head.as_mut_ptr(),
        buf_size: size as c_int,
        mime_type: std::ptr::null(),
    };
    // Half of the maximum: a real signature (MP4 `ftyp`, Matroska EBML, ...) scores 100, loose
    // guesses on arbitrary bytes score low.
    let mut score: c_int = ffmpeg::ffi::AVPROBE_SCORE_MAX / 2;
    // SAFETY: `probe` points at `head`, which lives to the end of this function and carries the
    // zero padding FFmpeg requires; FFmpeg only reads it. The returned format is a static table
    // entry whose `name` is a static NUL-terminated string.
    unsafe {
        let format = ffmpeg::ffi::av_probe_input_format2(&probe, 1, &mut score);
        if format.is_null() || (*format).name.is_null() {
            return None;
        }
        Some(
            CStr::from_ptr((*format).name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// Makes `scaler` convert YUV input with the matrix and range the frame declares (BT.709 for
/// most HD video, full range for phone footage) instead of swscale's BT.601 limited-range
/// default. Unspecified colour spaces keep BT.601, like the FFmpeg command line.
pub(crate) fn set_source_colorspace(
    scaler: &mut ffmpeg::software::scaling::Context,
    frame: &ffmpeg::frame::Video,
) {
    // SAFETY: the scaler and frame pointers are valid for the duration of the call; swscale
    // copies the coefficient tables it is given, and `sws_getCoefficients` returns a static table
    // for any input (out-of-range values fall back to the default).
    unsafe {
        let context = scaler.as_mut_ptr();
        let mut inv_table: *mut c_int = std::ptr::null_mut();
        let mut table: *mut c_int = std::ptr::null_mut();
        let (mut src_range, mut dst_range) = (0, 0);
        let (mut brightness, mut contrast, mut saturation) = (0, 0, 0);
        let status = ffmpeg::ffi::sws_getColorspaceDetails(
            context,
            &mut inv_table,
            &mut src_range,
            &mut table,
            &mut dst_range,
            &mut brightness,
            &mut contrast,
            &mut saturation,
        );
        if status < 0 {
            // The conversion does not involve YUV; nothing to set.
            return;
        }
        let raw = frame.as_ptr();
        let colorspace = (*raw).colorspace as c_int;
        let full_range = (*raw).color_range == ffmpeg::ffi::AVColorRange::AVCOL_RANGE_JPEG;
        let coefficients = ffmpeg::ffi::sws_getCoefficients(colorspace);
        ffmpeg::ffi::sws_setColorspaceDetails(
            context,
            coefficients,
            if full_range { 1 } else { src_range },
            table,
            dst_range,
            brightness,
            contrast,
            saturation,
        );
    }
}

/// Converts a frame rate to a rational, recognising the NTSC family (24000/1001, 30000/1001,
/// 60000/1001) so that 29.97 is stored exactly as 30000/1001.
pub(crate) fn fps_to_rational(fps: f64) -> ffmpeg::Rational {
    for den in [1_i32, 1001, 1000] {
        let num = (fps * den as f64).round();
        if num >= 1.0 && num < i32::MAX as f64 && (fps - num / den as f64).abs() <= 1e-5 * fps {
            let num = num as i32;
            let divisor = gcd(num, den);
            return ffmpeg::Rational::new(num / divisor, den / divisor);
        }
    }
    let num = (fps * 1000.0).round().clamp(1.0, i32::MAX as f64) as i32;
    let divisor = gcd(num, 1000);
    ffmpeg::Rational::new(num / divisor, 1000 / divisor)
}

fn gcd(mut a: i32, mut b: i32) -> i32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// A rational as f64, 0.0 when it is not a positive finite value.
pub(crate) fn rational_to_f64(value: ffmpeg::Rational) -> f64 {
    if value.numerator() > 0 && value.denominator() > 0 {
        value.numerator() as f64 / value.denominator() as f64
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntsc_rates_become_exact_rationals() {
        assert_eq!(fps_to_rational(25.0), ffmpeg::Rational::new(25, 1));
        assert_eq!(fps_to_rational(29.97), ffmpeg::Rational::new(30000, 1001));
        assert_eq!(
            fps_to_rational(30000.0 / 1001.0),
            ffmpeg::Rational::new(30000, 1001)
        );
        assert_eq!(fps_to_rational(23.976), ffmpeg::Rational::new(24000, 1001));
        assert_eq!(fps_to_rational(12.5), ffmpeg::Rational::new(25, 2));
    }
}
