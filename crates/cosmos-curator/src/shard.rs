//! WebDataset shards: plain tar files in which each clip is three members sharing a key,
//! `KEY.mp4` (the clip), `KEY.json` (its manifest record) and `KEY.txt` (its caption, empty
//! when it has none). Keys contain no dot, as WebDataset splits names at the first dot.
//!
//! Shards are grouped in folders by resolution bucket (shorter side: `1080` and up, `720` and
//! up, `lt_720`) and duration bucket (`0_5`, `5_10`, `10_30`, `30_inf` seconds), and closed before
//! they would exceed a size cap (a clip larger than the cap gets a shard of its own).
//! Members are written with fixed metadata (mode 0644, owner 0, modification time 0) so that the
//! same clips always give the same bytes.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::durable::Durable;
use crate::error::{Error, Result};

/// Shard settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShardConfig {
    /// Largest shard file, bytes (cosmos-curate: 500 MB).
    pub max_shard_bytes: u64,
}

impl Default for ShardConfig {
    fn default() -> Self {
        Self {
            max_shard_bytes: 500_000_000,
        }
    }
}

/// Resolution bucket of a `width` x `height` clip, by its shorter side.
pub fn resolution_bucket(width: u32, height: u32) -> &'static str {
    match width.min(height) {
        1080.. => "1080",
        720.. => "720",
        _ => "lt_720",
    }
}

/// Duration bucket of a clip of `seconds`.
pub fn duration_bucket(seconds: f64) -> &'static str {
    match seconds {
        s if s < 5.0 => "0_5",
        s if s < 10.0 => "5_10",
        s if s < 30.0 => "10_30",
        _ => "30_inf",
    }
}

/// Folder (relative to the shards root) of a bucket.
pub fn bucket_folder(width: u32, height: u32, seconds: f64) -> String {
    format!(
        "resolution_{}/duration_{}",
        resolution_bucket(width, height),
        duration_bucket(seconds)
    )
}

/// Shard file name of worker `worker`'s `sequence`-th shard in a bucket.
pub fn shard_name(worker: usize, sequence: usize) -> String {
    format!("part-{worker:04}-{sequence:06}.tar")
}

const BLOCK: u64 = 512;

/// Bytes one tar member of `size` bytes takes (header plus data padded to 512).
pub fn member_bytes(size: u64) -> u64 {
    BLOCK + size.div_ceil(BLOCK) * BLOCK
}

/// Bytes of the end-of-archive marker (two zero blocks).
pub const ARCHIVE_END_BYTES: u64 = 2 * BLOCK;

/// One clip's members.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardEntry<'a> {
    /// The key (no dot).
    pub key: &'a str,
    /// The encoded clip.
    pub video: &'a Path,
    /// The manifest record, serialised.
    pub json: &'a [u8],
    /// The caption (empty when none).
    pub caption: &'a str,
}

/// Bytes one clip's three members take in a shard.
pub fn entry_bytes(video_bytes: u64, json_bytes: u64, caption_bytes: u64) -> u64 {
    member_bytes(video_bytes) + member_bytes(json_bytes) + member_bytes(caption_bytes)
}

fn header(name: &str, size: u64) -> Result<tar::Header> {
    let mut header = tar::Header::new_ustar();
    header
        .set_path(name)
        .map_err(|e| Error::Config(format!("tar member name '{name}': {e}")))?;
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    Ok(header)
}

/// Writes a shard atomically; returns its size in bytes.
pub fn write_shard(durable: &Durable, path: &Path, entries: &[ShardEntry<'_>]) -> Result<u64> {
    durable.write(path, |writer| write_tar(writer, path, entries))?;
    Ok(std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len())
}

/// Writes the tar bytes of a shard to `writer` (`path` names the shard in errors).
pub fn write_tar<W: Write>(writer: &mut W, path: &Path, entries: &[ShardEntry<'_>]) -> Result<()> {
    let mut builder = tar::Builder::new(writer);
    for entry in entries {
        if entry.key.contains('.') || entry.key.contains('/') {
            return Err(Error::Config(format!(
                "shard key '{}' must not contain '.' or '/'",
                entry.key
            )));
        }
        let mut video = File::open(entry.video).map_err(|e| Error::io(entry.video, e))?;
        let size = video
            .metadata()
            .map_err(|e| Error::io(entry.video, e))?
            .len();
        let mut h = header(&format!("{}.mp4", entry.key), size)?;
        builder
            .append(&h, &mut video)
            .map_err(|e| Error::io(entry.video, e))?;
        h = header(&format!("{}.json", entry.key), entry.json.len() as u64)?;
        builder
            .append(&h, entry.json)
            .map_err(|e| Error::io(path, e))?;
        h = header(&format!("{}.txt", entry.key), entry.caption.len() as u64)?;
        builder
            .append(&h, entry.caption.as_bytes())
            .map_err(|e| Error::io(path, e))?;
    }
    let writer = builder.into_inner().map_err(|e| Error::io(path, e))?;
    writer.flush().map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        assert_eq!(
            bucket_folder(1920, 1080, 12.0),
            "resolution_1080/duration_10_30"
        );
        assert_eq!(
            bucket_folder(1080, 1920, 4.99),
            "resolution_1080/duration_0_5"
        );
        assert_eq!(
            bucket_folder(1280, 720, 5.0),
            "resolution_720/duration_5_10"
        );
        assert_eq!(
            bucket_folder(640, 272, 60.0),
            "resolution_lt_720/duration_30_inf"
        );
        assert_eq!(shard_name(3, 12), "part-0003-000012.tar");
    }

    #[test]
    fn shard_reads_back_with_predicted_size() {
        let dir = tempfile::tempdir().unwrap();
        let video = dir.path().join("clip.mp4");
        std::fs::write(&video, vec![7u8; 1000]).unwrap();
        let entries = [
            ShardEntry {
                key: "a_1",
                video: &video,
                json: br#"{"key":"a_1"}"#,
                caption: "a cat",
            },
            ShardEntry {
                key: "b_2",
                video: &video,
                json: br#"{"key":"b_2"}"#,
                caption: "",
            },
        ];
        let path = dir.path().join("s/part.tar");
        let bytes = write_shard(&Durable::new("t", None), &path, &entries).unwrap();
        let expected: u64 = entries
            .iter()
            .map(|e| entry_bytes(1000, e.json.len() as u64, e.caption.len() as u64))
            .sum::<u64>()
            + ARCHIVE_END_BYTES;
        assert_eq!(bytes, expected);
        let mut archive = tar::Archive::new(File::open(&path).unwrap());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "a_1.mp4", "a_1.json", "a_1.txt", "b_2.mp4", "b_2.json", "b_2.txt"
            ]
        );
        let bad = [ShardEntry {
            key: "a.b",
            video: &video,
            json: b"{}",
            caption: "",
        }];
        assert!(write_shard(&Durable::new("t", None), &dir.path().join("bad.tar"), &bad).is_err());
    }
}
