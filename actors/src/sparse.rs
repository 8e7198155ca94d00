//! Giving memory back from tables of live things. A hash map keeps the
//! capacity of its fullest moment; the node's tables of open mailboxes (live
//! actors, unwrapped keys, Graph limiters) fill when many mailboxes are busy at once and
//! empty again as they passivate.

use std::collections::HashMap;
use std::hash::Hash;

/// Shrinks `map` once fewer than a quarter of its slots are used, leaving
/// room to double (so that a table going up and down by a few entries does
/// not reallocate each time).
pub(crate) fn shrink_if_sparse<K: Eq + Hash, V>(map: &mut HashMap<K, V>) {
    if map.capacity() > 64 && map.len() < map.capacity() / 4 {
        map.shrink_to(map.len() * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_that_emptied_gives_its_room_back() {
        let mut m: HashMap<u32, [u8; 64]> = (0..10_000).map(|i| (i, [0; 64])).collect();
        let full = m.capacity();
        for i in 0..9_000 {
            m.remove(&i);
            shrink_if_sparse(&mut m);
        }
        assert_eq!(m.len(), 1_000);
        assert!(m.capacity() <= full / 2, "{} of {full}", m.capacity());
        assert!(m.capacity() >= 1_000);
    }
}
