//! Decoding on a second thread: FFmpeg decodes and scales frames on one thread (with its own
//! frame threads behind it) while the caller scores them on another, so the per-frame analysis
//! overlaps with decoding instead of waiting for it. At most [`QUEUE`] frames wait in between,
//! which keeps memory bounded.

use std::path::Path;
use std::sync::mpsc;

use cosmos_media::{FrameReader, ReadOptions};
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
    let (size_sender, size_receiver) = mpsc::sync_channel::<Result<(u32, u32)>>(1);
    let (sender, receiver) = mpsc::sync_channel::<Message>(QUEUE);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut reader = match FrameReader::open(path, options) {
                Ok(reader) => reader,
                Err(error) => {
                    let _ = size_sender.send(Err(error.into()));
                    return;
                }
            };
            if size_sender.send(Ok(reader.output_size())).is_err() {
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
        // Owned here, so that both receivers are dropped when this closure returns, before the
        // scope waits for the decoding thread: a decoder blocked on a full queue then sees the
        // closed channel and stops instead of waiting forever.
        let (receiver, size_receiver) = (receiver, size_receiver);
        let size = size_receiver.recv().map_err(|_| Error::Input {
            path: path.to_path_buf(),
            reason: "the decoding thread stopped".into(),
        })??;
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
                    });
                }
                Message::Failed(error) => return Err(error),
            }
        }
        Err(Error::Input {
            path: path.to_path_buf(),
            reason: "the decoding thread stopped".into(),
        })
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
