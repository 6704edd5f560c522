//! Sources: finding export files in a drop folder and reading them with their digest.

pub mod file;

pub use file::{list_files, list_files_with_skips, read_file, sha256_hex, SourceError, SourceFile};
