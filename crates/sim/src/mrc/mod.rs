//! Miss-ratio curves: the miss ratio an LRU cache would have at every size, from one pass over a trace.
//!
//! [`stack`] computes exact LRU stack distances in O(log n) per request; [`shards`] follows all keys or a
//! spatial sample of them (SHARDS, fixed rate or fixed size); [`curve`] holds the distances' distribution and
//! reads miss ratios off it; [`MrcBuilder`] turns a trace's events into curves, whole and per pattern.

mod builder;
pub mod curve;
mod fenwick;
pub mod shards;
pub mod stack;

pub use builder::{Mrc, MrcBuilder, MrcConfig, PatternCurve};
pub use curve::{Curve, linear_sizes, log_sizes, mean_absolute_error};
pub use shards::{SampleCurve, SampleRange, Sampled, Sampling, Shards};
pub use stack::StackDistances;
