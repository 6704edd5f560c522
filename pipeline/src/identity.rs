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
        child_id_with(self.keyed().as_ref(), anchor)
    }

    /// [`PseudonymKey::child_id`] of every anchor, on every core: the key is set into the MAC once.
    pub fn child_ids(&self, anchors: &[String]) -> Vec<String> {
        use rayon::prelude::*;
        let keyed = self.keyed();
        anchors
            .par_iter()
            .map(|anchor| child_id_with(keyed.as_ref(), anchor))
            .collect()
    }

    /// The MAC with the key set (HMAC accepts keys of any length, so this is always `Some`).
    fn keyed(&self) -> Option<Hmac<Sha256>> {
        Hmac::<Sha256>::new_from_slice(&self.0).ok()
    }
}

/// The child identifier of `anchor` under a keyed MAC.
fn child_id_with(keyed: Option<&Hmac<Sha256>>, anchor: &str) -> String {
    let digest = match keyed.cloned() {
        Some(mut mac) => {
            mac.update(b"child:");
            mac.update(anchor.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC accepts keys of any length; this branch cannot be reached.
        None => Vec::new(),
    };
    format!("K-{}", hex::encode(&digest[..digest.len().min(8)]))
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

/// A record as identity memory names it: source and record id.
pub type RecordRef = (String, String);

/// What the previous run called each record's child.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityMemory {
    pub child_of: std::collections::BTreeMap<RecordRef, String>,
}

/// How this run's identifiers relate to the previous run's.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IdentityChanges {
    /// Children that kept an identifier from the previous run.
    pub kept: usize,
    /// Children new in this run.
    pub new: usize,
    /// A child that absorbed others: its identifier and the identifiers it replaced.
    pub merged: Vec<(String, Vec<String>)>,
    /// A previous child now split: the identifier kept and the new identifiers of the other parts.
    pub split: Vec<(String, Vec<String>)>,
}

/// Gives each cluster (lists of `RecordRef`s) an identifier. A child keeps the identifier most of its
/// records had before (a new record joining an existing child does not change it); when a previous
/// child is split, the part with most of its records keeps the identifier; everything else gets a
/// fresh keyed-HMAC pseudonym of its smallest record reference. Deterministic for the same inputs.
pub fn assign_ids(
    clusters: &[Vec<RecordRef>],
    memory: &IdentityMemory,
    key: &PseudonymKey,
) -> (Vec<String>, IdentityChanges) {
    use std::collections::{BTreeMap, BTreeSet, HashSet};
    // Every (previous id, cluster) with how many of the cluster's records had that id, and the
    // cluster's smallest such record (a tie-break that does not move when unrelated records arrive).
    let mut holdings: BTreeMap<(&str, usize), (usize, &RecordRef)> = BTreeMap::new();
    for (c, cluster) in clusters.iter().enumerate() {
        for record in cluster {
            if let Some(id) = memory.child_of.get(record) {
                let entry = holdings.entry((id.as_str(), c)).or_insert((0, record));
                entry.0 += 1;
                entry.1 = entry.1.min(record);
            }
        }
    }
    // Greedy: the strongest holdings first; an id and a cluster are each assigned once.
    let mut ranked: Vec<(&str, usize, usize, &RecordRef)> = holdings
        .iter()
        .map(|(&(id, c), &(n, first))| (id, c, n, first))
        .collect();
    ranked.sort_by(|a, b| b.2.cmp(&a.2).then(a.3.cmp(b.3)).then(a.0.cmp(b.0)));
    let mut ids: Vec<Option<String>> = vec![None; clusters.len()];
    let mut given: BTreeSet<&str> = BTreeSet::new();
    for &(id, c, _, _) in &ranked {
        if ids[c].is_none() && !given.contains(id) {
            ids[c] = Some(id.to_string());
            given.insert(id);
        }
    }
    // Retired identifiers are never handed out again to another child. (Only asked whether it
    // holds an identifier, never listed: a hash set.)
    let mut used: HashSet<String> = memory.child_of.values().cloned().collect();
    // New children's identifiers are worked out on every core; a clash with one already used (a
    // retired one, or one just given) is settled in cluster order below.
    let (anchors, mut fresh) = {
        use rayon::prelude::*;
        let anchors: Vec<String> = clusters
            .par_iter()
            .zip(&ids)
            .filter(|(_, id)| id.is_none())
            .map(|(cluster, _)| anchor(cluster))
            .collect();
        let fresh = key.child_ids(&anchors);
        (anchors, fresh)
    };
    let mut changes = IdentityChanges::default();
    let mut result = Vec::with_capacity(clusters.len());
    for kept in &mut ids {
        let id = match kept.take() {
            Some(id) => {
                changes.kept += 1;
                id
            }
            None => {
                let n = changes.new;
                changes.new += 1;
                let first = fresh.get_mut(n).map(std::mem::take).unwrap_or_default();
                unused_id(first, anchors.get(n).map_or("", String::as_str), key, &used)
            }
        };
        used.insert(id.clone());
        result.push(id);
    }
    // Merges: a cluster holding previous ids other than its own. Splits: a previous id whose
    // records now sit in several clusters.
    let mut merged: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut split: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for &(id, c) in holdings.keys() {
        // Retired into this cluster (the id went to no cluster): a merge. An id that went to another
        // cluster is that cluster's, and this part of it is a split.
        if result[c] != id && !given.contains(id) {
            merged
                .entry(result[c].clone())
                .or_default()
                .insert(id.to_string());
        }
    }
    let mut clusters_of: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    for &(id, c) in holdings.keys() {
        clusters_of.entry(id).or_default().insert(c);
    }
    for (id, held_by) in clusters_of {
        if held_by.len() > 1 {
            let parts: BTreeSet<String> = held_by
                .iter()
                .map(|&c| result[c].clone())
                .filter(|r| r != id)
                .collect();
            split.insert(id.to_string(), parts);
        }
    }
    changes.merged = merged
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect();
    changes.split = split
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect();
    (result, changes)
}

/// The anchor of a new child's identifier: its smallest record reference.
fn anchor(cluster: &[RecordRef]) -> String {
    cluster
        .iter()
        .map(|(source, record)| format!("{source}/{record}"))
        .min()
        .unwrap_or_default()
}

/// `first` (the identifier of `anchor`), or if that is already used, the identifier of
/// `anchor#2`, `anchor#3` … that is not.
fn unused_id(
    first: String,
    anchor: &str,
    key: &PseudonymKey,
    used: &std::collections::HashSet<String>,
) -> String {
    let mut id = first;
    let mut round = 1;
    while used.contains(&id) {
        round += 1;
        id = key.child_id(&format!("{anchor}#{round}"));
    }
    id
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod stable_tests {
    use super::*;

    fn r(source: &str, id: &str) -> RecordRef {
        (source.to_string(), id.to_string())
    }

    #[test]
    fn a_new_record_joining_a_child_keeps_its_id_and_merges_and_splits_are_recorded() {
        let key = PseudonymKey::from_text("00112233445566778899aabbccddeeff").unwrap();
        let first = vec![
            vec![r("police", "P2")],
            vec![r("csw", "C9")],
            vec![r("police", "P7"), r("csw", "C7")],
        ];
        let (ids1, changes1) = assign_ids(&first, &IdentityMemory::default(), &key);
        assert_eq!(changes1.new, 3);
        let memory = IdentityMemory {
            child_of: first
                .iter()
                .zip(&ids1)
                .flat_map(|(c, id)| c.iter().map(move |rec| (rec.clone(), id.clone())))
                .collect(),
        };
        // An inspectorate record ("inspectorate/…" sorts first) joins P2; C9 merges with P2 too; the
        // P7/C7 child splits in two.
        let second = vec![
            vec![r("inspectorate", "I1"), r("police", "P2"), r("csw", "C9")],
            vec![r("police", "P7")],
            vec![r("csw", "C7")],
        ];
        let (ids2, changes2) = assign_ids(&second, &memory, &key);
        assert!(
            ids2[0] == ids1[0] || ids2[0] == ids1[1],
            "the merged child keeps one of its ids"
        );
        assert_eq!(changes2.merged.len(), 1);
        assert_eq!(changes2.split.len(), 1);
        assert!(ids2[1] == ids1[2] || ids2[2] == ids1[2]);
        assert_ne!(ids2[1], ids2[2]);
        let (again, _) = assign_ids(&second, &memory, &key);
        assert_eq!(again, ids2, "deterministic");
    }

    #[test]
    fn a_retired_id_is_never_given_to_another_child() {
        let key = PseudonymKey::from_text("00112233445566778899aabbccddeeff").unwrap();
        // X was HMAC(r) for {r, s, t}; Y held {u, v, w, z}. Now {s, t, u, v, w, z} and {r}.
        let x = key.child_id("p/r");
        let mut child_of = std::collections::BTreeMap::new();
        for rec in ["r", "s", "t"] {
            child_of.insert(r("p", rec), x.clone());
        }
        for rec in ["u", "v", "w", "z"] {
            child_of.insert(r("p", rec), "K-y".to_string());
        }
        let memory = IdentityMemory { child_of };
        let now = vec![
            ["s", "t", "u", "v", "w", "z"]
                .iter()
                .map(|rec| r("p", rec))
                .collect(),
            vec![r("p", "r")],
        ];
        let (ids, changes) = assign_ids(&now, &memory, &key);
        assert_eq!(
            ids[0], "K-y",
            "the cluster with most of Y's records keeps Y"
        );
        assert_eq!(
            ids[1], x,
            "r's part keeps X, which went to no other cluster"
        );
        assert_eq!(changes.kept, 2);
        assert_eq!(changes.split.len(), 1, "X was split");
    }

    #[test]
    fn a_new_child_whose_identifier_is_taken_gets_the_next_round() {
        let key = PseudonymKey::from_text("00112233445566778899aabbccddeeff").unwrap();
        // "p/a"'s identifier is held by a record that is gone (retired), and "p/a#2"'s too.
        let taken = [key.child_id("p/a"), key.child_id("p/a#2")];
        let child_of = [r("p", "old"), r("p", "older")]
            .into_iter()
            .zip(taken.iter().cloned())
            .collect();
        let memory = IdentityMemory { child_of };
        let now = vec![vec![r("p", "b")], vec![r("p", "a")], vec![r("p", "c")]];
        let (ids, changes) = assign_ids(&now, &memory, &key);
        assert_eq!(
            ids,
            vec![
                key.child_id("p/b"),
                key.child_id("p/a#3"),
                key.child_id("p/c")
            ]
        );
        assert_eq!(changes.new, 3);
    }
}
