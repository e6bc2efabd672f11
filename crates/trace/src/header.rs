//! The header of a cachescope trace: what the source knew about the cache when it started recording.

use cachescope_core::InitialState;

/// Lines of the header: `#initial-state unknown`, `#cache-capacity 1073741824`, `#source ...`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceHeader {
    /// Whether the cache could hold keys before the first event.
    pub initial_state: InitialState,
    /// The cache's memory limit in bytes, when the source knew it.
    pub cache_capacity: Option<u64>,
    /// Free text: what recorded the trace.
    pub source: Option<String>,
    /// Requests only, each caching its object on a miss (block traces, libCacheSim's traces): a model replaying
    /// them writes after every miss. Set by the readers of such formats, never written to a file.
    pub read_through: bool,
}

impl TraceHeader {
    /// The header as `#name value` lines, without the first (format) line.
    pub fn to_lines(&self) -> String {
        let mut out = format!("#initial-state {}\n", self.initial_state.as_str());
        if let Some(capacity) = self.cache_capacity {
            out.push_str(&format!("#cache-capacity {capacity}\n"));
        }
        if let Some(source) = &self.source {
            out.push_str(&format!("#source {}\n", source.replace('\n', " ")));
        }
        out
    }

    /// Applies one `#name value` line. Unknown names are ignored (later versions may add some); a known name
    /// with a bad value is an error naming what was expected.
    pub fn apply_line(&mut self, line: &str) -> Result<(), (String, String)> {
        let body = line.trim_start_matches('#').trim();
        let (name, value) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
        let value = value.trim();
        match name {
            "initial-state" => {
                self.initial_state = match value {
                    "empty" => InitialState::Empty,
                    "unknown" => InitialState::Unknown,
                    _ => return Err(("`empty` or `unknown` after #initial-state".into(), value.into())),
                }
            }
            "cache-capacity" => {
                let bytes = value
                    .parse()
                    .map_err(|_| ("a number of bytes after #cache-capacity".to_string(), value.to_string()))?;
                self.cache_capacity = Some(bytes);
            }
            "source" => self.source = Some(value.to_string()),
            _ => {}
        }
        Ok(())
    }
}
