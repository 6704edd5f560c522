//! Values met again among many records (a record sent twice, a personal number used twice), found
//! on all cores.

use std::hash::{Hash, Hasher};

use rayon::prelude::*;
use rustc_hash::FxHasher;

/// Each item whose key an earlier item already had, with the first item that had it: `(first,
/// later)` in the order of the later ones. Items without a key repeat nothing. Items are sorted by
/// a hash of their key on all cores (a hash table of a million keys took half a second on one), and
/// keys are compared in full within a hash.
pub fn repeats<K, F>(items: usize, key: F) -> Vec<(usize, usize)>
where
    K: Hash + Eq,
    F: Fn(usize) -> Option<K> + Sync,
{
    let mut keyed: Vec<u128> = (0..items)
        .into_par_iter()
        .filter_map(|i| {
            let mut h = FxHasher::default();
            key(i)?.hash(&mut h);
            Some((u128::from(h.finish()) << 64) | i as u128)
        })
        .collect();
    keyed.par_sort_unstable();
    let mut found = Vec::new();
    for run in keyed.chunk_by(|a, b| a >> 64 == b >> 64) {
        if run.len() < 2 {
            continue;
        }
        // In item order: each goes with the first before it that has its key.
        let items: Vec<(usize, Option<K>)> = run
            .iter()
            .map(|&k| {
                let i = (k as u64) as usize;
                (i, key(i))
            })
            .collect();
        for (at, (i, k)) in items.iter().enumerate() {
            if let Some((first, _)) = items[..at].iter().find(|(_, earlier)| earlier == k) {
                found.push((*first, *i));
            }
        }
    }
    found.sort_unstable_by_key(|&(_, later)| later);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_repeat_goes_with_the_first_that_had_its_key_in_the_order_of_the_repeats() {
        let keys = [
            Some(("police", "7")),
            Some(("csw", "7")),
            None,
            Some(("police", "8")),
            Some(("police", "7")),
            None,
            Some(("police", "8")),
            Some(("police", "7")),
        ];
        assert_eq!(
            repeats(keys.len(), |i| keys[i]),
            vec![(0, 4), (3, 6), (0, 7)]
        );
    }

    #[test]
    fn many_keys_give_what_a_plain_search_gives() {
        let keys: Vec<(u8, String)> = (0..5000)
            .map(|k| ((k % 3) as u8, (k % 1700).to_string()))
            .collect();
        let mut plain = Vec::new();
        for i in 0..keys.len() {
            if let Some(first) = (0..i).find(|&e| keys[e] == keys[i]) {
                plain.push((first, i));
            }
        }
        assert_eq!(repeats(keys.len(), |i| Some(&keys[i])), plain);
    }
}
