//! Bytes → text with encoding_rs: byte order mark sniffing, UTF-8, UTF-16LE/BE, Windows-1250 and
//! Windows-1252; invalid bytes are replaced and reported with the line where they first occur.

use encoding_rs::{DecoderResult, Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1250, WINDOWS_1252};

use super::TextEncoding;

/// Text decoded from bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedText {
    /// The text, byte order mark removed, invalid sequences replaced by U+FFFD.
    pub text: String,
    /// The encoding actually used (WHATWG name: "UTF-8", "UTF-16LE", "windows-1250", …).
    pub encoding: &'static str,
    /// The 1-based line of the first invalid byte sequence, if any.
    pub invalid_line: Option<u64>,
}

impl DecodedText {
    /// The problem message for `invalid_line`, e.g. "invalid byte sequence for windows-1250 at line 5".
    pub fn invalid_message(&self) -> Option<String> {
        self.invalid_line
            .map(|line| format!("invalid byte sequence for {} at line {line}", self.encoding))
    }
}

/// The encoding_rs encoding for a configured encoding; `None` for [`TextEncoding::Auto`].
pub fn encoding_for(encoding: TextEncoding) -> Option<&'static Encoding> {
    match encoding {
        TextEncoding::Auto => None,
        TextEncoding::Utf8 => Some(UTF_8),
        TextEncoding::Utf16le => Some(UTF_16LE),
        TextEncoding::Utf16be => Some(UTF_16BE),
        TextEncoding::Windows1250 => Some(WINDOWS_1250),
        TextEncoding::Windows1252 => Some(WINDOWS_1252),
    }
}

/// Decodes `bytes`. A byte order mark (UTF-8, UTF-16LE, UTF-16BE) wins over `encoding` and is
/// removed. [`TextEncoding::Auto`] without a byte order mark is UTF-8 when the bytes are valid
/// UTF-8, else Windows-1250 (not reported as a problem). With any other encoding, invalid
/// sequences are replaced and the first line holding one is reported in `invalid_line`.
pub fn decode_text(bytes: &[u8], encoding: TextEncoding) -> DecodedText {
    let (chosen, body) = match Encoding::for_bom(bytes) {
        Some((found, bom_length)) => (found, bytes.get(bom_length..).unwrap_or_default()),
        None => {
            let chosen = encoding_for(encoding).unwrap_or_else(|| {
                if std::str::from_utf8(bytes).is_ok() {
                    UTF_8
                } else {
                    WINDOWS_1250
                }
            });
            (chosen, bytes)
        }
    };
    let (text, had_errors) = chosen.decode_without_bom_handling(body);
    let invalid_line = if had_errors {
        Some(first_invalid_line(chosen, body))
    } else {
        None
    };
    let mut text = text.into_owned();
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    DecodedText {
        text,
        encoding: chosen.name(),
        invalid_line,
    }
}

/// The 1-based line of the first malformed sequence of `body` in `encoding` (1 if none is found).
fn first_invalid_line(encoding: &'static Encoding, body: &[u8]) -> u64 {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut out = String::new();
    let mut rest = body;
    loop {
        let room = decoder
            .max_utf8_buffer_length_without_replacement(rest.len())
            .unwrap_or(rest.len().saturating_mul(3).saturating_add(16));
        out.reserve(room.max(16));
        let (result, read) = decoder.decode_to_string_without_replacement(rest, &mut out, true);
        rest = rest.get(read..).unwrap_or_default();
        match result {
            DecoderResult::OutputFull => continue,
            DecoderResult::InputEmpty => return 1,
            DecoderResult::Malformed(_, _) => return line_count(&out),
        }
    }
}

/// 1 + the number of line feeds in `text`.
fn line_count(text: &str) -> u64 {
    let feeds = text.bytes().filter(|b| *b == b'\n').count();
    u64::try_from(feeds).unwrap_or(u64::MAX).saturating_add(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn bom_wins_and_is_stripped() {
        let mut bytes = vec![0xEF, 0xBB, 0xBF];
        bytes.extend_from_slice("a,b\nč,ë\n".as_bytes());
        let decoded = decode_text(&bytes, TextEncoding::Windows1252);
        assert_eq!(decoded.text, "a,b\nč,ë\n");
        assert_eq!(decoded.encoding, "UTF-8");
        assert_eq!(decoded.invalid_line, None);

        let mut utf16 = vec![0xFF, 0xFE];
        for unit in "Peć\nĐakovica".encode_utf16() {
            utf16.extend_from_slice(&unit.to_le_bytes());
        }
        let decoded = decode_text(&utf16, TextEncoding::Auto);
        assert_eq!(decoded.text, "Peć\nĐakovica");
        assert_eq!(decoded.encoding, "UTF-16LE");

        let mut utf16be = vec![0xFE, 0xFF];
        for unit in "Štrpce".encode_utf16() {
            utf16be.extend_from_slice(&unit.to_be_bytes());
        }
        let decoded = decode_text(&utf16be, TextEncoding::Utf8);
        assert_eq!(decoded.text, "Štrpce");
        assert_eq!(decoded.encoding, "UTF-16BE");
    }

    #[test]
    fn auto_falls_back_to_windows_1250_silently() {
        let (bytes, _, _) = WINDOWS_1250.encode("a\nČekić Peć\n");
        let decoded = decode_text(&bytes, TextEncoding::Auto);
        assert_eq!(decoded.text, "a\nČekić Peć\n");
        assert_eq!(decoded.encoding, "windows-1250");
        assert_eq!(decoded.invalid_line, None);
        let decoded = decode_text("Gjakovë".as_bytes(), TextEncoding::Auto);
        assert_eq!(decoded.encoding, "UTF-8");
        assert_eq!(decoded.text, "Gjakovë");
    }

    #[test]
    fn explicit_utf8_reports_first_invalid_line() {
        let bytes = b"h1,h2\nok,ok\nbad,\xE8x\nbad,\xFF\n";
        let decoded = decode_text(bytes, TextEncoding::Utf8);
        assert_eq!(decoded.invalid_line, Some(3));
        assert_eq!(decoded.text, "h1,h2\nok,ok\nbad,\u{fffd}x\nbad,\u{fffd}\n");
        assert_eq!(
            decoded.invalid_message().unwrap(),
            "invalid byte sequence for UTF-8 at line 3"
        );
    }

    #[test]
    fn explicit_utf16_without_bom_and_odd_length() {
        let mut bytes = Vec::new();
        for unit in "a\nb".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let decoded = decode_text(&bytes, TextEncoding::Utf16le);
        assert_eq!(decoded.text, "a\nb");
        assert_eq!(decoded.invalid_line, None);
        bytes.push(0x41);
        let decoded = decode_text(&bytes, TextEncoding::Utf16le);
        assert_eq!(decoded.invalid_line, Some(2));
    }
}
