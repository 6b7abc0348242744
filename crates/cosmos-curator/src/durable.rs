//! Durable output: every file the curator produces is written under a temporary name in its
//! final folder, flushed to disk, and renamed into place, so a reader (or a rerun after a crash)
//! sees either the whole file or none of it.
//!
//! Temporary names carry the writer's tag (the worker, `0-of-4`), so workers sharing a folder
//! never write the same temporary file and each removes only its own leftovers.
//!
//! For crash tests, a [`Durable`] writer can abort the process at its n-th event, where writing
//! a file has two events: the temporary file is complete (not yet renamed), and the file is in
//! place. `std::process::abort` runs no destructors and flushes nothing, like `kill -9`.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Prefix of temporary files; leftovers of a crashed run are removed on the next start. (A
/// prefix rather than a suffix keeps the extension, from which FFmpeg picks the container.)
pub const TEMP_PREFIX: &str = ".partial-";

/// Writes files atomically, optionally aborting at a chosen event for crash tests.
#[derive(Debug, Default)]
pub struct Durable {
    tag: String,
    abort_at: Option<u64>,
    events: AtomicU64,
}

impl Durable {
    /// A writer whose temporary files carry `tag` (letters, digits, `-`, `_`), aborting the
    /// process at its `abort_at`-th event (1-based); `None` never aborts.
    pub fn new(tag: &str, abort_at: Option<u64>) -> Self {
        Self {
            tag: tag.to_string(),
            abort_at,
            events: AtomicU64::new(0),
        }
    }

    /// Events so far.
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::SeqCst)
    }

    /// Counts one file event (and aborts there when told to).
    pub(crate) fn event(&self) {
        let count = self.events.fetch_add(1, Ordering::SeqCst) + 1;
        if self.abort_at == Some(count) {
            std::process::abort();
        }
    }

    /// Temporary path for `path`: same folder, `.partial-TAG-NAME`.
    pub fn temp_path(&self, path: &Path) -> PathBuf {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        path.with_file_name(format!("{TEMP_PREFIX}{}-{name}", self.tag))
    }

    /// Writes `path` through `write`, atomically.
    pub fn write(
        &self,
        path: &Path,
        write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
    ) -> Result<()> {
        let temp = self.begin(path)?;
        let file = File::create(&temp).map_err(|e| Error::io(&temp, e))?;
        let mut writer = BufWriter::new(file);
        // Closing the file here; `commit` flushes it to disk.
        let result = write(&mut writer).and_then(|()| {
            writer
                .into_inner()
                .map(drop)
                .map_err(|e| Error::io(&temp, e.into_error()))
        });
        if let Err(error) = result {
            let _ = fs::remove_file(&temp);
            return Err(error);
        }
        self.commit(&temp, path)
    }

    /// Writes `bytes` to `path`, atomically.
    pub fn write_bytes(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.write(path, |w| w.write_all(bytes).map_err(|e| Error::io(path, e)))
    }

    /// Creates the folder of `path` and returns the temporary path to write; finish with
    /// [`Durable::commit`]. For writers that need a path rather than a stream (the video encoder).
    pub fn begin(&self, path: &Path) -> Result<PathBuf> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        Ok(self.temp_path(path))
    }

    /// Flushes `temp` and renames it to `path`.
    pub fn commit(&self, temp: &Path, path: &Path) -> Result<()> {
        File::open(temp)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(temp, e))?;
        self.event();
        fs::rename(temp, path).map_err(|e| Error::io(path, e))?;
        // The rename itself is durable once the folder is flushed (best effort: not every file
        // system lets a folder be opened for that).
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && let Ok(folder) = File::open(parent)
        {
            let _ = folder.sync_all();
        }
        self.event();
        Ok(())
    }

    /// Removes this writer's temporary files left in `folder` (and, with `recursive`, in its
    /// subfolders) by a crashed run.
    pub fn remove_leftovers(&self, folder: &Path, recursive: bool) -> Result<()> {
        let entries = match fs::read_dir(folder) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(Error::io(folder, error)),
        };
        let prefix = format!("{TEMP_PREFIX}{}-", self.tag);
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(folder, e))?;
            let path = entry.path();
            let file_type = entry.file_type().map_err(|e| Error::io(&path, e))?;
            if file_type.is_dir() {
                if recursive {
                    self.remove_leftovers(&path, true)?;
                }
            } else if entry.file_name().to_string_lossy().starts_with(&prefix) {
                fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_appear_whole_and_failures_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let durable = Durable::new("w", None);
        let path = dir.path().join("sub/a.json");
        durable.write_bytes(&path, b"{}").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        assert_eq!(durable.events(), 2);
        let failed = durable.write(&dir.path().join("sub/b.json"), |w| {
            w.write_all(b"half").unwrap();
            Err(Error::Config("stop".into()))
        });
        assert!(failed.is_err());
        let names: Vec<_> = fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
    }

    #[test]
    fn leftovers_of_other_writers_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join(".partial-0-of-2-a.tar"), b"x").unwrap();
        fs::write(dir.path().join("sub/.partial-0-of-2-b.tar"), b"x").unwrap();
        fs::write(dir.path().join(".partial-1-of-2-a.tar"), b"x").unwrap();
        fs::write(dir.path().join("done.tar"), b"x").unwrap();
        let durable = Durable::new("0-of-2", None);
        assert_eq!(
            durable.temp_path(&dir.path().join("a.tar")),
            dir.path().join(".partial-0-of-2-a.tar")
        );
        durable.remove_leftovers(dir.path(), true).unwrap();
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, vec![".partial-1-of-2-a.tar", "done.tar", "sub"]);
        assert_eq!(fs::read_dir(dir.path().join("sub")).unwrap().count(), 0);
    }
}
