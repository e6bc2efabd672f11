//! Bounded-memory summaries of streams: every one of them takes a fixed amount of memory whatever the number of
//! keys, and merges with another of its kind (patterns merge when learned folding joins them).

pub mod bottom_k;
pub mod distribution;
pub mod timeline;
pub mod top_k;

pub use bottom_k::BottomK;
pub use distribution::Distribution;
pub use timeline::{Timeline, TimelineBucket};
pub use top_k::KeyTopK;
