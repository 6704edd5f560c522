//! Sources: export files in a drop folder (read with their digest) and HTTP APIs (pulled page by
//! page).

pub mod file;
pub mod http;

pub use file::{list_files, list_files_with_skips, read_file, sha256_hex, SourceError, SourceFile};
