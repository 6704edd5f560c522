//! Pseudonymous child identifiers: a keyed HMAC-SHA256 of a stable anchor, so the Committee's dataset
//! never carries names or personal numbers and nobody without the key can recompute an identifier.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The secret pseudonym key (never logged: `Debug` is redacted).
#[derive(Clone)]
pub struct PseudonymKey(Vec<u8>);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(<redacted>)")
    }
}

impl PseudonymKey {
    /// A key from its text form (hex or any text of at least 16 characters).
    pub fn from_text(text: &str) -> Option<PseudonymKey> {
        let text = text.trim();
        if text.len() < 16 {
            return None;
        }
        Some(PseudonymKey(
            hex::decode(text).unwrap_or_else(|_| text.as_bytes().to_vec()),
        ))
    }

    /// `K-` and 16 hex digits of HMAC-SHA256(key, "child:" + anchor).
    pub fn child_id(&self, anchor: &str) -> String {
        let digest = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mut mac) => {
                mac.update(b"child:");
                mac.update(anchor.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
            // HMAC accepts keys of any length; this branch cannot be reached.
            Err(_) => Vec::new(),
        };
        format!("K-{}", hex::encode(&digest[..digest.len().min(8)]))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_depend_on_key_and_anchor_only() {
        let a = PseudonymKey::from_text("00112233445566778899aabbccddeeff").unwrap();
        let b = PseudonymKey::from_text("ffeeddccbbaa99887766554433221100").unwrap();
        assert_eq!(a.child_id("police/PK-1"), a.child_id("police/PK-1"));
        assert_ne!(a.child_id("police/PK-1"), a.child_id("police/PK-2"));
        assert_ne!(a.child_id("police/PK-1"), b.child_id("police/PK-1"));
        assert_eq!(a.child_id("x").len(), 18);
        assert!(PseudonymKey::from_text("short").is_none());
        assert_eq!(format!("{a:?}"), "PseudonymKey(<redacted>)");
    }
}
