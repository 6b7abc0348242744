//! Where bytes come from and where they go: local paths, and object stores (`s3://`, `gs://`,
//! `az://`, ...) through the `object_store` crate. The pipeline reads and writes its output only
//! through [`Output`] and fetches its inputs only through [`InputFetcher`]; input arguments that
//! are URLs are expanded by [`expand_url`].
//!
//! **Local output** is what [`Durable`] gives: temporary file, flush, rename.
//!
//! **Object-store output** has no rename, but a PUT (and a completed multipart upload) makes a
//! whole object appear at once: a reader never sees part of one. So every file the curator would
//! rename into place locally is written to a local scratch folder and then uploaded as one object,
//! and the bucket holds exactly the layout of a local output folder (state under
//! `.curate/i-of-n/`, encoded clips until the worker is done, shards, manifest, summary). A
//! worker killed at any point and started again, on the same node or another one with an empty
//! scratch folder, resumes from what is in the bucket; the scratch folder
//! (`$TMPDIR/cosmos-curate/HASH/`) is only a cache. An upload cut off midway leaves no object
//! (an unfinished multipart upload is invisible; a bucket lifecycle rule removes its parts).
//!
//! **Object-store inputs** are downloaded, one at a time, into the worker's cache folder with the
//! sidecar files beside them (captions, actions, camera), because FFmpeg needs a seekable file;
//! the clip records name the URL, not the copy.
//!
//! Credentials and endpoints come from the standard environment variables, read by the
//! `object_store` builders: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL` (an S3-compatible server), `AWS_ALLOW_HTTP=true` (a server
//! without TLS); `GOOGLE_SERVICE_ACCOUNT` / `GOOGLE_APPLICATION_CREDENTIALS`;
//! `AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`, ...
//!
//! Written here rather than taken from a crate: the blocking facade (the curator is a sequential
//! CPU pipeline; `object_store` is async, so each call blocks on one current-thread tokio
//! runtime) and the mapping of the curator's file layout onto object keys.

use std::collections::HashMap;
use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, ObjectStoreScheme, PutPayload, WriteMultipart};

use crate::durable::Durable;
use crate::error::{Error, Result};
use crate::inputs::{LIST_EXTENSIONS, VIDEO_EXTENSIONS, has_extension};
use crate::pipeline::fnv1a;

/// URL schemes taken as object stores (everything else is a local path).
pub const SCHEMES: [&str; 8] = ["s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "adl"];

/// Files at most this large are uploaded with one PUT; larger ones in parts of this size.
const PART_BYTES: usize = 16 * 1024 * 1024;

/// Whether `path` is an object-store URL (`s3://bucket/key`, ...) rather than a local path.
pub fn is_url(path: &Path) -> bool {
    path.to_str()
        .and_then(|text| text.split_once("://"))
        .is_some_and(|(scheme, _)| SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(scheme)))
}

fn store_error(location: &str, error: object_store::Error) -> Error {
    Error::io(location, std::io::Error::from(error))
}

fn not_found(error: &Error) -> bool {
    matches!(error, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("object-store runtime", e))?;
    Ok(RUNTIME.get_or_init(|| runtime))
}

fn block<F: std::future::Future>(future: F) -> Result<F::Output> {
    Ok(runtime()?.block_on(future))
}

/// One object-store location: the store (shared per bucket) and a key prefix in it.
#[derive(Clone)]
struct Remote {
    store: Arc<dyn ObjectStore>,
    /// `scheme://bucket` (everything before the key).
    root: String,
    prefix: Key,
}

impl Remote {
    fn parse(text: &str) -> Result<Self> {
        let invalid = |reason: String| Error::Input {
            path: text.into(),
            reason,
        };
        let url = url::Url::parse(text).map_err(|e| invalid(format!("not a URL: {e}")))?;
        let (scheme, prefix) = ObjectStoreScheme::parse(&url)
            .map_err(|e| invalid(format!("not an object-store URL: {e}")))?;
        let root = url[..url::Position::BeforePath].to_string();
        static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
        let mut stores = STORES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(store) = stores.get(&root) {
            return Ok(Self {
                store: store.clone(),
                root,
                prefix,
            });
        }
        let built: std::result::Result<Arc<dyn ObjectStore>, object_store::Error> = match scheme {
            ObjectStoreScheme::AmazonS3 => object_store::aws::AmazonS3Builder::from_env()
                .with_url(root.as_str())
                .build()
                .map(|s| Arc::new(s) as _),
            ObjectStoreScheme::GoogleCloudStorage => {
                object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(root.as_str())
                    .build()
                    .map(|s| Arc::new(s) as _)
            }
            ObjectStoreScheme::MicrosoftAzure => {
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(root.as_str())
                    .build()
                    .map(|s| Arc::new(s) as _)
            }
            other => return Err(invalid(format!("unsupported object store {other:?}"))),
        };
        let store =
            built.map_err(|e| invalid(format!("cannot configure the object store: {e}")))?;
        stores.insert(root.clone(), store.clone());
        Ok(Self {
            store,
            root,
            prefix,
        })
    }

    fn key(&self, relative: &str) -> Key {
        let relative = relative.trim_matches('/');
        match (self.prefix.as_ref(), relative) {
            (prefix, "") => Key::from(prefix),
            ("", relative) => Key::from(relative),
            (prefix, relative) => Key::from(format!("{prefix}/{relative}")),
        }
    }

    fn url(&self, key: &Key) -> String {
        format!("{}/{key}", self.root)
    }

    fn head(&self, key: &Key) -> Result<Option<u64>> {
        match block(self.store.head(key))? {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(store_error(&self.url(key), error)),
        }
    }

    fn get(&self, key: &Key) -> Result<Vec<u8>> {
        let url = self.url(key);
        block(async {
            let result = self.store.get(key).await?;
            result.bytes().await
        })?
        .map(|b| b.to_vec())
        .map_err(|e| store_error(&url, e))
    }

    /// Downloads `key` to `path` through a temporary file in its folder.
    fn download(&self, key: &Key, path: &Path, durable: &Durable) -> Result<()> {
        let url = self.url(key);
        let temp = durable.begin(path)?;
        let result = (|| {
            let mut file =
                BufWriter::new(fs::File::create(&temp).map_err(|e| Error::io(&temp, e))?);
            block(async {
                let mut stream = self
                    .store
                    .get(key)
                    .await
                    .map_err(|e| store_error(&url, e))?
                    .into_stream();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| store_error(&url, e))?;
                    file.write_all(&chunk).map_err(|e| Error::io(&temp, e))?;
                }
                Ok::<(), Error>(())
            })??;
            file.flush().map_err(|e| Error::io(&temp, e))?;
            drop(file);
            fs::rename(&temp, path).map_err(|e| Error::io(path, e))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// Uploads the local file `path` as `key`: one PUT, or a multipart upload that makes the
    /// object appear only when complete.
    fn upload(&self, path: &Path, key: &Key) -> Result<()> {
        let url = self.url(key);
        let size = fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
        if size <= PART_BYTES as u64 {
            let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
            return block(self.store.put(key, PutPayload::from(bytes)))?
                .map(drop)
                .map_err(|e| store_error(&url, e));
        }
        let mut file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
        block(async {
            let upload = self
                .store
                .put_multipart(key)
                .await
                .map_err(|e| store_error(&url, e))?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
            let mut buffer = vec![0u8; PART_BYTES];
            loop {
                let read = match file.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        let _ = writer.abort().await;
                        return Err(Error::io(path, e));
                    }
                };
                if let Err(e) = writer.wait_for_capacity(4).await {
                    let _ = writer.abort().await;
                    return Err(store_error(&url, e));
                }
                writer.write(&buffer[..read]);
            }
            writer.finish().await.map_err(|e| store_error(&url, e))?;
            Ok(())
        })?
    }

    fn put(&self, key: &Key, bytes: Vec<u8>) -> Result<()> {
        block(self.store.put(key, PutPayload::from(bytes)))?
            .map(drop)
            .map_err(|e| store_error(&self.url(key), e))
    }

    /// Every object under `key/` (recursively), sorted by key.
    fn list(&self, key: &Key) -> Result<Vec<(Key, u64)>> {
        let mut found: Vec<(Key, u64)> = block(
            self.store
                .list(Some(key))
                .map_ok(|meta| (meta.location, meta.size))
                .try_collect::<Vec<_>>(),
        )?
        .map_err(|e| store_error(&self.url(key), e))?;
        found.sort();
        Ok(found)
    }

    fn delete(&self, key: &Key) -> Result<()> {
        match block(self.store.delete(key))? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(store_error(&self.url(key), error)),
        }
    }
}

/// Expands an input argument that is an object-store URL (see [`is_url`]) the way
/// [`crate::inputs::expand_inputs`] expands a local one: a URL ending in `/`, or naming no
/// object but a prefix with objects under it, is a folder (every video under it, hidden names
/// left out); an object with a list extension is a list (relative lines are taken from the
/// list's folder); any other URL is one input (a missing one fails when it is read).
pub fn expand_url(argument: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let text = argument.to_string_lossy();
    let remote = Remote::parse(&text)?;
    let key = remote.prefix.clone();
    if !text.ends_with('/') && !key.as_ref().is_empty() && remote.head(&key)?.is_some() {
        if has_extension(argument, &LIST_EXTENSIONS) {
            let bytes = remote.get(&key)?;
            let list = String::from_utf8(bytes).map_err(|_| Error::Input {
                path: argument.to_path_buf(),
                reason: "the list is not UTF-8 text".into(),
            })?;
            let folder = text.rsplit_once('/').map_or(&*text, |(folder, _)| folder);
            for line in list
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            {
                let entry = if is_url(Path::new(line)) {
                    PathBuf::from(line)
                } else {
                    PathBuf::from(format!("{folder}/{}", line.trim_start_matches('/')))
                };
                if has_extension(&entry, &LIST_EXTENSIONS) {
                    found.push(entry);
                } else {
                    expand_url(&entry, found)?;
                }
            }
        } else {
            found.push(argument.to_path_buf());
        }
        return Ok(());
    }
    let objects = remote.list(&key)?;
    if objects.is_empty() {
        // Nothing there: kept, and reported as unreadable when it is read.
        if !text.ends_with('/') {
            found.push(argument.to_path_buf());
        }
        return Ok(());
    }
    let skip = key.as_ref().len();
    for (object, _) in objects {
        let below = object.as_ref()[skip..].trim_start_matches('/');
        let hidden = below.split('/').any(|part| part.starts_with('.'));
        let url = PathBuf::from(remote.url(&object));
        if !hidden && has_extension(&url, &VIDEO_EXTENSIONS) {
            found.push(url);
        }
    }
    Ok(())
}

/// Whether the URL `path` lies under the object-store folder `folder`.
pub fn url_is_under(path: &Path, folder: &Path) -> bool {
    let (path, folder) = (path.to_string_lossy(), folder.to_string_lossy());
    let folder = folder.trim_end_matches('/');
    path.strip_prefix(folder)
        .is_some_and(|rest| rest.starts_with('/'))
}

enum Root {
    Local(PathBuf),
    Remote { remote: Remote, scratch: PathBuf },
}

/// A run's output folder, local or in an object store. Paths are relative to it, with `/`.
///
/// Every write is atomic: a file (an object) appears whole or not at all. For crash tests the
/// writer's [`Durable`] aborts the process at a chosen event; an upload has the same two events
/// as a local write (complete in the scratch folder; in place in the bucket).
pub struct Output {
    root: Root,
    durable: Durable,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("location", &self.path(""))
            .finish()
    }
}

impl Output {
    /// Opens (creates, for a local folder) the output `out`: a local folder or an object-store
    /// URL; `durable` names the writer's temporary files.
    pub fn open(out: &Path, durable: Durable) -> Result<Self> {
        let root = if is_url(out) {
            let text = out.to_string_lossy();
            let text = text.trim_end_matches('/');
            let remote = Remote::parse(text)?;
            let scratch = std::env::temp_dir()
                .join("cosmos-curate")
                .join(format!("{:016x}", fnv1a(text.as_bytes())));
            fs::create_dir_all(&scratch).map_err(|e| Error::io(&scratch, e))?;
            Root::Remote { remote, scratch }
        } else {
            fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
            Root::Local(out.to_path_buf())
        };
        Ok(Self { root, durable })
    }

    /// The writer (its tag and crash hook).
    pub fn durable(&self) -> &Durable {
        &self.durable
    }

    /// Whether the output is in an object store.
    pub fn is_remote(&self) -> bool {
        matches!(self.root, Root::Remote { .. })
    }

    /// The file (or URL) of `relative`, for messages and for local readers.
    pub fn path(&self, relative: &str) -> PathBuf {
        match &self.root {
            Root::Local(root) if relative.is_empty() => root.clone(),
            Root::Local(root) => root.join(relative),
            Root::Remote { remote, .. } => PathBuf::from(remote.url(&remote.key(relative))),
        }
    }

    /// A local folder for `relative`'s cached or temporary files: the folder itself for a local
    /// output, its place in the scratch folder for an object store.
    pub fn local_dir(&self, relative: &str) -> PathBuf {
        match &self.root {
            Root::Local(root) => root.join(relative),
            Root::Remote { scratch, .. } => scratch.join(relative),
        }
    }

    /// Whether `relative` exists (as a file, or as an object).
    pub fn exists(&self, relative: &str) -> Result<bool> {
        match &self.root {
            Root::Local(root) => Ok(root.join(relative).is_file()),
            Root::Remote { remote, .. } => Ok(remote.head(&remote.key(relative))?.is_some()),
        }
    }

    /// Size of `relative`, bytes.
    pub fn size(&self, relative: &str) -> Result<u64> {
        match &self.root {
            Root::Local(root) => {
                let path = root.join(relative);
                Ok(fs::metadata(&path).map_err(|e| Error::io(&path, e))?.len())
            }
            Root::Remote { remote, scratch } => {
                let cached = scratch.join(relative);
                if let Ok(meta) = fs::metadata(&cached) {
                    return Ok(meta.len());
                }
                let key = remote.key(relative);
                remote.head(&key)?.ok_or_else(|| {
                    Error::io(
                        remote.url(&key),
                        std::io::Error::from(std::io::ErrorKind::NotFound),
                    )
                })
            }
        }
    }

    /// The bytes of `relative`.
    pub fn read(&self, relative: &str) -> Result<Vec<u8>> {
        match &self.root {
            Root::Local(root) => {
                let path = root.join(relative);
                fs::read(&path).map_err(|e| Error::io(&path, e))
            }
            Root::Remote { remote, .. } => remote.get(&remote.key(relative)),
        }
    }

    /// A local file holding `relative`'s bytes: the file itself, or a cached download.
    pub fn local_file(&self, relative: &str) -> Result<PathBuf> {
        match &self.root {
            Root::Local(root) => Ok(root.join(relative)),
            Root::Remote { remote, scratch } => {
                let cached = scratch.join(relative);
                if !cached.is_file() {
                    remote.download(&remote.key(relative), &cached, &self.durable)?;
                }
                Ok(cached)
            }
        }
    }

    /// Writes `relative` through `write`, atomically.
    pub fn write(
        &self,
        relative: &str,
        write: impl FnOnce(&mut BufWriter<fs::File>) -> Result<()>,
    ) -> Result<()> {
        match &self.root {
            Root::Local(root) => self.durable.write(&root.join(relative), write),
            Root::Remote { remote, scratch } => {
                let temp = self.durable.begin(&scratch.join(relative))?;
                let result = (|| {
                    let file = fs::File::create(&temp).map_err(|e| Error::io(&temp, e))?;
                    let mut writer = BufWriter::new(file);
                    write(&mut writer)?;
                    writer
                        .into_inner()
                        .map(drop)
                        .map_err(|e| Error::io(&temp, e.into_error()))?;
                    self.durable.event();
                    remote.upload(&temp, &remote.key(relative))
                })();
                let _ = fs::remove_file(&temp);
                result?;
                self.durable.event();
                Ok(())
            }
        }
    }

    /// Writes `bytes` to `relative`, atomically.
    pub fn write_bytes(&self, relative: &str, bytes: &[u8]) -> Result<()> {
        match &self.root {
            Root::Local(root) => self.durable.write_bytes(&root.join(relative), bytes),
            Root::Remote { remote, .. } => {
                self.durable.event();
                remote.put(&remote.key(relative), bytes.to_vec())?;
                self.durable.event();
                Ok(())
            }
        }
    }

    /// The local temporary file to write `relative` to, for writers that need a path (the video
    /// encoder); finish with [`Output::commit`].
    pub fn begin(&self, relative: &str) -> Result<PathBuf> {
        self.durable.begin(&self.local_dir(relative))
    }

    /// Puts the finished temporary file `temp` in place as `relative` (for an object store: an
    /// upload, the local file kept as a cache for [`Output::local_file`]).
    pub fn commit(&self, temp: &Path, relative: &str) -> Result<()> {
        match &self.root {
            Root::Local(root) => self.durable.commit(temp, &root.join(relative)),
            Root::Remote { remote, scratch } => {
                self.durable.event();
                remote.upload(temp, &remote.key(relative))?;
                let cached = scratch.join(relative);
                fs::rename(temp, &cached).map_err(|e| Error::io(&cached, e))?;
                self.durable.event();
                Ok(())
            }
        }
    }

    /// Removes the folder `relative` and everything in it (and its cached copy).
    pub fn remove_all(&self, relative: &str) -> Result<()> {
        let local = self.local_dir(relative);
        if local.is_dir() {
            fs::remove_dir_all(&local).map_err(|e| Error::io(&local, e))?;
        }
        if let Root::Remote { remote, .. } = &self.root {
            for (key, _) in remote.list(&remote.key(relative))? {
                remote.delete(&key)?;
            }
        }
        Ok(())
    }

    /// Removes this writer's temporary files left by a crashed run (an object store has none;
    /// its scratch folder may).
    pub fn remove_leftovers(&self) -> Result<()> {
        match &self.root {
            Root::Local(root) => self.durable.remove_leftovers(root, true),
            Root::Remote { scratch, .. } => self.durable.remove_leftovers(scratch, true),
        }
    }

    /// Forgets the scratch copies under `relative` (a new run starts: copies of an earlier,
    /// removed run must not be taken for this one's). Nothing for a local output.
    pub fn forget_cache(&self, relative: &str) -> Result<()> {
        if let Root::Remote { scratch, .. } = &self.root {
            let local = scratch.join(relative);
            if local.is_dir() {
                fs::remove_dir_all(&local).map_err(|e| Error::io(&local, e))?;
            }
        }
        Ok(())
    }
}

/// Suffixes of the files read beside a video (`VIDEO.SUFFIX`): captions ([`crate::caption`])
/// and per-frame signals ([`crate::signals`]).
pub const SIDECAR_SUFFIXES: [&str; 6] = [
    "captions.json",
    "srt",
    "vtt",
    "txt",
    "actions.json",
    "camera.json",
];

/// Local files for inputs: a local input is read where it is; an object-store input is
/// downloaded, with its sidecars, into a cache folder that holds one input at a time.
#[derive(Debug)]
pub struct InputFetcher {
    folder: PathBuf,
    durable: Durable,
    current: Option<(PathBuf, PathBuf)>,
}

impl InputFetcher {
    /// A fetcher caching into `folder`, its temporary files named by `tag`.
    pub fn new(folder: PathBuf, tag: &str) -> Self {
        Self {
            folder,
            durable: Durable::new(tag, None),
            current: None,
        }
    }

    /// A local file with the bytes of `source`. A missing object is an I/O error of kind
    /// `NotFound`, as a missing local file is.
    pub fn fetch(&mut self, source: &Path) -> Result<PathBuf> {
        if !is_url(source) {
            return Ok(source.to_path_buf());
        }
        if let Some((cached_source, local)) = &self.current
            && cached_source == source
        {
            return Ok(local.clone());
        }
        self.clear()?;
        let text = source.to_string_lossy();
        let remote = Remote::parse(&text)?;
        let name = remote
            .prefix
            .filename()
            .filter(|n| !n.is_empty())
            .unwrap_or("input")
            .to_string();
        let dir = self.folder.join(format!("{:016x}", fnv1a(text.as_bytes())));
        let local = dir.join(&name);
        remote.download(&remote.prefix, &local, &self.durable)?;
        let stem = Path::new(&name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = remote.prefix.as_ref().rsplit_once('/').map(|(p, _)| p);
        for suffix in SIDECAR_SUFFIXES {
            let sidecar_name = format!("{stem}.{suffix}");
            let key = match parent {
                Some(parent) => Key::from(format!("{parent}/{sidecar_name}")),
                None => Key::from(sidecar_name.as_str()),
            };
            match remote.download(&key, &dir.join(&sidecar_name), &self.durable) {
                Ok(()) => {}
                Err(error) if not_found(&error) => {}
                Err(error) => return Err(error),
            }
        }
        self.current = Some((source.to_path_buf(), local.clone()));
        Ok(local)
    }

    /// Deletes the cached copy.
    pub fn clear(&mut self) -> Result<()> {
        if let Some((_, local)) = self.current.take()
            && let Some(dir) = local.parent()
            && dir.is_dir()
        {
            fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        Ok(())
    }

    /// Deletes the whole cache folder.
    pub fn remove_cache(&mut self) -> Result<()> {
        self.current = None;
        if self.folder.is_dir() {
            fs::remove_dir_all(&self.folder).map_err(|e| Error::io(&self.folder, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths() {
        for url in [
            "s3://b/k.mp4",
            "gs://b/",
            "az://c/x",
            "abfss://c@a.dfs.core.windows.net/x",
        ] {
            assert!(is_url(Path::new(url)), "{url}");
        }
        for path in [
            "/data/x.mp4",
            "x.mp4",
            "s3:/x",
            "http://host/x.mp4",
            "file:///x",
        ] {
            assert!(!is_url(Path::new(path)), "{path}");
        }
        assert!(url_is_under(
            Path::new("s3://b/out/x.mp4"),
            Path::new("s3://b/out/")
        ));
        assert!(!url_is_under(
            Path::new("s3://b/output/x.mp4"),
            Path::new("s3://b/out")
        ));
    }

    #[test]
    fn keys_join_the_prefix() {
        let remote = Remote::parse("s3://bucket/run/one").unwrap();
        assert_eq!(
            remote.key(".curate/0-of-1/run.json").as_ref(),
            "run/one/.curate/0-of-1/run.json"
        );
        assert_eq!(
            remote.url(&remote.key("manifest.jsonl")),
            "s3://bucket/run/one/manifest.jsonl"
        );
        let bare = Remote::parse("s3://bucket").unwrap();
        assert_eq!(bare.key("a/b").as_ref(), "a/b");
    }
}
