//! Decoding on other threads: FFmpeg decodes and scales frames on a helper thread (with either
//! its own frame threads behind it or, for files whose index lists several keyframes, one
//! single-threaded decoder per keyframe-delimited segment: [`cosmos_media::ParallelFrameReader`])
//! while the caller scores them on its own thread, so the per-frame analysis overlaps with
//! decoding instead of waiting for it. At most [`QUEUE`] frames wait in between (plus the
//! segment decoders' bounded queues), which keeps memory bounded.

use std::path::Path;
use std::sync::mpsc;

use cosmos_media::{ParallelFrameReader, ReadOptions, VideoInfo};
use ndarray::{Array3, ArrayView3};

use crate::error::{Error, Result};

/// Frames decoded ahead of the consumer at most.
pub const QUEUE: usize = 4;

/// What [`for_each_frame`] saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Streamed {
    /// Frames passed to the consumer.
    pub frames: u64,
    /// `(width, height)` of the frames.
    pub size: (u32, u32),
    /// The decoder's damage report, for a damaged but partly decodable file.
    pub damage: Option<String>,
    /// What the container says about the stream.
    pub info: VideoInfo,
    /// Segments decoded in parallel (1: one frame-threaded decoder).
    pub segments: usize,
}

enum Message {
    Frame(Array3<u8>),
    End(Option<String>),
    Failed(Error),
}

/// Decodes `path` with `options` on a helper thread and calls `consume` with every frame
/// (`[H, W, C]`), in order, on the calling thread. An error from either side stops both.
pub fn for_each_frame(
    path: &Path,
    options: &ReadOptions,
    consume: &mut dyn FnMut(ArrayView3<'_, u8>) -> Result<()>,
) -> Result<Streamed> {
    for_each_frame_with(path, options, &mut |_| Ok(None), consume)
}

/// A frame size `(width, height)` chosen by [`for_each_frame_with`]'s `setup`, `None` to keep the
/// options' size.
pub type FrameSize = Option<(u32, u32)>;

/// Like [`for_each_frame`], opening the file once: `setup` runs on the calling thread with the
/// stream's facts before the first frame and may choose the frame size (`Some((width, height))`
/// overrides `options.resize`).
pub fn for_each_frame_with(
    path: &Path,
    options: &ReadOptions,
    setup: &mut dyn FnMut(&VideoInfo) -> Result<FrameSize>,
    consume: &mut dyn FnMut(ArrayView3<'_, u8>) -> Result<()>,
) -> Result<Streamed> {
    type Opened = Result<((u32, u32), VideoInfo, usize)>;
    let (info_sender, info_receiver) = mpsc::sync_channel::<VideoInfo>(1);
    let (size_sender, size_receiver) = mpsc::sync_channel::<Option<(u32, u32)>>(1);
    let (opened_sender, opened_receiver) = mpsc::sync_channel::<Opened>(1);
    let (sender, receiver) = mpsc::sync_channel::<Message>(QUEUE);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let opened = ParallelFrameReader::open_with(path, options, |info| {
                // The caller picks the size on its thread; a closed channel means it gave up.
                if info_sender.send(info.clone()).is_err() {
                    return None;
                }
                size_receiver.recv().ok().flatten()
            });
            let mut reader = match opened {
                Ok(reader) => reader,
                Err(error) => {
                    let _ = opened_sender.send(Err(error.into()));
                    return;
                }
            };
            let facts = (
                reader.output_size(),
                reader.info().clone(),
                reader.segments(),
            );
            if opened_sender.send(Ok(facts)).is_err() {
                return;
            }
            loop {
                let message = match reader.next_frame() {
                    Ok(Some(frame)) => Message::Frame(frame.pixels),
                    Ok(None) => Message::End(reader.damage().map(|d| d.to_string())),
                    Err(error) => Message::Failed(error.into()),
                };
                let last = !matches!(message, Message::Frame(_));
                // A closed channel means the consumer stopped: stop decoding too.
                if sender.send(message).is_err() || last {
                    return;
                }
            }
        });
        // Owned here, so that all receivers are dropped when this closure returns, before the
        // scope waits for the decoding thread: a decoder blocked on a full queue then sees the
        // closed channel and stops instead of waiting forever.
        let (receiver, info_receiver, opened_receiver, size_sender) =
            (receiver, info_receiver, opened_receiver, size_sender);
        let stopped = || Error::Input {
            path: path.to_path_buf(),
            reason: "the decoding thread stopped".into(),
        };
        // No info arrives when the file does not open: the error comes on `opened` then.
        if let Ok(info) = info_receiver.recv() {
            let size = setup(&info)?;
            size_sender.send(size).map_err(|_| stopped())?;
        }
        let (size, info, segments) = opened_receiver.recv().map_err(|_| stopped())??;
        let mut frames = 0u64;
        for message in receiver.iter() {
            match message {
                Message::Frame(pixels) => {
                    consume(pixels.view())?;
                    frames += 1;
                }
                Message::End(damage) => {
                    return Ok(Streamed {
                        frames,
                        size,
                        damage,
                        info,
                        segments,
                    });
                }
                Message::Failed(error) => return Err(error),
            }
        }
        Err(stopped())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bikes() -> std::path::PathBuf {
        std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/media/bikes.mp4"
        ))
    }

    #[test]
    fn frames_arrive_in_order_and_a_consumer_error_stops_decoding() {
        let options = ReadOptions::default().resize(64, 28).keep_damaged();
        let mut sizes = Vec::new();
        let streamed = for_each_frame(&bikes(), &options, &mut |frame| {
            sizes.push(frame.dim());
            Ok(())
        })
        .unwrap();
        assert_eq!(streamed.frames, 250);
        assert_eq!(streamed.size, (64, 28));
        assert!(sizes.iter().all(|&d| d == (28, 64, 3)));
        // The consumer fails at frame 3 while the decoder is ahead of it: no deadlock, the
        // consumer's error comes back.
        let mut seen = 0;
        let result = for_each_frame(&bikes(), &options, &mut |_| {
            seen += 1;
            if seen == 3 {
                Err(Error::Config("stop".into()))
            } else {
                Ok(())
            }
        });
        assert!(matches!(result, Err(Error::Config(_))), "{result:?}");
        assert_eq!(seen, 3);
        assert!(for_each_frame(Path::new("/nonexistent.mp4"), &options, &mut |_| Ok(())).is_err());
    }
}
