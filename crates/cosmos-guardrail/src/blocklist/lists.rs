//! Reading keyword lists: a folder laid out like the reference's blocklist checkpoint
//! (`custom/`, `whitelist/`, `exact_match/`, each holding `*.txt` files with one keyword or
//! phrase per line), and the small default list compiled into the crate.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Which list a keyword came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ListKind {
    /// `custom/`: matched with every normalisation (the reference runs these through
    /// better-profanity, with leetspeak variants, on the prompt and on its lemmas).
    Custom,
    /// `exact_match/`: matched as whole words, plus the reference's fuzzy partial match for
    /// long entries.
    ExactMatch,
    /// `whitelist/`: words that never count as a match.
    Whitelist,
}

impl ListKind {
    /// The folder name of the list.
    pub fn folder(self) -> &'static str {
        match self {
            Self::Custom => "custom",
            Self::ExactMatch => "exact_match",
            Self::Whitelist => "whitelist",
        }
    }
}

impl fmt::Display for ListKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.folder())
    }
}

/// One line of a list file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The keyword or phrase as written (trimmed).
    pub text: String,
    /// The list it belongs to.
    pub list: ListKind,
    /// `folder/file.txt` (or `builtin:folder/file.txt` for the compiled-in default list).
    pub file: String,
    /// 1-based line number.
    pub line: usize,
}

impl fmt::Display for ListEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' ({}:{})", self.text, self.file, self.line)
    }
}

/// Parses the text of one list file. Blank lines and lines starting with `#` are skipped; a
/// UTF-8 byte-order mark and `\r\n` line ends are accepted.
pub fn parse_list(text: &str, list: ListKind, file: &str) -> Vec<ListEntry> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let line = line.trim();
            (!line.is_empty() && !line.starts_with('#')).then(|| ListEntry {
                text: line.to_string(),
                list,
                file: file.to_string(),
                line: i + 1,
            })
        })
        .collect()
}

fn read_utf8(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        Error::InvalidUtf8 {
            path: path.to_path_buf(),
            line,
            offset,
        }
    })
}

/// Reads every `*.txt` file of `dir/custom`, `dir/exact_match` and `dir/whitelist` (files in
/// name order). Missing sub-folders are empty lists, but at least one must exist.
pub fn read_list_dir(dir: &Path) -> Result<Vec<ListEntry>> {
    if !dir.is_dir() {
        return Err(Error::BlocklistLayout {
            path: dir.to_path_buf(),
            message: "is not a folder (expected a blocklist folder with custom/, exact_match/ \
                      and whitelist/ sub-folders of *.txt files)"
                .into(),
        });
    }
    let mut entries = Vec::new();
    let mut found_any = false;
    for list in [ListKind::Custom, ListKind::ExactMatch, ListKind::Whitelist] {
        let sub = dir.join(list.folder());
        if !sub.is_dir() {
            continue;
        }
        found_any = true;
        let mut files: Vec<PathBuf> = std::fs::read_dir(&sub)
            .map_err(|e| Error::io(&sub, e))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension().is_some_and(|x| x == "txt")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort();
        for path in files {
            let text = read_utf8(&path)?;
            let name = format!(
                "{}/{}",
                list.folder(),
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            entries.extend(parse_list(&text, list, &name));
        }
    }
    if !found_any {
        return Err(Error::BlocklistLayout {
            path: dir.to_path_buf(),
            message: "has none of the sub-folders custom/, exact_match/, whitelist/".into(),
        });
    }
    Ok(entries)
}

/// The default list compiled into the crate (`crates/cosmos-guardrail/blocklist/`).
pub fn builtin_entries() -> Vec<ListEntry> {
    const FILES: &[(ListKind, &str, &str)] = &[
        (
            ListKind::Custom,
            "violence.txt",
            include_str!("../../blocklist/custom/violence.txt"),
        ),
        (
            ListKind::Custom,
            "sexual.txt",
            include_str!("../../blocklist/custom/sexual.txt"),
        ),
        (
            ListKind::Custom,
            "abuse.txt",
            include_str!("../../blocklist/custom/abuse.txt"),
        ),
        (
            ListKind::ExactMatch,
            "exact.txt",
            include_str!("../../blocklist/exact_match/exact.txt"),
        ),
        (
            ListKind::Whitelist,
            "whitelist.txt",
            include_str!("../../blocklist/whitelist/whitelist.txt"),
        ),
    ];
    FILES
        .iter()
        .flat_map(|(list, file, text)| {
            parse_list(text, *list, &format!("builtin:{}/{file}", list.folder()))
        })
        .collect()
}
