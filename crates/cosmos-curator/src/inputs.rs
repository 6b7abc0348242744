//! Input lists: files, folders (searched recursively for video files) and list files, expanded
//! into one sorted list, and the deterministic share of it one worker of `n` processes.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// File extensions taken from folders (any file named directly or in a list is tried).
pub const VIDEO_EXTENSIONS: [&str; 17] = [
    "mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "mts", "m2ts", "flv", "wmv",
    "3gp", "ogv", "y4m", "mxf",
];

/// Extensions of list files: one input per line, blank lines and `#` comments ignored, relative
/// paths taken from the list's folder.
pub const LIST_EXTENSIONS: [&str; 3] = ["txt", "lst", "list"];

pub(crate) fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Expands `arguments` into the sorted, de-duplicated list of video paths. Paths under
/// `exclude` (the output folder) are left out. Paths that do not exist are kept (they fail, and
/// are reported, when they are read); a folder that cannot be listed or a list that cannot be
/// read is an error.
pub fn expand_inputs(arguments: &[PathBuf], exclude: Option<&Path>) -> Result<Vec<PathBuf>> {
    let exclude = exclude.map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()));
    let mut found = Vec::new();
    for argument in arguments {
        if crate::store::is_url(argument) {
            crate::store::expand_url(argument, &mut found)?;
        } else if argument.is_dir() {
            walk(argument, &mut found)?;
        } else if argument.is_file() && has_extension(argument, &LIST_EXTENSIONS) {
            let text = std::fs::read_to_string(argument).map_err(|e| Error::io(argument, e))?;
            let base = argument.parent().unwrap_or(Path::new(""));
            for line in text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            {
                let entry = base.join(line);
                if crate::store::is_url(Path::new(line)) {
                    crate::store::expand_url(Path::new(line), &mut found)?;
                } else if entry.is_dir() {
                    walk(&entry, &mut found)?;
                } else {
                    found.push(entry);
                }
            }
        } else {
            found.push(argument.clone());
        }
    }
    if let Some(exclude) = exclude.as_deref().filter(|e| crate::store::is_url(e)) {
        found.retain(|path| !crate::store::url_is_under(path, exclude));
    } else if let Some(exclude) = &exclude {
        found.retain(|path| std::fs::canonicalize(path).map_or(true, |p| !p.starts_with(exclude)));
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn walk(folder: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|e| Error::io(folder, e))?
        .map(|entry| entry.map(|e| e.path()).map_err(|e| Error::io(folder, e)))
        .collect::<Result<_>>()?;
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, found)?;
        } else if has_extension(&path, &VIDEO_EXTENSIONS) {
            found.push(path);
        }
    }
    Ok(())
}

/// Worker `index` of `count` (`--shard i/n`, `0 <= i < n`): it takes the inputs at positions
/// `index, index + count, ...` of the sorted list, so workers given the same inputs split them
/// without overlap or gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// This worker, 0-based.
    pub index: usize,
    /// Workers in all.
    pub count: usize,
}

impl Default for ShardSpec {
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl ShardSpec {
    /// A checked spec.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(Error::Config(format!(
                "shard must be i/n with 0 <= i < n, found {index}/{count}"
            )));
        }
        Ok(Self { index, count })
    }

    /// This worker's share of `inputs`.
    pub fn select<T: Clone>(&self, inputs: &[T]) -> Vec<T> {
        inputs
            .iter()
            .skip(self.index)
            .step_by(self.count.max(1))
            .cloned()
            .collect()
    }

    /// `i-of-n`, for file names.
    pub fn label(&self) -> String {
        format!("{}-of-{}", self.index, self.count)
    }
}

impl FromStr for ShardSpec {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = || {
            Error::Config(format!(
                "shard must look like i/n (for example 0/4), found '{text}'"
            ))
        };
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        Self::new(
            index.trim().parse().map_err(|_| bad())?,
            count.trim().parse().map_err(|_| bad())?,
        )
    }
}

impl std::fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_lists_and_files_expand_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(root.join("out/.curate")).unwrap();
        for name in [
            "a/z.mp4",
            "a/b/y.MOV",
            "a/notes.md",
            "a/.hidden.mp4",
            "c.mkv",
            "out/clip.mp4",
        ] {
            std::fs::write(root.join(name), b"").unwrap();
        }
        std::fs::write(root.join("list.txt"), "# inputs\nc.mkv\n\nmissing.mp4\n").unwrap();
        let found = expand_inputs(
            &[root.join("a"), root.join("list.txt"), root.join("out")],
            Some(&root.join("out")),
        )
        .unwrap();
        let expected: Vec<PathBuf> = ["a/b/y.MOV", "a/z.mp4", "c.mkv", "missing.mp4"]
            .iter()
            .map(|n| root.join(n))
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn shards_partition_the_inputs() {
        let inputs: Vec<u32> = (0..10).collect();
        let parts: Vec<Vec<u32>> = (0..3)
            .map(|i| ShardSpec::new(i, 3).unwrap().select(&inputs))
            .collect();
        assert_eq!(parts[0], vec![0, 3, 6, 9]);
        assert_eq!(parts[1], vec![1, 4, 7]);
        let mut all: Vec<u32> = parts.concat();
        all.sort();
        assert_eq!(all, inputs);
        assert_eq!(
            "2/4".parse::<ShardSpec>().unwrap(),
            ShardSpec { index: 2, count: 4 }
        );
        assert!("4/4".parse::<ShardSpec>().is_err());
        assert!("1".parse::<ShardSpec>().is_err());
    }
}
