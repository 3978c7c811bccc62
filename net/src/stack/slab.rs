//! A bounded table of flows addressed by small integers (which become mio tokens).

pub struct Slab<T> {
    entries: Vec<Option<T>>,
    free: Vec<usize>,
    len: usize,
    capacity: usize,
}

impl<T> Slab<T> {
    pub fn with_capacity(capacity: usize) -> Slab<T> {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
            capacity,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len >= self.capacity
    }

    /// Inserts `value`, or gives it back when the table is full.
    pub fn insert(&mut self, value: T) -> Result<usize, T> {
        if self.is_full() {
            return Err(value);
        }
        self.len += 1;
        match self.free.pop() {
            Some(slot) => {
                self.entries[slot] = Some(value);
                Ok(slot)
            }
            None => {
                self.entries.push(Some(value));
                Ok(self.entries.len() - 1)
            }
        }
    }

    pub fn get_mut(&mut self, slot: usize) -> Option<&mut T> {
        self.entries.get_mut(slot).and_then(Option::as_mut)
    }

    pub fn remove(&mut self, slot: usize) -> Option<T> {
        let value = self.entries.get_mut(slot).and_then(Option::take)?;
        self.len -= 1;
        self.free.push(slot);
        Some(value)
    }

    /// Slots in use.
    #[cfg(test)]
    pub fn slots(&self) -> Vec<usize> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(slot, entry)| entry.as_ref().map(|_| slot))
            .collect()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut T)> {
        self.entries
            .iter_mut()
            .enumerate()
            .filter_map(|(slot, entry)| entry.as_mut().map(|value| (slot, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any sequence of inserts and removes keeps the bound, the count and the
        /// contents right (a model: a map from slot to value).
        #[test]
        fn the_table_matches_a_model(ops in proptest::collection::vec((any::<bool>(), 0usize..12), 0..200)) {
            let mut slab = Slab::with_capacity(8);
            let mut model = std::collections::BTreeMap::new();
            for (n, (insert, slot)) in ops.into_iter().enumerate() {
                if insert {
                    match slab.insert(n) {
                        Ok(at) => {
                            prop_assert!(model.insert(at, n).is_none(), "slot {at} handed out twice");
                        }
                        Err(value) => {
                            prop_assert_eq!(value, n);
                            prop_assert_eq!(model.len(), 8);
                        }
                    }
                } else {
                    prop_assert_eq!(slab.remove(slot), model.remove(&slot));
                }
                prop_assert_eq!(slab.len(), model.len());
                prop_assert!(slab.len() <= 8);
            }
            let slots: Vec<usize> = model.keys().copied().collect();
            prop_assert_eq!(slab.slots(), slots);
        }
    }

    #[test]
    fn slots_are_reused_and_the_bound_holds() {
        let mut slab = Slab::with_capacity(2);
        let a = slab.insert('a').unwrap();
        let b = slab.insert('b').unwrap();
        assert_eq!(slab.insert('c'), Err('c'));
        assert_eq!(slab.remove(a), Some('a'));
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.insert('d'), Ok(a));
        assert_eq!(slab.slots(), [a, b]);
        assert_eq!(slab.len(), 2);
    }
}
