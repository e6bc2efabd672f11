//! The JSON contracts of the commands whose reports are not the engine's (`mrc`, `whatif`): in a module of
//! their own, so that the commands that build them and the sinks that render them both import them, and
//! neither imports the other.

pub mod mrc;
pub mod whatif;
