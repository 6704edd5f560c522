//! Atomic publication of a folder: files are written into `.releases/<release>/` beside the target,
//! then the target (a symbolic link) is switched to the new release with one `rename`, so readers
//! see either the old or the new release, never a half-written one.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use super::SinkError;

/// Name of the folder, beside the target, that holds the releases.
const RELEASES: &str = ".releases";

/// A release being prepared. Dropping it without [`PublishDir::commit`] removes its staging folder
/// (best effort) and leaves the current target untouched.
#[derive(Debug)]
pub struct PublishDir {
    target: PathBuf,
    parent: PathBuf,
    link_name: String,
    release: String,
    releases: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl PublishDir {
    /// Starts a release: creates `<parent of target>/.releases/<release>/` (an error if it exists)
    /// and returns it; files are written there by the caller. `release` must be a plain folder name.
    pub fn begin(target: &Path, release: &str) -> Result<PublishDir, SinkError> {
        let refuse = |message: String| SinkError::Publish {
            path: target.to_path_buf(),
            message,
        };
        if release.is_empty() || release.starts_with('.') || release.contains(['/', '\\', '\0']) {
            return Err(refuse(format!(
                "the release name {release:?} must be a plain folder name not starting with a dot"
            )));
        }
        let link_name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n != "." && n != "..")
            .ok_or_else(|| refuse("the target has no folder name".to_string()))?;
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let releases = parent.join(RELEASES);
        fs::create_dir_all(&releases).map_err(|e| SinkError::io("create", &releases, e))?;
        let staging = releases.join(release);
        match fs::create_dir(&staging) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(refuse(format!(
                    "the release {} already exists",
                    staging.display()
                )))
            }
            Err(e) => return Err(SinkError::io("create", &staging, e)),
        }
        Ok(PublishDir {
            target: target.to_path_buf(),
            parent,
            link_name,
            release: release.to_string(),
            releases,
            staging,
            committed: false,
        })
    }

    /// The folder to write the release's files into.
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// The release name.
    pub fn release(&self) -> &str {
        &self.release
    }

    /// Flushes the files to disk, then points the target at this release atomically: a relative
    /// symbolic link `<target>.tmp-<release>` → `.releases/<release>` is renamed over the target.
    /// Refuses (and leaves everything as it was) when the target exists and is not a symbolic link.
    /// Then keeps the `keep` newest releases by name (at least this one, and never one a link beside
    /// the target points to) and removes the older ones; a failure there is only logged.
    /// Returns the release folder.
    pub fn commit(mut self, keep: usize) -> Result<PathBuf, SinkError> {
        match fs::symlink_metadata(&self.target) {
            Ok(meta) if !meta.file_type().is_symlink() => {
                return Err(SinkError::Publish {
                    path: self.target.clone(),
                    message: format!(
                        "it exists and is a real {} rather than a symbolic link to a release; \
                         move it away (it is not deleted automatically)",
                        if meta.is_dir() { "folder" } else { "file" }
                    ),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(SinkError::io("inspect", &self.target, e)),
        }

        sync_tree(&self.staging)?;
        sync_dir(&self.releases)?;

        let temporary = self
            .parent
            .join(format!("{}.tmp-{}", self.link_name, self.release));
        if fs::symlink_metadata(&temporary).is_ok_and(|m| m.file_type().is_symlink()) {
            fs::remove_file(&temporary).map_err(|e| SinkError::io("remove", &temporary, e))?;
        }
        let link = Path::new(RELEASES).join(&self.release);
        symlink(&link, &temporary).map_err(|e| SinkError::io("create the link", &temporary, e))?;
        if let Err(e) = fs::rename(&temporary, &self.target) {
            // Best effort: the temporary link is useless now.
            let _ = fs::remove_file(&temporary);
            return Err(SinkError::io("switch", &self.target, e));
        }
        // The release is live from here: it must never be removed as an unfinished one, and the
        // run treats it as placed (its identifiers are kept with it) even if the folder's entry
        // cannot be flushed to disk.
        self.committed = true;
        if let Err(e) = sync_dir(&self.parent) {
            tracing::warn!(error = %e, "the switch to the new release may not survive a power loss");
        }
        tracing::info!(target = %self.target.display(), release = %self.release, "published");

        if let Err(e) = self.prune(keep) {
            tracing::warn!(error = %e, "could not remove old releases");
        }
        Ok(self.staging.clone())
    }

    /// Removes releases beyond the `keep` newest (by name), sparing this one and any release a
    /// symbolic link in the target's folder points to.
    fn prune(&self, keep: usize) -> Result<(), SinkError> {
        let mut names = Vec::new();
        for entry in
            fs::read_dir(&self.releases).map_err(|e| SinkError::io("list", &self.releases, e))?
        {
            let entry = entry.map_err(|e| SinkError::io("list", &self.releases, e))?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        let protected = self.linked_releases();
        let keep_from = names.len().saturating_sub(keep.max(1));
        for name in names.iter().take(keep_from) {
            if *name == self.release || protected.contains(name) {
                continue;
            }
            let path = self.releases.join(name);
            fs::remove_dir_all(&path).map_err(|e| SinkError::io("remove", &path, e))?;
            tracing::info!(release = %name, "removed old release");
        }
        Ok(())
    }

    /// Names of releases that symbolic links in the target's folder point to.
    fn linked_releases(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(&self.parent) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_symlink()))
            .filter_map(|e| fs::read_link(e.path()).ok())
            .filter_map(|link| {
                let rest = link.strip_prefix(RELEASES).ok()?;
                let first = rest.components().next()?;
                Some(first.as_os_str().to_string_lossy().into_owned())
            })
            .collect()
    }
}

impl Drop for PublishDir {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: an abandoned release must not linger, but dropping cannot fail.
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// fsyncs every file and folder under `dir`, then `dir` itself.
fn sync_tree(dir: &Path) -> Result<(), SinkError> {
    let entries = fs::read_dir(dir).map_err(|e| SinkError::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| SinkError::io("list", dir, e))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| SinkError::io("inspect", &path, e))?;
        if kind.is_dir() {
            sync_tree(&path)?;
        } else if kind.is_file() {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| SinkError::io("flush", &path, e))?;
        }
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), SinkError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(|e| SinkError::io("flush", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(unix)]
fn symlink(original: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(original, link)
}

#[cfg(not(unix))]
fn symlink(_original: &Path, _link: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "atomic publication needs symbolic links, available on Unix only",
    ))
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn release(target: &Path, name: &str, content: &str) -> PublishDir {
        let dir = PublishDir::begin(target, name).unwrap();
        fs::write(dir.staging().join("cases.csv"), content).unwrap();
        fs::create_dir(dir.staging().join("sub")).unwrap();
        fs::write(dir.staging().join("sub/x.txt"), "x").unwrap();
        dir
    }

    fn releases(root: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(root.join(".releases"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn commit_switches_prunes_and_drop_keeps_previous() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("dataset");

        let first = release(&target, "20240101T000000", "one");
        assert!(!target.exists());
        let path = first.commit(2).unwrap();
        assert_eq!(path, tmp.path().join(".releases/20240101T000000"));
        assert_eq!(fs::read_to_string(target.join("cases.csv")).unwrap(), "one");
        assert_eq!(
            fs::read_link(&target).unwrap(),
            Path::new(".releases/20240101T000000")
        );

        release(&target, "20240102T000000", "two")
            .commit(2)
            .unwrap();
        assert_eq!(fs::read_to_string(target.join("cases.csv")).unwrap(), "two");
        assert_eq!(releases(tmp.path()), ["20240101T000000", "20240102T000000"]);

        release(&target, "20240103T000000", "three")
            .commit(2)
            .unwrap();
        assert_eq!(
            fs::read_to_string(target.join("cases.csv")).unwrap(),
            "three"
        );
        assert_eq!(releases(tmp.path()), ["20240102T000000", "20240103T000000"]);

        // Abandoned: the staging folder goes away, the target still shows release three.
        let abandoned = release(&target, "20240104T000000", "four");
        let staging = abandoned.staging().to_path_buf();
        assert!(staging.exists());
        drop(abandoned);
        assert!(!staging.exists());
        assert_eq!(
            fs::read_to_string(target.join("cases.csv")).unwrap(),
            "three"
        );

        // A release that exists already is refused.
        assert!(PublishDir::begin(&target, "20240103T000000").is_err());
        assert!(PublishDir::begin(&target, "../evil").is_err());
        // No temporary links remain.
        let mut leftovers: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        leftovers.sort();
        assert_eq!(leftovers, [".releases", "dataset"]);
    }

    #[test]
    fn a_real_folder_at_the_target_is_not_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("dataset");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep.txt"), "precious").unwrap();
        let error = release(&target, "r1", "one").commit(3).unwrap_err();
        assert!(
            error.to_string().contains("not a symbolic link")
                || error.to_string().contains("rather than a symbolic link"),
            "{error}"
        );
        assert_eq!(
            fs::read_to_string(target.join("keep.txt")).unwrap(),
            "precious"
        );
        assert!(releases(tmp.path()).is_empty());
    }
}
