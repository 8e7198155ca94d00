//! The vendored sled's leaf splits (`vendor/README.md`): leaves of small
//! entries grow to 4 KiB or 128 entries, and a leaf that an insert past its
//! last entry has filled splits unevenly (keys written in order, as the
//! log's commits are, leave their leaves nearly full). Whatever the order of
//! the writes, every entry stays where reads find it, before and after the
//! database is reopened.

use std::collections::BTreeMap;

use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Past the last key under the prefix, as the log writes its commits.
    Append { prefix: u8, len: usize },
    /// Anywhere under the prefix, as table rows are written.
    Insert { prefix: u8, at: u32, len: usize },
    /// The `nth` key under the prefix, if there is one.
    Remove { prefix: u8, nth: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let prefix = 0u8..3;
    // Small entries (index rows) and large ones (commits of a few KB).
    let len = prop_oneof![1usize..40, 500usize..4_000];
    prop_oneof![
        4 => (prefix.clone(), len.clone()).prop_map(|(prefix, len)| Op::Append { prefix, len }),
        3 => (prefix.clone(), any::<u32>(), len).prop_map(|(prefix, at, len)| Op::Insert { prefix, at, len }),
        1 => (prefix, any::<usize>()).prop_map(|(prefix, nth)| Op::Remove { prefix, nth }),
    ]
}

fn key(prefix: u8, n: u64) -> Vec<u8> {
    let mut k = vec![b'a' + prefix];
    k.extend_from_slice(&n.to_be_bytes());
    k
}

fn value(key: &[u8], len: usize) -> Vec<u8> {
    let seed = key.iter().fold(0u8, |h, b| h.wrapping_mul(31).wrapping_add(*b));
    (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
}

fn open(dir: &std::path::Path) -> sled::Tree {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(64 * 1024)
        .flush_every_ms(None)
        .open()
        .unwrap();
    db.open_tree("t").unwrap()
}

fn same(tree: &sled::Tree, model: &BTreeMap<Vec<u8>, Vec<u8>>) -> Result<(), TestCaseError> {
    let stored: Vec<(Vec<u8>, Vec<u8>)> = tree
        .iter()
        .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())))
        .collect::<Result<_, _>>()
        .unwrap();
    let expected: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    prop_assert_eq!(stored.len(), expected.len());
    prop_assert!(stored == expected, "a scan differs from what was written");
    for (k, v) in model {
        prop_assert_eq!(tree.get(k).unwrap().map(|v| v.to_vec()), Some(v.clone()));
    }
    // Scans from the middle of each prefix, forward and back.
    for prefix in 0..3u8 {
        let from = key(prefix, u64::MAX / 2);
        let to = key(prefix + 1, 0);
        let stored: Vec<Vec<u8>> = tree
            .range(from.clone()..to.clone())
            .rev()
            .map(|kv| kv.unwrap().0.to_vec())
            .collect();
        let expected: Vec<Vec<u8>> = model.range(from..to).rev().map(|(k, _)| k.clone()).collect();
        prop_assert_eq!(stored, expected);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn every_entry_is_found_after_any_order_of_writes(ops in prop::collection::vec(op(), 1..800)) {
        let dir = tempfile::tempdir().unwrap();
        let mut model = BTreeMap::new();
        let mut next = [u64::MAX / 2; 3];
        {
            let tree = open(dir.path());
            for op in ops {
                match op {
                    Op::Append { prefix, len } => {
                        next[prefix as usize] += 1;
                        let k = key(prefix, next[prefix as usize]);
                        let v = value(&k, len);
                        tree.insert(&k, v.clone()).unwrap();
                        model.insert(k, v);
                    }
                    Op::Insert { prefix, at, len } => {
                        // Below the appended keys, so that appends stay past the last.
                        let k = key(prefix, u64::from(at) << 16);
                        let v = value(&k, len);
                        tree.insert(&k, v.clone()).unwrap();
                        model.insert(k, v);
                    }
                    Op::Remove { prefix, nth } => {
                        let under: Vec<Vec<u8>> = model.keys().filter(|k| k[0] == b'a' + prefix).cloned().collect();
                        if !under.is_empty() {
                            let k = &under[nth % under.len()];
                            tree.remove(k).unwrap();
                            model.remove(k);
                        }
                    }
                }
            }
            same(&tree, &model)?;
            tree.flush().unwrap();
        }
        let tree = open(dir.path());
        same(&tree, &model)?;
    }
}
