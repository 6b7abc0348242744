//! Decoding a whole video with one single-threaded decoder per keyframe-delimited segment, frames
//! delivered in order: [`ParallelFrameReader`] and [`keyframes`].
//!
//! A decoder started on a keyframe needs nothing before it, so the segments between keyframes
//! decode independently. Segments cost no more CPU time than one single-threaded decode, while
//! FFmpeg's frame threads wait on each other's reference pictures and synchronise, spending more
//! CPU time for little shorter wall time (measured in docs/performance.md).
//!
//! Segments are cut at the keyframes of the container's index (MP4/MOV `stss`; Matroska cues).
//! A worker seeks to its segment's keyframe and returns the frames whose timestamps lie between
//! that keyframe's and the next keyframe's, decoding on past the next keyframe for the leading
//! pictures of an open GOP that belong to its segment. Frames are handed over through one bounded
//! queue per segment and read in segment order, so memory stays bounded and the caller sees
//! exactly the sequence a single decoder produces.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use ndarray::Array3;

use crate::decode::{FrameReader, ReadOptions, VideoFrame};
use crate::error::{Error, Result};
use crate::ffmpeg_util::rational_to_f64;
use crate::video::{Damage, DamagePolicy, VideoInfo};

/// A keyframe listed in a container's index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Keyframe {
    /// Position of the keyframe in decode order (0-based); in streams whose GOPs are closed (no
    /// picture displayed before a keyframe depends on the previous GOP) this is its frame index.
    pub position: u64,
    /// Decode time in seconds from the first packet.
    pub time_s: f64,
}

/// Keyframes of the best video stream, from the container's index, without decoding anything.
/// Empty when the container keeps no index (MPEG-TS, raw streams).
pub fn keyframes(path: impl AsRef<Path>) -> Result<Vec<Keyframe>> {
    let reader = FrameReader::open(
        path,
        &ReadOptions {
            threads: 1,
            ..ReadOptions::default()
        },
    )?;
    let (list, _) = reader.index_keyframes();
    let time_base = rational_to_f64(reader.time_base());
    let origin = list.first().map_or(0, |&(_, dts)| dts);
    Ok(list
        .into_iter()
        .map(|(position, dts)| Keyframe {
            position,
            time_s: (dts - origin) as f64 * time_base,
        })
        .collect())
}

/// Memory the frames queued ahead of the consumer may take, per worker.
const QUEUE_BYTES: usize = 64 << 20;

enum Message {
    Frame(Option<f64>, Vec<u8>),
    End,
    Failed(Error),
}

struct Workers {
    receivers: Vec<mpsc::Receiver<Message>>,
    current: usize,
    handles: Vec<JoinHandle<Damage>>,
    frame_shape: (usize, usize, usize),
}

enum Mode {
    Sequential(Box<FrameReader>),
    Parallel(Workers),
}

/// Decodes a whole video with one decoder per keyframe-delimited segment on several threads and
/// returns the frames in order, as one [`FrameReader`] would.
///
/// [`ParallelFrameReader::open`] decides how to decode: segments in parallel when `options` asks
/// for the whole stream (`start` 0, stride 1, no `max_frames`), the container's index lists at
/// least two keyframes, more than one worker is allowed (`options.threads`; 0: one per core) and
/// the segments are balanced enough to beat one frame-threaded decoder (the largest holds at most
/// `1 / (0.75 * workers)` of the frames); otherwise one [`FrameReader`] with `options.threads`
/// frame threads. [`ParallelFrameReader::segments`] tells which was chosen.
///
/// Frame indices are counted from 0 in output order. Damage is handled as by [`FrameReader`]: with
/// [`DamagePolicy::Fail`] the first damage is an error, with [`DamagePolicy::Keep`]
/// [`ParallelFrameReader::damage`] reports it after the last frame (counts summed over the
/// segments; `packets_read` and `decoded_frames` are the frames returned). Failures of the
/// segment machinery itself (a seek that does not land on its keyframe, timestamps missing) are
/// errors for which [`Error::is_segment_failure`] is true: read the file again with
/// `threads: 1`, which decodes it with one decoder.
///
/// ```no_run
/// use cosmos_media::{ParallelFrameReader, ReadOptions, ScaleFilter};
/// # fn main() -> cosmos_media::Result<()> {
/// let options = ReadOptions::default().scale_filter(ScaleFilter::FastBilinear);
/// let reader = ParallelFrameReader::open_with("video.mp4", &options, |info| {
///     Some((info.width / 4, info.height / 4))
/// })?;
/// for frame in reader {
///     let frame = frame?;
///     println!("frame {}: {:?}", frame.index, frame.pixels.dim());
/// }
/// # Ok(())
/// # }
/// ```
pub struct ParallelFrameReader {
    path: PathBuf,
    info: VideoInfo,
    fps: f64,
    output_size: (u32, u32),
    segments: usize,
    on_damage: DamagePolicy,
    mode: Mode,
    next_index: u64,
    damage: Option<Damage>,
    finished: bool,
}

impl ParallelFrameReader {
    /// Opens `path` with `options` (see the type's documentation for how it decodes).
    pub fn open(path: impl AsRef<Path>, options: &ReadOptions) -> Result<Self> {
        Self::open_with(path, options, |_| None)
    }

    /// Like [`open`](Self::open), with the output size chosen from the stream's facts:
    /// `resize(info)` overrides `options.resize` when it returns a size. The file is opened once
    /// for probing and decoding.
    pub fn open_with(
        path: impl AsRef<Path>,
        options: &ReadOptions,
        resize: impl FnOnce(&VideoInfo) -> Option<(u32, u32)>,
    ) -> Result<Self> {
        let path = path.as_ref();
        let mut first = FrameReader::open(path, options)?;
        let info = first.info().clone();
        let mut options = options.clone();
        if let Some((width, height)) = resize(&info) {
            options = options.resize(width, height);
            options.validate()?;
        }
        let size = options.resize.unwrap_or((info.width, info.height));
        first.set_output_size(size);
        let fps = first.fps();
        let workers = match options.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let whole = options.start == 0 && options.stride == 1 && options.max_frames.is_none();
        let plan = if whole && workers > 1 {
            plan_segments(&first, workers)
        } else {
            None
        };
        let (mode, segments) = match plan {
            Some(plan) => {
                let segments = plan.keyframes.len();
                let workers = spawn_workers(path, &options, size, first, plan, workers)?;
                (Mode::Parallel(workers), segments)
            }
            None => (Mode::Sequential(Box::new(first)), 1),
        };
        Ok(Self {
            path: path.to_path_buf(),
            info,
            fps,
            output_size: size,
            segments,
            on_damage: options.on_damage,
            mode,
            next_index: 0,
            damage: None,
            finished: false,
        })
    }

    /// What the container says about the stream.
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// Frame rate of the returned frames.
    pub fn fps(&self) -> f64 {
        self.fps
    }

    /// `(width, height)` of the returned frames.
    pub fn output_size(&self) -> (u32, u32) {
        self.output_size
    }

    /// Segments decoded in parallel (1: one frame-threaded decoder).
    pub fn segments(&self) -> usize {
        self.segments
    }

    /// Damage seen, `None` while there is none. Complete once the last frame was returned.
    pub fn damage(&self) -> Option<&Damage> {
        match &self.mode {
            Mode::Sequential(reader) => reader.damage(),
            Mode::Parallel(_) => self.damage.as_ref(),
        }
    }

    /// The next frame in order, or `None` after the last one.
    pub fn next_frame(&mut self) -> Result<Option<VideoFrame>> {
        if self.finished {
            return Ok(None);
        }
        let workers = match &mut self.mode {
            Mode::Sequential(reader) => {
                let frame = reader.next_frame();
                if !matches!(frame, Ok(Some(_))) {
                    self.finished = true;
                }
                return frame;
            }
            Mode::Parallel(workers) => workers,
        };
        loop {
            let Some(receiver) = workers.receivers.get(workers.current) else {
                self.finished = true;
                return self.finish_parallel().map(|()| None);
            };
            match receiver.recv() {
                Ok(Message::Frame(time_s, pixels)) => {
                    let pixels =
                        Array3::from_shape_vec(workers.frame_shape, pixels).map_err(|error| {
                            Error::InvalidArgument(format!("frame buffer: {error}"))
                        })?;
                    let index = self.next_index;
                    self.next_index += 1;
                    return Ok(Some(VideoFrame {
                        index,
                        time_s,
                        pixels,
                    }));
                }
                Ok(Message::End) => workers.current += 1,
                Ok(Message::Failed(error)) => {
                    self.finished = true;
                    return Err(error);
                }
                Err(_) => {
                    self.finished = true;
                    return Err(Error::Ffmpeg {
                        path: self.path.clone(),
                        operation: "decode a segment",
                        reason: "a decoding thread stopped without finishing its segment".into(),
                    });
                }
            }
        }
    }

    /// After the last segment: joins the workers and merges their damage reports.
    fn finish_parallel(&mut self) -> Result<()> {
        let Mode::Parallel(workers) = &mut self.mode else {
            return Ok(());
        };
        let mut total = Damage {
            expected_frames: self.info.frames,
            packets_read: Some(self.next_index),
            decoded_frames: Some(self.next_index),
            ..Damage::default()
        };
        for handle in workers.handles.drain(..) {
            let damage = handle.join().map_err(|_| Error::Ffmpeg {
                path: self.path.clone(),
                operation: "decode a segment",
                reason: "a decoding thread panicked".into(),
            })?;
            total.rejected_packets += damage.rejected_packets;
            total.corrupt_frames += damage.corrupt_frames;
            total.unreadable_packets += damage.unreadable_packets;
            if total.read_error.is_none() {
                total.read_error = damage.read_error;
            }
        }
        if total.any() {
            if self.on_damage == DamagePolicy::Fail {
                return Err(Error::Damaged {
                    path: self.path.clone(),
                    damage: total,
                });
            }
            self.damage = Some(total);
        }
        Ok(())
    }
}

impl Iterator for ParallelFrameReader {
    type Item = Result<VideoFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

impl Drop for ParallelFrameReader {
    fn drop(&mut self) {
        if let Mode::Parallel(workers) = &mut self.mode {
            // Closing the queues first makes blocked workers stop; then they can be joined.
            workers.receivers.clear();
            for handle in workers.handles.drain(..) {
                let _ = handle.join();
            }
        }
    }
}

/// Segments to decode in parallel: the decode timestamps of the keyframes they start at and
/// their lengths in frames (from the index), when parallel decoding is worth it.
struct Plan {
    keyframes: Vec<i64>,
    lengths: Vec<u64>,
}

fn plan_segments(reader: &FrameReader, workers: usize) -> Option<Plan> {
    let (keyframes, entries) = reader.index_keyframes();
    if keyframes.len() < 2 || entries == 0 || keyframes[0].0 != 0 {
        return None;
    }
    let lengths: Vec<u64> = keyframes
        .windows(2)
        .map(|pair| pair[1].0 - pair[0].0)
        .chain(std::iter::once(entries - keyframes[keyframes.len() - 1].0))
        .collect();
    let largest = lengths.iter().copied().max().unwrap_or(entries);
    // One frame-threaded decoder reaches about 0.75x linear scaling at best; the segments win
    // when the longest one (a lower bound on the parallel time) is shorter than that.
    let frame_threaded = entries as f64 / (0.75 * workers as f64);
    (largest as f64 <= frame_threaded).then(|| Plan {
        keyframes: keyframes.into_iter().map(|(_, dts)| dts).collect(),
        lengths,
    })
}

/// Which segments each worker decodes.
#[derive(Debug, Clone, PartialEq)]
enum Schedule {
    /// Workers take the next segment in stream order whenever they are free. Used when the
    /// video does not fit in the queues' memory budget: a worker ahead of the consumer blocks on
    /// its full queue, so memory stays within one queue per worker.
    Shared,
    /// Worker `i` decodes `lists[i]`, in stream order. Used when the whole video fits in the
    /// queues (segments decoded ahead of the consumer wait whole in their queues): the lists are
    /// balanced by frame count (bikes.mp4's six segments: 126 and 124 of 250 frames, where
    /// longest-first taking gave 135 and 115 and stream order 146 and 104).
    Fixed(Vec<Vec<usize>>),
}

fn schedule(lengths: &[u64], workers: usize, budget: usize) -> Schedule {
    // Margin for open-GOP leading pictures, which move a few frames between segments.
    let total: u64 = lengths.iter().map(|&length| length + 16).sum();
    if total <= budget as u64 && workers > 1 {
        Schedule::Fixed(balanced_lists(lengths, workers))
    } else {
        Schedule::Shared
    }
}

/// Splits the segments over `workers` lists with nearly equal frame counts: longest first onto
/// the least loaded list, then single moves and pairwise swaps out of the most loaded list while
/// they lower its load. Each list is in stream order, so the consumer can start on the first
/// segment while the others decode.
fn balanced_lists(lengths: &[u64], workers: usize) -> Vec<Vec<usize>> {
    let workers = workers.clamp(1, lengths.len().max(1));
    let mut lists: Vec<Vec<usize>> = vec![Vec::new(); workers];
    let mut loads = vec![0u64; workers];
    let mut by_length: Vec<usize> = (0..lengths.len()).collect();
    by_length.sort_by_key(|&segment| std::cmp::Reverse(lengths[segment]));
    for segment in by_length {
        let least = (0..workers).min_by_key(|&w| loads[w]).unwrap_or(0);
        lists[least].push(segment);
        loads[least] += lengths[segment];
    }
    // Each accepted exchange lowers the largest load or the number of lists carrying it; the
    // bound only guards against pathological inputs.
    for _ in 0..lengths.len() * lengths.len() + 16 {
        let most = (0..workers).max_by_key(|&w| loads[w]).unwrap_or(0);
        // (resulting larger load of the pair, other list, index in `most`, index in other)
        let mut best: Option<(u64, usize, usize, Option<usize>)> = None;
        for other in (0..workers).filter(|&w| w != most) {
            for (i, &a) in lists[most].iter().enumerate() {
                let moves = std::iter::once(None).chain((0..lists[other].len()).map(Some));
                for j in moves {
                    let b = j.map_or(0, |j| lengths[lists[other][j]]);
                    let a = lengths[a];
                    if b >= a {
                        continue;
                    }
                    let pair = (loads[most] - a + b).max(loads[other] + a - b);
                    if pair < loads[most] && best.is_none_or(|(load, ..)| pair < load) {
                        best = Some((pair, other, i, j));
                    }
                }
            }
        }
        let Some((_, other, i, j)) = best else {
            break;
        };
        let a = lists[most].swap_remove(i);
        loads[most] -= lengths[a];
        loads[other] += lengths[a];
        if let Some(j) = j {
            let b = lists[other].swap_remove(j);
            loads[other] -= lengths[b];
            loads[most] += lengths[b];
            lists[most].push(b);
        }
        lists[other].push(a);
    }
    for list in &mut lists {
        list.sort_unstable();
    }
    lists
}

fn spawn_workers(
    path: &Path,
    options: &ReadOptions,
    size: (u32, u32),
    mut first: FrameReader,
    plan: Plan,
    workers: usize,
) -> Result<Workers> {
    let keyframes = plan.keyframes;
    let channels = options.pixels.channels();
    let frame_shape = (size.1 as usize, size.0 as usize, channels);
    let frame_bytes = frame_shape.0 * frame_shape.1 * channels;
    let queue = (QUEUE_BYTES / frame_bytes.max(1)).clamp(2, 1024);
    let (senders, receivers): (Vec<_>, Vec<_>) = keyframes
        .iter()
        .map(|_| mpsc::sync_channel::<Message>(queue))
        .map(|(sender, receiver)| (Some(sender), receiver))
        .unzip();
    let senders = Arc::new(Mutex::new(senders));
    let keyframes = Arc::new(keyframes);
    let next_segment = Arc::new(AtomicUsize::new(0));
    let budget = workers * QUEUE_BYTES / frame_bytes.max(1);
    let workers = workers.min(keyframes.len());
    let schedule = Arc::new(schedule(&plan.lengths, workers, budget.min(queue)));
    let single = ReadOptions {
        threads: 1,
        ..options.clone()
    };
    first.reopen_decoder(1)?;
    // Demuxers seek by presentation time: keyframes are found at their dts plus the stream's
    // initial pts - dts offset (B-frame delay).
    let shift = first.origin_ts() - keyframes[0];
    first.set_pts_dts_shift(shift);
    let mut readers = vec![first];
    for _ in 1..workers {
        let mut reader = FrameReader::open_for_segments(path, &single)?;
        reader.set_output_size(size);
        reader.set_pts_dts_shift(shift);
        readers.push(reader);
    }
    let handles = readers
        .into_iter()
        .enumerate()
        .map(|(worker, reader)| {
            let reader = Unstarted(reader);
            let senders = Arc::clone(&senders);
            let keyframes = Arc::clone(&keyframes);
            let next_segment = Arc::clone(&next_segment);
            let schedule = Arc::clone(&schedule);
            std::thread::spawn(move || {
                let mut taken = 0;
                let mut next = || match schedule.as_ref() {
                    Schedule::Shared => Some(next_segment.fetch_add(1, Ordering::Relaxed)),
                    Schedule::Fixed(lists) => {
                        taken += 1;
                        lists
                            .get(worker)
                            .and_then(|list| list.get(taken - 1))
                            .copied()
                    }
                };
                run_worker(
                    reader.into_inner(),
                    &senders,
                    &keyframes,
                    &mut next,
                    frame_bytes,
                )
            })
        })
        .collect();
    Ok(Workers {
        receivers,
        current: 0,
        handles,
        frame_shape,
    })
}

/// A reader that has not converted a frame yet, moved to its worker thread.
struct Unstarted(FrameReader);

// SAFETY: FFmpeg's demuxer, decoder and scaler contexts may be used from any thread as long as
// one thread at a time does; the reader is moved to its worker and never shared. (The only field
// that is not `Send` is the swscale context, created at the first conversion, on the worker.)
unsafe impl Send for Unstarted {}

impl Unstarted {
    fn into_inner(self) -> FrameReader {
        self.0
    }
}

type Senders = Mutex<Vec<Option<mpsc::SyncSender<Message>>>>;

/// Decodes segments until none is left; returns the damage this worker saw.
fn run_worker(
    mut reader: FrameReader,
    senders: &Senders,
    keyframes: &[i64],
    next: &mut dyn FnMut() -> Option<usize>,
    frame_bytes: usize,
) -> Damage {
    while let Some(segment) = next().filter(|&segment| segment < keyframes.len()) {
        let sender = match senders.lock() {
            Ok(mut senders) => senders[segment].take(),
            Err(_) => None,
        };
        let Some(sender) = sender else {
            break;
        };
        if let Err(error) = reader.start_segment(keyframes[segment], segment == 0) {
            let _ = sender.send(Message::Failed(error));
            break;
        }
        loop {
            let mut pixels = Vec::with_capacity(frame_bytes);
            let message = match reader.next_segment_frame(&mut pixels) {
                Ok(Some(time_s)) => Message::Frame(time_s, pixels),
                Ok(None) => Message::End,
                Err(error) => Message::Failed(error),
            };
            let more = matches!(message, Message::Frame(..));
            let failed = matches!(message, Message::Failed(_));
            // A closed queue means the consumer stopped: stop too.
            if sender.send(message).is_err() || failed {
                return reader.damage_so_far().clone();
            }
            if !more {
                break;
            }
        }
    }
    reader.damage_so_far().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loads(lists: &[Vec<usize>], lengths: &[u64]) -> Vec<u64> {
        lists
            .iter()
            .map(|list| list.iter().map(|&s| lengths[s]).sum())
            .collect()
    }

    fn assert_partition(lists: &[Vec<usize>], segments: usize) {
        let mut all: Vec<usize> = lists.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..segments).collect::<Vec<_>>(), "{lists:?}");
        for list in lists {
            assert!(
                list.windows(2).all(|p| p[0] < p[1]),
                "not in stream order: {list:?}"
            );
        }
    }

    #[test]
    fn segments_are_split_evenly_when_they_fit_their_queues() {
        // bikes.mp4's segments: longest-first taking gives 135 / 115 frames, the best split is
        // 126 / 124.
        let lengths = [30, 46, 61, 50, 55, 8];
        let Schedule::Fixed(lists) = schedule(&lengths, 2, 1024) else {
            panic!("bikes.mp4 fits in memory");
        };
        assert_partition(&lists, lengths.len());
        let mut split = loads(&lists, &lengths);
        split.sort_unstable();
        assert_eq!(split, vec![124, 126]);

        let lengths = [250, 10, 12, 240, 30, 31, 29, 100, 120, 5, 7, 60];
        for workers in 2..=5 {
            let lists = balanced_lists(&lengths, workers);
            assert_eq!(lists.len(), workers);
            assert_partition(&lists, lengths.len());
            let split = loads(&lists, &lengths);
            let total: u64 = lengths.iter().sum();
            let bound = (total as f64 / workers as f64).ceil() as u64;
            // Never worse than the longest segment or 10 % over the ideal.
            let largest = *split.iter().max().unwrap();
            assert!(
                largest <= bound.max(250) + bound / 10,
                "{workers} workers: {split:?}"
            );
        }
        // More workers than segments: one segment each, the rest idle.
        let lists = balanced_lists(&[5, 9], 4);
        assert_partition(&lists, 2);
    }

    #[test]
    fn a_video_that_does_not_fit_in_memory_is_taken_in_stream_order() {
        assert_eq!(schedule(&[30, 46, 61, 50, 55, 8], 2, 300), Schedule::Shared);
    }
}
