//! Sources: finding export files in a drop folder and reading them with their digest.

pub mod file;

pub use file::{list_files, read_file, sha256_hex, SourceError, SourceFile};
