//! A keyed rate-limit state store that holds at most `max_keys` keys.
//!
//! governor's own stores grow with every key ever seen until the next prune, and the keys
//! of a login limit are chosen by clients. Here a key that is already tracked is limited as
//! usual; a *new* key arriving while the store is full is measured as a fresh key and not
//! stored, i.e. it passes this limit uncounted. Refusing it instead would let whoever fills
//! the store lock every new client out, while passing it buys the filler nothing: the keys
//! it already holds stay limited, and the other limits (per address, the per-name back-off)
//! still apply. [`super::limits`] prunes recovered keys when the store fills, so this
//! happens only while the store is full of keys that are all still counting.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed, StateStore};

pub struct BoundedKeyStore<K> {
    map: Mutex<HashMap<K, InMemoryState>>,
    max_keys: usize,
}

impl<K: Hash + Eq + Clone> BoundedKeyStore<K> {
    pub fn new(max_keys: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            max_keys: max_keys.max(1),
        }
    }

    /// A poisoned lock only means a panic elsewhere while holding it; the map of atomics
    /// is still consistent.
    fn lock(&self) -> MutexGuard<'_, HashMap<K, InMemoryState>> {
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<K: Hash + Eq + Clone> StateStore for BoundedKeyStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let mut map = self.lock();
        if let Some(state) = map.get(key) {
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        if map.len() >= self.max_keys {
            // Full: judged as a fresh key, not remembered (see the module note).
            return f(None).map(|(result, _)| result);
        }
        map.entry(key.clone())
            .or_default()
            .measure_and_replace(&NotKeyed::NonKey, f)
    }
}

/// The state a key holds now (`None`: fresh), read without changing it.
fn peek(state: &InMemoryState) -> Option<Nanos> {
    match state.measure_and_replace(&NotKeyed::NonKey, Err::<((), Nanos), _>) {
        Err(now) => now,
        Ok(()) => None,
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for BoundedKeyStore<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        self.lock()
            .retain(|_, state| peek(state).is_some_and(|tat| tat > drop_below));
    }

    fn shrink_to_fit(&self) {
        self.lock().shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}
