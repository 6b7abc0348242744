//! What the post-training tests share: a one-clip webdataset shard written from frames.

use std::path::{Path, PathBuf};

use cosmos_media::{Video, WriteOptions, write_video};
use ndarray::Array4;

/// `frames` (`[T, H, W, 3]`) written as an 8 fps MP4 and packed with `sidecars` (member name
/// and bytes, e.g. `("clip_a.json", ...)`) as clip `clip_a` of the shard
/// `dir/part_000000.tar`, the layout the curator writes. Returns the shard's path.
pub fn one_clip_shard(dir: &Path, frames: Array4<u8>, sidecars: &[(&str, &[u8])]) -> PathBuf {
    let clip = dir.join("clip.mp4");
    write_video(
        &clip,
        &Video::new(frames, 8.0).unwrap(),
        &WriteOptions::default(),
    )
    .unwrap();
    let shard = dir.join("part_000000.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&shard).unwrap());
    let mut add = |name: &str, bytes: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        builder.append_data(&mut h, name, bytes).unwrap();
    };
    add("clip_a.mp4", &std::fs::read(&clip).unwrap());
    for (name, bytes) in sidecars {
        add(name, bytes);
    }
    builder.finish().unwrap();
    shard
}
