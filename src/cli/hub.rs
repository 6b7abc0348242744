//! Model arguments that name a Hugging Face repository, resolved offline from the local hub
//! cache. The one place every command's `--model` (and the other model arguments: a
//! tokenizer, a text encoder, a checkpoint, face-detector weights) goes through.
//!
//! An argument is taken as it is when it names an existing file or folder. Otherwise, when it
//! looks like a repository id — `ORG/NAME`, optionally followed by a path inside the repository
//! (`ORG/NAME/vae`, `ORG/NAME/encoder.jit`) and `@REVISION` (a branch or tag; `main` by
//! default) — it is looked up in the hub cache that `hf download` / `huggingface-cli download`
//! fill: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`, where a
//! repository lives in `models--ORG--NAME/` with `refs/REVISION` naming the commit whose files
//! are under `snapshots/COMMIT/`. The argument becomes that snapshot folder (or the path inside
//! it). Anything else (a preset name such as `CI8x8` or `4b`) is left to the command.
//!
//! Nothing is downloaded: a repository missing from the cache is an error naming the command
//! that downloads it. The lookup is the `hf-hub` crate's cache API (`Cache`, `CacheRepo::get`),
//! built without its network client. Two things that API cannot do offline are not done here
//! either: a revision given as a commit hash (the API reads `refs/REVISION`, which the Python
//! client writes only for branches and tags; use the branch or tag name) and `HF_HUB_OFFLINE`
//! style fallbacks to other snapshots when `refs/main` is missing.

use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType};

use super::Command;
use super::generate_ar::ArGenerateArgs;
use super::guard::GuardCommand;
use super::train::TrainCommand;

/// A model argument that could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The repository (or the revision asked for) is not in the hub cache.
    #[error(
        "{flag} {arg}: no such file or folder, and the Hugging Face repository {id} (revision \
         {revision}) is not in the hub cache {cache}; nothing is downloaded automatically. \
         Download it with\n    hf download {id}{revision_flag}\n(or `huggingface-cli download \
         {id}{revision_flag}`), or set HF_HOME / HF_HUB_CACHE to the cache that holds it"
    )]
    NotCached {
        /// The command-line flag.
        flag: String,
        /// The argument as given.
        arg: String,
        /// The repository id.
        id: String,
        /// The revision looked up.
        revision: String,
        /// ` --revision REV` when not `main`.
        revision_flag: String,
        /// The cache folder searched.
        cache: String,
    },
    /// The repository is cached but lacks the file or folder named inside it.
    #[error(
        "{flag} {arg}: the Hugging Face repository {id} is in the hub cache ({snapshot}) but has \
         no {inner}; download it with\n    hf download {id} --include '{inner}*'"
    )]
    MissingInRepo {
        /// The command-line flag.
        flag: String,
        /// The argument as given.
        arg: String,
        /// The repository id.
        id: String,
        /// The path inside the repository.
        inner: String,
        /// The snapshot folder found.
        snapshot: String,
    },
    /// No cache location can be determined (no HF_HUB_CACHE, HF_HOME or home folder).
    #[error(
        "{flag} {arg}: looks like a Hugging Face repository id, but there is no hub cache to look \
         in (set HF_HOME or HF_HUB_CACHE)"
    )]
    NoCache {
        /// The command-line flag.
        flag: String,
        /// The argument as given.
        arg: String,
    },
}

/// A repository id split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoId {
    /// `ORG/NAME`.
    pub id: String,
    /// The path inside the repository (empty for the whole snapshot).
    pub inner: String,
    /// The branch or tag (`main` unless `@REV` is given).
    pub revision: String,
}

/// Whether `part` may be an organisation or repository name on the hub (letters, digits, `-`,
/// `_`, `.`; not starting with `.` or `-`, no `..`).
fn is_name(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 96
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !part.starts_with(['.', '-'])
        && !part.contains("..")
}

/// Parses `ORG/NAME[/PATH][@REV]`; `None` for anything else (absolute or `./` paths, bare
/// names, Windows paths, URLs).
pub fn parse_repo_id(text: &str) -> Option<RepoId> {
    if text.starts_with(['/', '.', '~']) || text.contains("://") || text.contains('\\') {
        return None;
    }
    let (path, revision) = match text.split_once('@') {
        Some((_, r)) if r.is_empty() || r.contains('@') => return None,
        Some((p, r)) => (p, r.to_string()),
        None => (text, "main".to_string()),
    };
    let mut parts = path.split('/');
    let (org, name) = (parts.next()?, parts.next()?);
    if !is_name(org) || !is_name(name) {
        return None;
    }
    let inner: Vec<&str> = parts.collect();
    if inner
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return None;
    }
    Some(RepoId {
        id: format!("{org}/{name}"),
        inner: inner.join("/"),
        revision,
    })
}

/// The hub cache: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
fn cache() -> Option<Cache> {
    if let Some(dir) = std::env::var_os("HF_HUB_CACHE").filter(|d| !d.is_empty()) {
        return Some(Cache::new(PathBuf::from(dir)));
    }
    if std::env::var_os("HF_HOME").is_some_and(|d| !d.is_empty()) {
        return Some(Cache::from_env());
    }
    // `Cache::from_env` falls back to the home folder and panics without one.
    std::env::home_dir()?;
    Some(Cache::from_env())
}

/// Resolves one model argument (see the module comment): an existing path or a non-id is
/// returned unchanged, a cached repository id becomes its snapshot path.
pub fn resolve(arg: &str, flag: &str) -> Result<String, Box<HubError>> {
    if Path::new(arg).exists() {
        return Ok(arg.to_string());
    }
    let Some(repo) = parse_repo_id(arg) else {
        return Ok(arg.to_string());
    };
    let cache = cache().ok_or_else(|| {
        Box::new(HubError::NoCache {
            flag: flag.into(),
            arg: arg.into(),
        })
    })?;
    let cached = cache.repo(Repo::with_revision(
        repo.id.clone(),
        RepoType::Model,
        repo.revision.clone(),
    ));
    // `get("")` is the snapshot folder itself when the ref and the snapshot exist.
    let Some(snapshot) = cached.get("") else {
        return Err(Box::new(HubError::NotCached {
            flag: flag.into(),
            arg: arg.into(),
            revision_flag: if repo.revision == "main" {
                String::new()
            } else {
                format!(" --revision {}", repo.revision)
            },
            id: repo.id,
            revision: repo.revision,
            cache: cache.path().display().to_string(),
        }));
    };
    if repo.inner.is_empty() {
        return Ok(snapshot.display().to_string().trim_end_matches('/').into());
    }
    match cached.get(&repo.inner) {
        Some(path) => Ok(path.display().to_string()),
        None => Err(Box::new(HubError::MissingInRepo {
            flag: flag.into(),
            arg: arg.into(),
            id: repo.id,
            inner: repo.inner,
            snapshot: snapshot.display().to_string(),
        })),
    }
}

fn string(value: &mut String, flag: &str) -> Result<(), Box<HubError>> {
    *value = resolve(value, flag)?;
    Ok(())
}

fn path(value: &mut PathBuf, flag: &str) -> Result<(), Box<HubError>> {
    if let Some(text) = value.to_str() {
        *value = resolve(text, flag)?.into();
    }
    Ok(())
}

fn opt_path(value: &mut Option<PathBuf>, flag: &str) -> Result<(), Box<HubError>> {
    value.as_mut().map_or(Ok(()), |v| path(v, flag))
}

fn opt_string(value: &mut Option<String>, flag: &str) -> Result<(), Box<HubError>> {
    value.as_mut().map_or(Ok(()), |v| string(v, flag))
}

fn generate_ar(a: &mut ArGenerateArgs) -> Result<(), Box<HubError>> {
    string(&mut a.model, "--model")?;
    opt_path(&mut a.checkpoint, "--checkpoint")?;
    opt_path(&mut a.tokenizer, "--tokenizer")?;
    opt_path(&mut a.text_encoder, "--text-encoder")
}

/// Resolves every model argument of `command` in place.
pub fn resolve_command(command: &mut Command) -> Result<(), Box<HubError>> {
    match command {
        Command::Tokenize(a) => string(&mut a.model, "--model"),
        Command::Generate(a) => path(&mut a.model, "--model"),
        Command::GenerateAr(a) => generate_ar(a),
        Command::Guard(a) => match &mut a.command {
            GuardCommand::Video(v) => {
                opt_path(&mut v.mtcnn_weights, "--mtcnn-weights")?;
                opt_path(&mut v.retinaface_weights, "--retinaface-weights")
            }
            GuardCommand::Text(_) => Ok(()),
        },
        Command::Train(a) => match &mut a.command {
            TrainCommand::Dit(d) => {
                path(&mut d.model, "--model")?;
                opt_string(&mut d.tokenizer, "--tokenizer")
            }
            TrainCommand::Ar(r) => {
                string(&mut r.model, "--model")?;
                opt_path(&mut r.checkpoint, "--checkpoint")?;
                opt_path(&mut r.tokenizer, "--tokenizer")
            }
            TrainCommand::WorldTokenizer(_) | TrainCommand::WorldModel(_) => Ok(()),
        },
        Command::Demo(_)
        | Command::Verify(_)
        | Command::Curate(_)
        | Command::Shots(_)
        | Command::World(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_parse_and_paths_do_not() {
        let id = parse_repo_id("nvidia/Cosmos-Tokenizer-CI8x8").unwrap();
        assert_eq!(id.id, "nvidia/Cosmos-Tokenizer-CI8x8");
        assert_eq!((id.inner.as_str(), id.revision.as_str()), ("", "main"));
        let id = parse_repo_id("nvidia/Cosmos-1.0-Diffusion-7B-Text2World/vae@v1.0").unwrap();
        assert_eq!(id.id, "nvidia/Cosmos-1.0-Diffusion-7B-Text2World");
        assert_eq!((id.inner.as_str(), id.revision.as_str()), ("vae", "v1.0"));
        for not_id in [
            "CI8x8",
            "4b",
            "/abs/path",
            "./rel/path",
            "../up/x",
            "~/models/x",
            "s3://bucket/x",
            "org/",
            "org//name",
            "org/name/../x",
            "org/name@",
            ".hidden/x",
        ] {
            assert_eq!(parse_repo_id(not_id), None, "{not_id}");
        }
    }
}
