//! The per-scenario Cedar sets, parsed when a decision first needs them and kept in a
//! bounded cache.
//!
//! A city's bundle has a scope policy per (scenario, dataset) grant: 25,000 of them for
//! 10,000 scenarios. Cedar's parsed form of one such policy takes about 6 KB, and a
//! policy set another 2 KB, so holding every slice parsed would take over 200 MB. The
//! snapshot keeps each policy's text instead (about 500 bytes) and each slice as the
//! list of its members; a decision that needs a slice takes it from the cache or parses
//! it (tens of microseconds), and a CLOCK sweep keeps at most `capacity` slices parsed.
//!
//! INVARIANT: the decision path takes no lock. A slice is read through an
//! [`ArcSwapOption`]; eviction only swaps `None` in, and a decision holding the slice's
//! `Arc` keeps it alive. Two decisions missing the same slice at once both parse it and
//! one copy is kept.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use cedar_policy::{Policy, PolicySet};

/// How many slices an engine keeps parsed unless told otherwise.
pub const DEFAULT_SLICE_CACHE: usize = 4096;

/// The policies a slice is made of.
pub(crate) trait PolicyText {
    /// The id (for messages) and the Cedar text without annotations of the policy at
    /// `index` of the bundle.
    fn policy_text(&self, index: usize) -> Option<(&str, &str)>;
}

/// A set of policies parsed on demand.
pub(crate) struct Slot {
    /// Indices of the member policies in the bundle, in bundle order.
    members: Box<[u32]>,
    set: ArcSwapOption<PolicySet>,
    /// CLOCK's reference bit: set on every use, cleared by the sweep's first pass.
    used: AtomicBool,
}

/// Counters of a [`SliceCache`], for status and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SliceCacheStats {
    /// Slices in the bundle.
    pub slices: usize,
    /// Slices parsed and held now.
    pub resident: usize,
    /// The most slices held at once.
    pub capacity: usize,
    /// Decisions that found their slice parsed.
    pub hits: u64,
    /// Decisions that had to parse their slice.
    pub misses: u64,
    /// Slices dropped to stay within capacity.
    pub evictions: u64,
}

/// Every slot of a snapshot, with the counters and the CLOCK hand.
pub(crate) struct SliceCache {
    slots: Vec<Slot>,
    capacity: AtomicUsize,
    resident: AtomicUsize,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    /// The CLOCK hand. Only the sweep takes it, with `try_lock`: a decision that finds
    /// another sweeping goes on without waiting.
    hand: Mutex<usize>,
}

impl SliceCache {
    pub fn new(capacity: usize) -> SliceCache {
        SliceCache {
            slots: Vec::new(),
            capacity: AtomicUsize::new(capacity.max(1)),
            resident: AtomicUsize::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            hand: Mutex::new(0),
        }
    }

    /// Adds a slot of `members` and returns its number.
    pub fn add(&mut self, members: Vec<u32>) -> u32 {
        self.slots.push(Slot {
            members: members.into_boxed_slice(),
            set: ArcSwapOption::empty(),
            used: AtomicBool::new(false),
        });
        (self.slots.len() - 1) as u32
    }

    /// Sets how many slices may stay parsed, and trims to it.
    pub fn set_capacity(&self, capacity: usize) {
        self.capacity.store(capacity.max(1), Ordering::Relaxed);
        self.sweep();
    }

    pub fn stats(&self) -> SliceCacheStats {
        SliceCacheStats {
            slices: self.slots.len(),
            resident: self.resident.load(Ordering::Relaxed),
            capacity: self.capacity.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    /// The parsed set of slot `slot`, parsing it from `texts` if it is not held.
    pub fn get(&self, slot: u32, texts: &impl PolicyText) -> Result<Arc<PolicySet>, String> {
        let s = self
            .slots
            .get(slot as usize)
            .ok_or_else(|| format!("slice {slot} does not exist"))?;
        if let Some(set) = s.set.load_full() {
            self.hits.fetch_add(1, Ordering::Relaxed);
            if !s.used.load(Ordering::Relaxed) {
                s.used.store(true, Ordering::Relaxed);
            }
            return Ok(set);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let set = Arc::new(parse_set(&s.members, texts)?);
        s.used.store(true, Ordering::Relaxed);
        let before = s
            .set
            .compare_and_swap(&None::<Arc<PolicySet>>, Some(Arc::clone(&set)));
        match &*before {
            // Another decision parsed it first: use that copy, drop ours.
            Some(theirs) => Ok(Arc::clone(theirs)),
            None => {
                self.resident.fetch_add(1, Ordering::SeqCst);
                self.sweep();
                Ok(set)
            }
        }
    }

    /// Parses the sets of the first `capacity` slots now (every slot, for a bundle that
    /// fits), and keeps them.
    pub fn warm(&self, texts: &impl PolicyText) -> Result<(), String> {
        let cap = self.capacity.load(Ordering::Relaxed);
        for s in self.slots.iter().take(cap) {
            if s.set.load().is_none() {
                s.set.store(Some(Arc::new(parse_set(&s.members, texts)?)));
                self.resident.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Drops slices until no more than seven eighths of the capacity are held, so a run
    /// of misses does not sweep on every one. CLOCK: a slice used since the hand last
    /// passed gets a second chance. A decision that finds another sweeping goes on; the
    /// one sweeping looks again after letting go, so no growth is left unswept.
    fn sweep(&self) {
        // A few rounds at most: decisions that keep using every held slice could
        // otherwise keep the sweep going; the next miss sweeps again.
        for _ in 0..4 {
            if self.resident.load(Ordering::SeqCst) <= self.capacity.load(Ordering::Relaxed) {
                return;
            }
            let Ok(mut hand) = self.hand.try_lock() else {
                return;
            };
            let cap = self.capacity.load(Ordering::Relaxed);
            let target = cap - cap / 8;
            let n = self.slots.len();
            // Two full turns clear every reference bit, so this ends.
            for _ in 0..2 * n {
                if self.resident.load(Ordering::SeqCst) <= target {
                    break;
                }
                *hand = (*hand + 1) % n.max(1);
                let Some(s) = self.slots.get(*hand) else {
                    break;
                };
                if s.set.load().is_none() || s.used.swap(false, Ordering::Relaxed) {
                    continue;
                }
                if s.set.swap(None).is_some() {
                    self.resident.fetch_sub(1, Ordering::SeqCst);
                    self.evictions.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Parses the members of a slot into one Cedar set.
fn parse_set(members: &[u32], texts: &impl PolicyText) -> Result<PolicySet, String> {
    let mut set = PolicySet::new();
    for &i in members {
        let (id, text) = texts
            .policy_text(i as usize)
            .ok_or_else(|| format!("policy {i} is not in the bundle"))?;
        let policy = Policy::parse(Some(crate::snapshot::cedar_id(i as usize)), text)
            .map_err(|e| format!("policy `{id}` does not parse: {e}"))?;
        set.add(policy)
            .map_err(|e| format!("policy `{id}` cannot be added: {e}"))?;
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Texts(Vec<(String, String)>);
    impl PolicyText for Texts {
        fn policy_text(&self, i: usize) -> Option<(&str, &str)> {
            self.0.get(i).map(|(a, b)| (a.as_str(), b.as_str()))
        }
    }

    fn texts(n: usize) -> Texts {
        Texts(
            (0..n)
                .map(|i| {
                    (
                        format!("p{i}"),
                        format!("permit(principal, action, resource) when {{ {i} == {i} }};"),
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn holds_at_most_capacity_and_counts() -> Result<(), String> {
        let t = texts(100);
        let mut cache = SliceCache::new(16);
        for i in 0..100u32 {
            cache.add(vec![i]);
        }
        for round in 0..3 {
            for slot in 0..100u32 {
                let set = cache.get(slot, &t)?;
                assert_eq!(set.policies().count(), 1);
                let st = cache.stats();
                assert!(st.resident <= 16, "round {round}: {st:?}");
            }
        }
        let st = cache.stats();
        assert_eq!(st.hits + st.misses, 300);
        assert!(st.evictions > 0);
        assert_eq!(st.misses - st.evictions, st.resident as u64);
        Ok(())
    }

    #[test]
    fn a_hot_slice_survives_a_scan() -> Result<(), String> {
        let t = texts(64);
        let mut cache = SliceCache::new(8);
        for i in 0..64u32 {
            cache.add(vec![i]);
        }
        for slot in 1..64u32 {
            // Slot 0 is used between every other use.
            cache.get(0, &t)?;
            cache.get(slot, &t)?;
        }
        let before = cache.stats().misses;
        cache.get(0, &t)?;
        assert_eq!(cache.stats().misses, before, "slot 0 was evicted");
        Ok(())
    }

    #[test]
    fn a_broken_text_is_an_error_not_a_set() {
        let t = Texts(vec![("bad".into(), "permit(principal".into())]);
        let mut cache = SliceCache::new(4);
        let slot = cache.add(vec![0]);
        let err = cache.get(slot, &t).err().unwrap_or_default();
        assert!(err.contains("`bad` does not parse"), "{err}");
        assert!(cache.get(7, &t).is_err());
    }

    #[test]
    fn shrinking_the_capacity_trims() -> Result<(), String> {
        let t = texts(32);
        let mut cache = SliceCache::new(64);
        for i in 0..32u32 {
            cache.add(vec![i]);
        }
        cache.warm(&t)?;
        assert_eq!(cache.stats().resident, 32);
        cache.set_capacity(8);
        assert!(cache.stats().resident <= 8);
        Ok(())
    }
}
