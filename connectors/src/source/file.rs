//! File drop source: list files in a folder by glob (sorted, deterministic), read bytes, sha256.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

/// Failure to list or read source files. Messages name the path.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The folder to list does not exist (or is not a folder).
    #[error("source folder {} does not exist or is not a folder", .0.display())]
    MissingDir(PathBuf),
    /// The glob pattern is malformed or leaves the folder.
    #[error("invalid file pattern {pattern:?}: {message}")]
    Pattern {
        /// The pattern as configured.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A file to read is not inside the source folder.
    #[error("{} is not inside the source folder {}", .path.display(), .dir.display())]
    Outside {
        /// The file.
        path: PathBuf,
        /// The folder.
        dir: PathBuf,
    },
    /// An I/O error on a path.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was attempted ("read", "list").
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// One source file, read whole.
#[derive(Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The path as read.
    pub path: PathBuf,
    /// The file name relative to the source folder, with forward slashes.
    pub name: String,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// The content.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceFile")
            .field("path", &self.path)
            .field("name", &self.name)
            .field("sha256", &self.sha256)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .finish()
    }
}

/// SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Files (not folders) in `dir` matching `glob` (relative to `dir`, e.g. `*.csv` or `**/*.xlsx`),
/// sorted by their path relative to `dir`. `*` does not cross `/`, and hidden files (a name
/// starting with `.`, such as office lock files) only match a pattern that names the dot.
/// Returned paths are `dir` joined with the relative path.
pub fn list_files(dir: &Path, glob: &str) -> Result<Vec<PathBuf>, SourceError> {
    if !dir.is_dir() {
        return Err(SourceError::MissingDir(dir.to_path_buf()));
    }
    let pattern_error = |message: &str| SourceError::Pattern {
        pattern: glob.to_string(),
        message: message.to_string(),
    };
    if glob.trim().is_empty() {
        return Err(pattern_error("the pattern is empty"));
    }
    let relative = Path::new(glob);
    if relative.is_absolute() || glob.starts_with('/') || glob.starts_with('\\') {
        return Err(pattern_error(
            "the pattern must be relative to the source folder",
        ));
    }
    if relative.components().any(|c| c == Component::ParentDir) {
        return Err(pattern_error(
            "the pattern must stay inside the source folder",
        ));
    }
    let dir_text = dir.to_string_lossy();
    let full = format!(
        "{}/{}",
        glob::Pattern::escape(dir_text.trim_end_matches('/')),
        glob
    );
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let paths = glob::glob_with(&full, options).map_err(|e| pattern_error(e.msg))?;
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for entry in paths {
        let path = entry.map_err(|e| {
            let path = e.path().to_path_buf();
            SourceError::Io {
                action: "list",
                path,
                source: e.into(),
            }
        })?;
        if !path.is_file() {
            continue;
        }
        let name = relative_name(dir, &path).unwrap_or_else(|| path.to_string_lossy().into_owned());
        found.push((name, path));
    }
    found.sort();
    found.dedup_by(|a, b| a.0 == b.0);
    Ok(found.into_iter().map(|(_, path)| path).collect())
}

/// Reads `path` (absolute under `dir`, or relative to `dir`) whole and computes its digest.
pub fn read_file(dir: &Path, path: &Path) -> Result<SourceFile, SourceError> {
    let full = if path.is_absolute() || path.starts_with(dir) {
        path.to_path_buf()
    } else {
        dir.join(path)
    };
    let name = relative_name(dir, &full).ok_or_else(|| SourceError::Outside {
        path: full.clone(),
        dir: dir.to_path_buf(),
    })?;
    let bytes = fs::read(&full).map_err(|source| SourceError::Io {
        action: "read",
        path: full.clone(),
        source,
    })?;
    Ok(SourceFile {
        sha256: sha256_hex(&bytes),
        path: full,
        name,
        bytes,
    })
}

/// `path` relative to `dir`, with forward slashes; `None` when it is not inside `dir`.
fn relative_name(dir: &Path, path: &Path) -> Option<String> {
    let rest = path.strip_prefix(dir).ok()?;
    let mut parts = Vec::new();
    for component in rest.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn lists_sorted_relative_and_skips_hidden_and_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::create_dir_all(dir.join("b/sub")).unwrap();
        fs::create_dir_all(dir.join("a.csv.d")).unwrap();
        fs::write(dir.join("z.csv"), "z").unwrap();
        fs::write(dir.join("a.csv"), "a").unwrap();
        fs::write(dir.join(".~lock.a.csv#"), "x").unwrap();
        fs::write(dir.join(".hidden.csv"), "x").unwrap();
        fs::write(dir.join("b/m.csv"), "m").unwrap();
        fs::write(dir.join("b/sub/k.csv"), "k").unwrap();
        fs::write(dir.join("notes.txt"), "n").unwrap();

        let top = list_files(dir, "*.csv").unwrap();
        let names: Vec<_> = top.iter().map(|p| relative_name(dir, p).unwrap()).collect();
        assert_eq!(names, ["a.csv", "z.csv"]);

        let all = list_files(dir, "**/*.csv").unwrap();
        let names: Vec<_> = all.iter().map(|p| relative_name(dir, p).unwrap()).collect();
        assert_eq!(names, ["a.csv", "b/m.csv", "b/sub/k.csv", "z.csv"]);

        let file = read_file(dir, &all[2]).unwrap();
        assert_eq!(file.name, "b/sub/k.csv");
        assert_eq!(file.bytes, b"k");
        assert_eq!(file.sha256, sha256_hex(b"k"));
        let again = read_file(dir, Path::new("b/sub/k.csv")).unwrap();
        assert_eq!(again, file);
    }

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn missing_dir_and_bad_patterns_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope");
        let err = list_files(&missing, "*.csv").unwrap_err();
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );
        assert!(list_files(tmp.path(), "../*.csv").is_err());
        assert!(list_files(tmp.path(), "/etc/*").is_err());
        assert!(list_files(tmp.path(), "[").is_err());
        let err = read_file(tmp.path(), Path::new("absent.csv")).unwrap_err();
        assert!(err.to_string().starts_with("cannot read "), "{err}");
        assert!(err.to_string().contains("absent.csv"), "{err}");
        assert!(read_file(tmp.path(), Path::new("/etc/hostname")).is_err());
    }
}
