//! Asking the processor for memory ahead of use: a loop over events whose state lies in tables far larger than
//! the caches (the engine's keys, a cache model's filter) names the next events' state a few events ahead, so
//! that the waits for memory overlap the work on the events before.

/// Brings the memory of `value` (its first and last byte, so both cache lines of one that straddles two) into
/// the cache, without waiting for it.
#[inline]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let first = (value as *const T).cast::<i8>();
        let last = first.wrapping_add(std::mem::size_of::<T>().max(1) - 1);
        // SAFETY: SSE is part of x86_64; a prefetch reads nothing and cannot fault, whatever the address.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(first);
            _mm_prefetch::<_MM_HINT_T0>(last);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
