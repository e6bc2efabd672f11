//! A Fenwick (binary indexed) tree of sums over positions: point update and prefix sum in O(log n).

#[derive(Debug, Clone, Default)]
pub struct Fenwick {
    tree: Vec<u64>,
}

impl Fenwick {
    pub fn with_len(len: usize) -> Self {
        Fenwick { tree: vec![0; len + 1] }
    }

    /// Makes this a tree of `len` positions whose values `fill` writes (into a slice of zeros, position 0
    /// first), built in O(n) in the memory it has: each node passes its sum to its parent once.
    pub fn rebuild(&mut self, len: usize, fill: impl FnOnce(&mut [u64])) {
        self.tree.clear();
        self.tree.resize(len + 1, 0);
        fill(&mut self.tree[1..]);
        for i in 1..=len {
            let parent = i + (i & i.wrapping_neg());
            if parent <= len {
                self.tree[parent] = self.tree[parent].wrapping_add(self.tree[i]);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.tree.len() - 1
    }

    /// Adds `delta` (two's complement for a subtraction) at `position` (0-based).
    #[inline]
    pub fn add(&mut self, position: usize, delta: u64) {
        let mut i = position + 1;
        while i < self.tree.len() {
            self.tree[i] = self.tree[i].wrapping_add(delta);
            i += i & i.wrapping_neg();
        }
    }

    /// The sum of positions `0..end`.
    #[inline]
    pub fn prefix(&self, end: usize) -> u64 {
        let mut i = end.min(self.len());
        let mut sum = 0u64;
        while i > 0 {
            sum = sum.wrapping_add(self.tree[i]);
            i &= i - 1;
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums() {
        let mut f = Fenwick::with_len(10);
        f.add(0, 5);
        f.add(3, 2);
        f.add(9, 1);
        assert_eq!(f.prefix(0), 0);
        assert_eq!(f.prefix(1), 5);
        assert_eq!(f.prefix(4), 7);
        assert_eq!(f.prefix(10), 8);
        f.add(3, 2u64.wrapping_neg());
        assert_eq!(f.prefix(10), 6);
    }

    #[test]
    fn rebuilt_from_values_as_by_adding_them() {
        for len in [0, 1, 2, 7, 16, 33, 100] {
            let values: Vec<u64> = (0..len as u64).map(|i| i * 7 % 11).collect();
            let mut added = Fenwick::with_len(len);
            for (position, &value) in values.iter().enumerate() {
                added.add(position, value);
            }
            let mut built = Fenwick::with_len(3);
            built.add(1, 5);
            built.rebuild(len, |slots| slots.copy_from_slice(&values));
            for end in 0..=len {
                assert_eq!(built.prefix(end), added.prefix(end), "len {len}, prefix {end}");
            }
        }
    }
}
