//! Sinks: where reports go. Each renders the same [`cachescope_core::Report`].

pub mod json;
pub mod live;
pub mod text;
