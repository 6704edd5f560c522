//! Bytes → text with encoding_rs: byte order mark sniffing, UTF-8, UTF-16LE/BE, Windows-1250 and
//! Windows-1252; invalid bytes are replaced and every line holding one is reported.

use encoding_rs::{DecoderResult, Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1250, WINDOWS_1252};

use super::TextEncoding;

/// Text decoded from bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedText {
    /// The text, byte order mark removed, invalid sequences replaced by U+FFFD.
    pub text: String,
    /// The encoding actually used (WHATWG name: "UTF-8", "UTF-16LE", "windows-1250", …).
    pub encoding: &'static str,
    /// Every 1-based line holding at least one invalid byte sequence, in ascending order.
    pub invalid_lines: Vec<u64>,
    /// True when [`TextEncoding::Auto`] found no byte order mark and bytes that are not (mostly)
    /// UTF-8, and so guessed Windows-1250.
    pub guessed: bool,
}

impl DecodedText {
    /// The problem message for a line of `invalid_lines`, e.g. "invalid byte sequence for UTF-8 at
    /// line 5".
    pub fn invalid_message(&self, line: u64) -> String {
        format!("invalid byte sequence for {} at line {line}", self.encoding)
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
/// UTF-8, or when they hold more valid multi-byte UTF-8 sequences than invalid byte sequences (a
/// UTF-8 file with a few stray bytes); else Windows-1250, with `guessed` set. Invalid sequences are
/// replaced and every line holding one is listed in `invalid_lines`.
pub fn decode_text(bytes: &[u8], encoding: TextEncoding) -> DecodedText {
    let mut guessed = false;
    let (chosen, body) = match Encoding::for_bom(bytes) {
        Some((found, bom_length)) => (found, bytes.get(bom_length..).unwrap_or_default()),
        None => {
            let chosen = encoding_for(encoding).unwrap_or_else(|| {
                let (multi_byte, invalid) = utf8_census(bytes);
                if invalid == 0 || multi_byte > invalid {
                    UTF_8
                } else {
                    guessed = true;
                    WINDOWS_1250
                }
            });
            (chosen, bytes)
        }
    };
    let (text, had_errors) = chosen.decode_without_bom_handling(body);
    let invalid_lines = if had_errors {
        invalid_lines(chosen, body)
    } else {
        Vec::new()
    };
    let mut text = text.into_owned();
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    DecodedText {
        text,
        encoding: chosen.name(),
        invalid_lines,
        guessed,
    }
}

/// (valid multi-byte UTF-8 sequences, invalid byte sequences) in `bytes`; (…, 0) for valid UTF-8.
/// An invalid sequence is a maximal invalid subpart, as replaced by one U+FFFD.
fn utf8_census(bytes: &[u8]) -> (usize, usize) {
    let multi_byte = |valid: &[u8]| {
        std::str::from_utf8(valid).map_or(0, |s| s.chars().filter(|c| !c.is_ascii()).count())
    };
    let mut rest = bytes;
    let (mut valid, mut invalid) = (0_usize, 0_usize);
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => return (valid + s.chars().filter(|c| !c.is_ascii()).count(), invalid),
            Err(error) => {
                valid += multi_byte(rest.get(..error.valid_up_to()).unwrap_or_default());
                invalid += 1;
                match error.error_len() {
                    Some(length) => {
                        rest = rest
                            .get(error.valid_up_to().saturating_add(length)..)
                            .unwrap_or_default();
                    }
                    // An incomplete sequence at the end.
                    None => return (valid, invalid),
                }
            }
        }
    }
}

/// The 1-based lines of `body` that hold a malformed sequence in `encoding`, ascending, each once.
fn invalid_lines(encoding: &'static Encoding, body: &[u8]) -> Vec<u64> {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(8192);
    let mut rest = body;
    let mut line: u64 = 1;
    let mut lines: Vec<u64> = Vec::new();
    loop {
        out.clear();
        let (result, read) = decoder.decode_to_string_without_replacement(rest, &mut out, true);
        rest = rest.get(read..).unwrap_or_default();
        let feeds = out.bytes().filter(|b| *b == b'\n').count();
        line = line.saturating_add(u64::try_from(feeds).unwrap_or(u64::MAX));
        match result {
            DecoderResult::OutputFull => continue,
            DecoderResult::InputEmpty => return lines,
            DecoderResult::Malformed(_, _) => {
                if lines.last() != Some(&line) {
                    lines.push(line);
                }
            }
        }
    }
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
        assert!(decoded.invalid_lines.is_empty());
        assert!(!decoded.guessed);

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

    /// Changed: the guess of Windows-1250 is now flagged (`guessed`), so that it can be reported.
    #[test]
    fn auto_falls_back_to_windows_1250_and_says_so() {
        let (bytes, _, _) = WINDOWS_1250.encode("a\nČekić Peć\n");
        let decoded = decode_text(&bytes, TextEncoding::Auto);
        assert_eq!(decoded.text, "a\nČekić Peć\n");
        assert_eq!(decoded.encoding, "windows-1250");
        assert!(decoded.invalid_lines.is_empty());
        assert!(decoded.guessed);
        let decoded = decode_text("Gjakovë".as_bytes(), TextEncoding::Auto);
        assert_eq!(decoded.encoding, "UTF-8");
        assert_eq!(decoded.text, "Gjakovë");
        assert!(!decoded.guessed);
        // Windows-1250 text that happens to hold one valid UTF-8 pair ("Ă©" = C3 A9) among more
        // invalid bytes is still Windows-1250.
        let (bytes, _, _) = WINDOWS_1250.encode("Ă© Čekić Peć Đakovica\n");
        let decoded = decode_text(&bytes, TextEncoding::Auto);
        assert_eq!(decoded.encoding, "windows-1250");
        assert_eq!(decoded.text, "Ă© Čekić Peć Đakovica\n");
        assert!(decoded.guessed);
    }

    /// Regression: a single stray byte in an otherwise UTF-8 file used to turn the whole file into
    /// Windows-1250 mojibake.
    #[test]
    fn auto_keeps_mostly_utf8_as_utf8_and_lists_the_bad_lines() {
        let mut bytes = "id,name\n1,Gjakovë\n2,Đakovica\n".as_bytes().to_vec();
        bytes.extend_from_slice(b"3,it\x92s\n4,Pe\xC4\x87\n5,x\x92y\n");
        let decoded = decode_text(&bytes, TextEncoding::Auto);
        assert_eq!(decoded.encoding, "UTF-8");
        assert!(!decoded.guessed);
        assert_eq!(decoded.invalid_lines, [4, 6]);
        assert!(decoded.text.contains("Gjakovë"));
        assert!(decoded.text.contains("it\u{fffd}s"));
        assert!(decoded.text.contains("Peć"));
        assert_eq!(utf8_census(&bytes), (3, 2));
        assert_eq!(utf8_census("ë".as_bytes()), (1, 0));
        assert_eq!(utf8_census(b"a\xC4"), (0, 1));
    }

    /// Changed: every line with invalid bytes is listed, not only the first.
    #[test]
    fn explicit_utf8_lists_every_invalid_line() {
        let bytes = b"h1,h2\nok,ok\nbad,\xE8x\xE8\nbad,\xFF\n";
        let decoded = decode_text(bytes, TextEncoding::Utf8);
        assert_eq!(decoded.invalid_lines, [3, 4]);
        assert_eq!(
            decoded.text,
            "h1,h2\nok,ok\nbad,\u{fffd}x\u{fffd}\nbad,\u{fffd}\n"
        );
        assert_eq!(
            decoded.invalid_message(3),
            "invalid byte sequence for UTF-8 at line 3"
        );
        // Many lines: all of them, in order (the cap is applied by the decoders).
        let mut many = Vec::new();
        for _ in 0..300 {
            many.extend_from_slice(b"x\xFF\n");
        }
        let decoded = decode_text(&many, TextEncoding::Utf8);
        assert_eq!(decoded.invalid_lines.len(), 300);
        assert_eq!(decoded.invalid_lines[299], 300);
    }

    #[test]
    fn explicit_utf16_without_bom_and_odd_length() {
        let mut bytes = Vec::new();
        for unit in "a\nb".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let decoded = decode_text(&bytes, TextEncoding::Utf16le);
        assert_eq!(decoded.text, "a\nb");
        assert!(decoded.invalid_lines.is_empty());
        bytes.push(0x41);
        let decoded = decode_text(&bytes, TextEncoding::Utf16le);
        assert_eq!(decoded.invalid_lines, [2]);
    }
}
