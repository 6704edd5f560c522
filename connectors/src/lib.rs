//! Sources and sinks of regbridge: listing and reading export files, decoding CSV / XLSX / JSON /
//! JSON Lines into raw records, writing CSV / XLSX / JSON, publishing a folder atomically and
//! delivering mail. Knows files, bytes, formats, tables and mail; nothing about cases.

pub mod decode;
pub mod sink;
pub mod source;

pub use decode::{
    decode, CsvFormat, DecodeProblem, Decoded, Format, JsonFormat, Location, RawRecord,
    TextEncoding, XlsxFormat,
};
