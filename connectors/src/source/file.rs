//! File drop source: list files in a folder by glob (sorted, deterministic), read bytes, sha256.

use std::collections::HashSet;
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
/// sorted by their path relative to `dir`. The match ignores case (`IDENTIFIKIMET.CSV` matches
/// `*.csv`), `*` does not cross `/`, and hidden files (a name starting with `.`, such as office lock
/// files) only match a pattern that names the dot. Returned paths are `dir` joined with the
/// relative path. Entries that cannot be read are left out; see [`list_files_with_skips`].
pub fn list_files(dir: &Path, glob: &str) -> Result<Vec<PathBuf>, SourceError> {
    list_files_with_skips(dir, glob).map(|(files, _)| files)
}

/// [`list_files`], plus a message ("cannot read <path>: <reason>") for every entry that could
/// not be read (an unreadable subfolder, a dangling link, …) and was skipped, so that one bad
/// entry does not stop the listing. Only entries the pattern could match are looked at. An `Err`
/// is for a bad pattern or a folder that is missing or cannot be listed itself.
pub fn list_files_with_skips(
    dir: &Path,
    glob: &str,
) -> Result<(Vec<PathBuf>, Vec<String>), SourceError> {
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
    // `./a//*.csv` is `a/*.csv`; matched in lower case so that case does not matter.
    let segments: Vec<String> = glob
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .map(str::to_lowercase)
        .collect();
    if segments.is_empty() {
        return Err(pattern_error("the pattern names no file"));
    }
    let pattern = glob::Pattern::new(&segments.join("/")).map_err(|e| pattern_error(e.msg))?;
    let recursive_from = segments.iter().position(|s| s == "**");
    let leading = segments
        .iter()
        .take(recursive_from.unwrap_or(segments.len()))
        .map(|s| glob::Pattern::new(s).map_err(|e| pattern_error(e.msg)))
        .collect::<Result<Vec<_>, _>>()?;
    let entries = fs::read_dir(dir).map_err(|source| SourceError::Io {
        action: "list",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut walk = Walk {
        pattern,
        leading,
        max_depth: if recursive_from.is_some() {
            usize::MAX
        } else {
            segments.len()
        },
        hidden_dirs: segments.iter().any(|s| s.starts_with('.')),
        files: Vec::new(),
        skipped: Vec::new(),
        visited: HashSet::new(),
    };
    if let Ok(canonical) = fs::canonicalize(dir) {
        walk.visited.insert(canonical);
    }
    walk.visit(dir, "", 1, entries);
    let mut found = walk.files;
    found.sort();
    found.dedup_by(|a, b| a.0 == b.0);
    Ok((
        found.into_iter().map(|(_, path)| path).collect(),
        walk.skipped,
    ))
}

/// Options of every match: `*` stays within a folder, hidden names need a literal dot.
const MATCH: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: false,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

/// A walk of the source folder for [`list_files_with_skips`].
struct Walk {
    /// The whole pattern, lower case.
    pattern: glob::Pattern,
    /// The pattern's segments before any `**`: a folder at depth d must match segment d.
    leading: Vec<glob::Pattern>,
    /// Deepest level a match can be at (1 = directly in the folder).
    max_depth: usize,
    /// Whether to enter hidden folders below a `**` (only when the pattern names a dot).
    hidden_dirs: bool,
    /// (relative name, path) of every matching file.
    files: Vec<(String, PathBuf)>,
    /// Entries that could not be read.
    skipped: Vec<String>,
    /// Folders entered, resolved, so that a link loop is entered once.
    visited: HashSet<PathBuf>,
}

impl Walk {
    fn visit(&mut self, dir: &Path, relative: &str, depth: usize, entries: fs::ReadDir) {
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    self.skipped.push(format!(
                        "cannot read an entry of {}: {error}",
                        dir.display()
                    ));
                    continue;
                }
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            let relative = if relative.is_empty() {
                name.clone()
            } else {
                format!("{relative}/{name}")
            };
            let path = entry.path();
            let matches = self.pattern.matches_with(&relative.to_lowercase(), MATCH);
            // Follows links, as a listing by glob does.
            let metadata = match fs::metadata(&path) {
                Ok(metadata) => metadata,
                Err(error) => {
                    if matches || self.may_enter(&name, depth) {
                        self.skipped
                            .push(format!("cannot read {}: {error}", path.display()));
                    }
                    continue;
                }
            };
            if metadata.is_file() {
                if matches {
                    self.files.push((relative, path));
                }
            } else if metadata.is_dir() && self.may_enter(&name, depth) {
                if let Ok(canonical) = fs::canonicalize(&path) {
                    if !self.visited.insert(canonical) {
                        continue;
                    }
                }
                match fs::read_dir(&path) {
                    Ok(entries) => self.visit(&path, &relative, depth + 1, entries),
                    Err(error) => self
                        .skipped
                        .push(format!("cannot read {}: {error}", path.display())),
                }
            }
        }
    }

    /// Whether a match can lie inside the folder `name` at `depth`.
    fn may_enter(&self, name: &str, depth: usize) -> bool {
        if depth >= self.max_depth {
            return false;
        }
        match self.leading.get(depth.saturating_sub(1)) {
            Some(segment) => segment.matches_with(&name.to_lowercase(), MATCH),
            None => self.hidden_dirs || !name.starts_with('.'),
        }
    }
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

    /// Regression: `IDENTIFIKIMET.CSV` did not match `*.csv`.
    #[test]
    fn matching_ignores_case() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::create_dir_all(dir.join("Police")).unwrap();
        fs::write(dir.join("IDENTIFIKIMET.CSV"), "a").unwrap();
        fs::write(dir.join("b.Csv"), "b").unwrap();
        fs::write(dir.join("Ëxport.csv"), "c").unwrap();
        fs::write(dir.join("Police/Rasti.CSV"), "d").unwrap();
        fs::write(dir.join("notes.txt"), "n").unwrap();
        let names = |glob: &str| -> Vec<String> {
            list_files(dir, glob)
                .unwrap()
                .iter()
                .map(|p| relative_name(dir, p).unwrap())
                .collect()
        };
        assert_eq!(names("*.csv"), ["IDENTIFIKIMET.CSV", "b.Csv", "Ëxport.csv"]);
        assert_eq!(names("./*.CSV"), names("*.csv"));
        assert_eq!(names("identifikimet.csv"), ["IDENTIFIKIMET.CSV"]);
        assert_eq!(names("ëxport.*"), ["Ëxport.csv"]);
        assert_eq!(names("police/*.csv"), ["Police/Rasti.CSV"]);
        assert_eq!(
            names("**/*.csv"),
            [
                "IDENTIFIKIMET.CSV",
                "Police/Rasti.CSV",
                "b.Csv",
                "Ëxport.csv"
            ]
        );
    }

    /// Regression: one unreadable entry aborted the whole listing.
    #[cfg(unix)]
    #[test]
    fn unreadable_entries_are_skipped_and_named() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::write(dir.join("a.csv"), "a").unwrap();
        fs::write(dir.join("c.csv"), "c").unwrap();
        symlink(dir.join("gone.csv"), dir.join("b.csv")).unwrap();
        symlink(dir.join("nothing"), dir.join("ignored.txt")).unwrap();
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("sub/d.csv"), "d").unwrap();
        // A link loop is entered once.
        symlink(dir, dir.join("sub/loop")).unwrap();

        let (files, skipped) = list_files_with_skips(dir, "*.csv").unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| relative_name(dir, p).unwrap())
            .collect();
        assert_eq!(names, ["a.csv", "c.csv"]);
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert!(skipped[0].starts_with("cannot read "), "{skipped:?}");
        assert!(skipped[0].contains("b.csv"), "{skipped:?}");
        assert_eq!(list_files(dir, "*.csv").unwrap(), files);

        let (files, _) = list_files_with_skips(dir, "**/*.csv").unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| relative_name(dir, p).unwrap())
            .collect();
        assert_eq!(names, ["a.csv", "c.csv", "sub/d.csv"]);

        // An unreadable subfolder (root reads it anyway, so only checked when the mode holds).
        let locked = dir.join("locked");
        fs::create_dir_all(&locked).unwrap();
        fs::write(locked.join("e.csv"), "e").unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
        let unreadable = fs::read_dir(&locked).is_err();
        let result = list_files_with_skips(dir, "**/*.csv");
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
        let (files, skipped) = result.unwrap();
        if unreadable {
            assert_eq!(files.len(), 3);
            assert!(skipped.iter().any(|s| s.contains("locked")), "{skipped:?}");
        } else {
            assert_eq!(files.len(), 4);
        }
    }
}
