//! Sinks: where reports go. `text`, `json` and `live` render the engine's [`cachescope_core::Report`];
//! `curve_text` and `chart` render a miss-ratio curve, `whatif_text` a what-if; `http` serves the live layer, `webhook` posts its anomalies, `outlets` starts both (and the anomalies on the
//! terminal) for every live source.

pub mod chart;
pub mod curve_text;
pub mod http;
pub mod json;
pub mod live;
pub mod outlets;
pub mod text;
pub mod webhook;
pub mod whatif_text;
