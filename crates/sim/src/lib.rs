//! Simulation for cachescope: cache models that give outcomes to requests that were recorded without them, and
//! an application simulator that produces the demo's traffic.
//!
//! Depends on the engine crate for the event model only; it never looks at findings.

pub mod by_pattern;
mod id_map;
pub mod model;
pub mod mrc;
pub mod scenario;
pub mod whatif;

pub use model::{CacheModel, ModelConfig, Policy, Start, build, exact_lru};
