//! The command line, as clap sees it.

use std::path::PathBuf;

use cachescope_trace::{TraceFormat, TraceHeader};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "cachescope",
    version,
    about = "Tells why your cache misses and what to change.",
    long_about = "Tells why your cache misses and what to change.\n\n\
        cachescope attributes every miss to a cause (never written, expired, evicted, deleted, flushed, failed \
        write) per key pattern, and turns that into findings with a concrete fix: a TTL, a memory size, the two key \
        formats to reconcile, the keys to warm.",
    after_help = "Start with `cachescope demo`, then `cachescope analyze YOUR.trace`.\n\
        Exit codes: 0 done, 1 or 2 findings at the --fail-on level (warning, critical), 64 usage, 65 bad input \
        data, 66 input not found, 73 output cannot be created, 74 I/O error, 78 bad configuration."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// When to colour the output: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Show no progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Log more to stderr (-v: details, -vv: debugging). RUST_LOG overrides.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// How stderr logs: text for people, or json (one object a line, status lines included) for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a built-in scenario with planted faults and report what cachescope finds. Needs no server.
    Demo(DemoArgs),
    /// Replay a trace file and report why its reads missed.
    Analyze(AnalyzeArgs),
    /// Merge the shares of an analysis run in shards (`analyze --shard I/N`, on one machine or many) into the
    /// report of the whole trace.
    Merge(MergeArgs),
    /// Rewrite a recording (readable or compact, of any version) or a packet capture as a compact trace in
    /// blocks, which analyze and mrc read on every core, or as readable text.
    Convert(ConvertArgs),
    /// Relay an application's Redis traffic, unchanged, and report live why it misses.
    Proxy(ProxyArgs),
    /// Check a live Redis, read-only: hit ratio, evictions, memory, policy, errors, restarts, and a key sample.
    Doctor(DoctorArgs),
    /// Follow a live Redis through its keyspace notifications, with no proxy: every miss, and why the server
    /// says the key was gone. Report when stopped.
    Watch(WatchArgs),
    /// Read the RESP traffic off the network (a packet capture, Linux, root or CAP_NET_RAW), with no proxy and
    /// nothing to reconfigure, and report live why it misses. Report when stopped.
    Capture(CaptureArgs),
    /// The miss ratio an LRU cache would have at every size, from a trace: as a table, JSON, or an SVG chart.
    Mrc(MrcArgs),
    /// Replay a trace with other TTLs, memory or eviction policy, and compare hit ratios before and after.
    Whatif(WhatifArgs),
    /// Put a marker (a deploy, a config change) into the traffic of a running instance served with --http.
    Mark(MarkArgs),
    /// A live dashboard in the terminal: of a running instance served with --http, or of the demo played live.
    Top(TopArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "Keys: q quit, ? help, s sort, r reverse, / filter, t time range, p pause, arrows and Enter \
    for a pattern's detail. Works over ssh, in 80x24 and wider, with NO_COLOR.")]
pub struct TopArgs {
    /// The running instance: the address it serves with --http.
    #[arg(default_value = "http://127.0.0.1:9180", value_name = "URL", conflicts_with_all = ["demo", "upstream"])]
    pub url: String,

    /// The bearer token the instance wants.
    #[arg(long, env = "CACHESCOPE_HTTP_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub http_token: Option<String>,

    /// Instead, play the demo live in this process (no Redis needed).
    #[arg(long, conflicts_with = "upstream")]
    pub demo: bool,

    /// Instead, run a proxy in this process in front of this server (redis://, rediss://), and watch its traffic:
    /// point the application at --listen.
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,

    /// With --upstream: where the proxy listens.
    #[arg(long, default_value = "127.0.0.1:6380", value_name = "ADDRESS", requires = "upstream")]
    pub listen: String,

    /// With --demo: how many times faster than real time.
    #[arg(long, default_value_t = 10.0, value_name = "FACTOR", requires = "demo")]
    pub speed: f64,

    /// Print one frame of this size (`120x40`) as text and exit, instead of taking over the terminal.
    #[arg(long, value_name = "WIDTHxHEIGHT")]
    pub dump: Option<String>,
}

#[derive(Debug, Args)]
pub struct MarkArgs {
    /// What happened: `deploy`, `config`, anything one word.
    #[arg(default_value = "deploy", value_name = "KIND")]
    pub kind: String,

    /// A note: the version deployed, the setting changed.
    #[arg(long, default_value = "", value_name = "TEXT")]
    pub note: String,

    /// The running instance's HTTP address (its --http).
    #[arg(long, default_value = "http://127.0.0.1:9180", value_name = "URL")]
    pub url: String,

    /// The instance's bearer token, when it has one.
    #[arg(long, env = "CACHESCOPE_HTTP_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub http_token: Option<String>,
}

/// The live layer: its windows, and where it serves them.
#[derive(Debug, Args)]
pub struct LiveArgs {
    /// The length of one window of the live series and of the anomaly detector (`10s`, `1m`; 1 s to 1 h).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub window: std::time::Duration,

    /// How far back the series go (the last hour at one point a window, older ones downsampled); memory is
    /// bounded by it whatever the run's length.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub horizon: std::time::Duration,

    #[command(flatten)]
    pub http: HttpArgs,

    /// POST each anomaly opened and closed to this URL as JSON with a `text` field (a Slack-style incoming
    /// webhook shows it); retried with backoff, never holding up the traffic or the analysis.
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,

    /// Webhook messages at most, a minute; what comes past it is sent as one digest.
    #[arg(long, default_value_t = 10, value_name = "N", requires = "webhook")]
    pub webhook_per_minute: u32,
}

/// Serving the live layer over HTTP.
#[derive(Debug, Args)]
pub struct HttpArgs {
    /// Serve Prometheus metrics, the JSON API and live events on this address (`127.0.0.1:9180`; see
    /// docs/metrics.md). An address other hosts can reach needs --http-token.
    #[arg(long, value_name = "ADDRESS")]
    pub http: Option<String>,

    /// The bearer token every HTTP request must carry.
    #[arg(long, env = "CACHESCOPE_HTTP_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub http_token: Option<String>,

    /// Serve no key name: each key named in findings and anomalies shows as its pattern (`user:{num}`), for
    /// dashboards on shared screens.
    #[arg(long)]
    pub redact_keys: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Read-only: sends PING, INFO all, SCAN, TYPE, PTTL, MEMORY USAGE, OBJECT IDLETIME (not under an LFU \
    policy), and AUTH/SELECT when the URL asks, nothing else. Exit codes: 0 healthy, 1 warnings, 2 critical findings; 69 server unreachable, \
    77 credentials refused."
)]
pub struct DoctorArgs {
    /// The server: redis://[user:password@]host:port[/db], or rediss:// for TLS (add #insecure to accept any
    /// certificate).
    #[arg(default_value = crate::redis_url::DEFAULT, value_name = "URL")]
    pub url: String,

    /// How long to measure the hit ratio, evictions and expirations (`10s`, `1m`).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub interval: std::time::Duration,

    /// Keys to sample with SCAN, at most.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub sample: usize,

    /// After the sample, how long to follow its keys due to expire through their expiry, to see whether they are
    /// read again soon after (what tells a TTL too short); `0s` skips it.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub expiry_watch: std::time::Duration,

    /// How long to wait for the server to connect or answer.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub timeout: std::time::Duration,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Needs notify-keyspace-events to include E, m, x, e, g and $ (\"AEm\" does): watch checks, and \
    says how to set it when it does not. Sees every miss and its cause, not hits: the hit ratio is the server's \
    own (INFO), and per pattern the report gives misses, their causes and their share of all misses."
)]
pub struct WatchArgs {
    /// The server: redis://[user:password@]host:port, or rediss:// for TLS (add #insecure to accept any
    /// certificate). Every database is followed. For a Redis Cluster, one node's URL: every primary it lists
    /// (CLUSTER NODES) is followed, with the same credentials; or the URL of each node to follow.
    #[arg(default_value = crate::redis_url::DEFAULT, value_name = "URL", num_args = 1..)]
    pub urls: Vec<String>,

    /// Set notify-keyspace-events with CONFIG SET when it lacks what watch needs, and put the old value back
    /// when the watch stops: the only write cachescope makes, and only with this flag.
    #[arg(long)]
    pub enable_notifications: bool,

    /// Stop after this long (`30s`, `1h`); without it, Ctrl-C or SIGTERM stops.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub duration: Option<std::time::Duration>,

    /// How long to wait for the server to connect or answer.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub timeout: std::time::Duration,

    /// How often to print the findings while watching, when they changed.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub report_every: std::time::Duration,

    #[command(flatten)]
    pub live: LiveArgs,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Capture on the cache's host or an application's. Needs root, or once: \
    sudo setcap cap_net_raw+ep $(command -v cachescope). TLS traffic cannot be read; `cachescope analyze FILE` \
    reads what tcpdump or Wireshark captured.")]
pub struct CaptureArgs {
    /// The network interface to capture on (`any`: all of them; `lo` for a server on this host).
    #[arg(long, short = 'i', default_value = "any", value_name = "NAME")]
    pub interface: String,

    /// The cache's port; repeat it for several instances (`--port 6379 --port 6380`).
    #[arg(long, short = 'p', default_value = "6379", value_name = "PORT")]
    pub port: Vec<u16>,

    /// Stop after this long and print the report (default: run until Ctrl-C).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub duration: Option<std::time::Duration>,

    /// How often to print the findings while capturing, when they changed.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub report_every: std::time::Duration,

    #[command(flatten)]
    pub recording: RecordArgs,

    #[command(flatten)]
    pub live: LiveArgs,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// `--record`, for the commands that can write what they see as a trace.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Also record the traffic as a trace (`.zst` compresses): `cachescope analyze FILE` reads it later.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Format of --record: cachescope (readable) or cachescope-compact.
    #[arg(long, default_value = "cachescope", value_parser = parse_written_format, value_name = "FORMAT")]
    pub record_format: TraceFormat,
}

impl RecordArgs {
    /// Where to record, in which format, under `header`; None without --record.
    pub fn with_header(&self, header: TraceHeader) -> Option<(PathBuf, TraceFormat, TraceHeader)> {
        self.record.as_ref().map(|path| (path.clone(), self.record_format, header))
    }
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Address to listen on: point the application here instead of at Redis.
    #[arg(long, default_value = "127.0.0.1:6380", value_name = "ADDRESS")]
    pub listen: String,

    /// The Redis server to relay to: redis://[user:password@]host:port, or rediss:// for TLS to the server
    /// (clients still connect in plain TCP; add #insecure to accept any certificate). The URL's credentials serve
    /// the proxy's own INFO checks; clients authenticate themselves.
    #[arg(long, default_value = crate::redis_url::DEFAULT, value_name = "URL")]
    pub upstream: String,

    /// CA certificates (PEM) to trust for a rediss:// upstream, beside the system's.
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Option<PathBuf>,

    /// How often the findings are printed when they changed (`10s`, `1m`).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub report_every: std::time::Duration,

    /// Stop after this long and print the report (default: run until Ctrl-C).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub duration: Option<std::time::Duration>,

    #[command(flatten)]
    pub recording: RecordArgs,

    /// Clients served at once, at most.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub max_connections: usize,

    /// Give every client an upstream connection of its own. By default clients share one while they send only
    /// commands that leave a connection as they found it (GET, SET, DEL, EXPIRE...), as twemproxy does, which
    /// takes fewer system calls a command, and clients that open alike (HELLO 3, AUTH, SELECT, CLIENT SETNAME)
    /// share one set up that way; a client moves to a connection of its own at its first command that needs one
    /// (SELECT later, MULTI, WATCH, CLIENT, blocking commands, subscriptions, MONITOR). Either way every byte
    /// passes unchanged.
    #[arg(long)]
    pub dedicated_upstream: bool,

    /// Threads relaying traffic (the analysis has one of its own). One is the most efficient; more only help
    /// heavy pipelined traffic on a host with cores to spare.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub threads: usize,

    #[command(flatten)]
    pub live: LiveArgs,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The scenario to run: `all` (every fault at once), `healthy`, or one fault alone (see --list).
    #[arg(long, short, default_value = "all", value_name = "NAME")]
    pub scenario: String,

    /// List the scenarios and exit.
    #[arg(long)]
    pub list: bool,

    /// Seed of the simulation: the same seed gives the same traffic.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    #[command(flatten)]
    pub recording: RecordArgs,

    /// Do not replay the suggestions through a cache model to put a number on them (the scenario runs again).
    #[arg(long)]
    pub no_simulation: bool,

    /// Play the scenario in real time through the live layer, as a live source would: its faults start part-way
    /// (a deploy that changes a key format, a TTL cut, a flush, a restart), anomalies open and close as they
    /// happen, and --http and --webhook work as with the proxy.
    #[arg(long)]
    pub live: bool,

    /// With --live: how many times faster than real time (30 simulated minutes take 3 at 10).
    #[arg(long, default_value_t = 10.0, value_name = "FACTOR", requires = "live")]
    pub speed: f64,

    #[command(flatten)]
    pub live_options: LiveArgs,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub input: TraceArgs,

    /// Eviction policy of the cache model that replays traces without outcomes: a Redis maxmemory-policy
    /// (allkeys-lru, allkeys-lfu, volatile-ttl, ...) as Redis runs it, an exact variant (allkeys-lru-exact), or
    /// allkeys-fifo. Default: allkeys-lru-exact.
    #[arg(long, value_name = "POLICY")]
    pub policy: Option<cachescope_sim::Policy>,

    #[command(flatten)]
    pub model: ModelArgs,

    /// What the cache held when a trace of requests only began. `running`: keys the trace reads before it
    /// writes them are presumed held (the default for Twitter traces and for recordings that joined a running
    /// server). `empty`: every key the trace has not written misses (the default for block and libCacheSim
    /// traces, and for recordings from the server's start).
    #[arg(long, value_enum, value_name = "STATE")]
    pub cache_start: Option<CacheStart>,

    /// Exit with 1 (warning) or 2 (critical) when a finding is at least this severe.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,

    /// Do not replay the suggestions through a cache model to put a number on them (one more pass over the
    /// trace).
    #[arg(long)]
    pub no_simulation: bool,

    /// Threads analysing the trace, each a share of the keys: the report is the same whatever the number (but
    /// for which keys a finding names as the hottest when none stands out, docs/shards.md), and the key budget is
    /// shared among them. Default: one per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,

    /// Analyse only the I-th of N shares of the keys (`3/16`, by hash) and write that share to a file instead
    /// of a report: `cachescope merge` turns the N files into the report of the whole trace. Each shard reads
    /// the whole trace; run them on as many machines as wanted (docs/shards.md).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<cachescope_core::Shard>,

    /// With --shard: the file to write the share to. Default: shard-I-of-N.cs in the current directory.
    #[arg(long, value_name = "FILE", requires = "shard")]
    pub share_file: Option<PathBuf>,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Recordings made before the compact format had blocks (version 1) are read by one thread; \
    converted, every core reads them. The events, their order and the trace's header are kept as they are; a \
    packet capture's account of its gaps and resyncs is logged, not kept.")]
pub struct ConvertArgs {
    /// The trace: a cachescope recording (readable or compact, of any version) or a packet capture (pcap or
    /// pcapng) of RESP traffic; optionally zstd-compressed.
    #[arg(value_name = "TRACE")]
    pub trace: PathBuf,

    /// The file to write; `.zst` compresses it.
    #[arg(value_name = "OUTPUT")]
    pub output: PathBuf,

    /// The trace's format, when recognising it is not enough: cachescope, cachescope-compact or pcap.
    #[arg(long, short, value_parser = parse_format, value_name = "FORMAT")]
    pub format: Option<TraceFormat>,

    /// The format to write: cachescope-compact (in blocks), or cachescope (readable, one event a line).
    #[arg(long, default_value = "cachescope-compact", value_parser = parse_written_format, value_name = "FORMAT")]
    pub to: TraceFormat,

    /// Replace OUTPUT if it exists.
    #[arg(long)]
    pub force: bool,

    /// Count and leave out malformed lines instead of stopping at the first one; a trace cut short (a recording
    /// that did not finish) is converted up to the cut.
    #[arg(long)]
    pub skip_bad_lines: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The files written by `cachescope analyze TRACE --shard I/N`, one per shard, in any order.
    #[arg(value_name = "SHARE", required = true)]
    pub shares: Vec<PathBuf>,

    /// Report on the shards given even when some are missing: every count is then of their keys only.
    #[arg(long)]
    pub allow_missing: bool,

    /// Exit with 1 (warning) or 2 (critical) when a finding is at least this severe.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Exact by default (stack distances, O(log n) a read, memory in proportion to the keys); \
    --sample-rate or --sample-keys follow a spatial sample of keys instead (SHARDS) for traces too large to hold.")]
pub struct MrcArgs {
    #[command(flatten)]
    pub input: TraceArgs,

    /// Follow this share of the keys (SHARDS, fixed rate): 0.01 follows 1% of them, about 100 times less work.
    #[arg(long, value_name = "RATE", conflicts_with = "sample_keys", value_parser = parse_rate)]
    pub sample_rate: Option<f64>,

    /// Follow at most this many keys (SHARDS, fixed size): memory stays fixed whatever the trace.
    #[arg(long, value_name = "N", conflicts_with = "sample_rate")]
    pub sample_keys: Option<usize>,

    /// The cache's size now, in bytes (or objects with --unit-size): marked in the table and the chart. Default:
    /// the trace's own `#cache-capacity`.
    #[arg(long, value_parser = parse_bytes, value_name = "SIZE")]
    pub cache_size: Option<u64>,

    /// Count objects instead of sizing them: sizes are numbers of objects (block traces).
    #[arg(long)]
    pub unit_size: bool,

    /// Sizes in the table, spread on a log scale up to the size past which nothing more hits.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub points: usize,

    /// These sizes instead, comma-separated (`256mb,512mb,1gb,2gb`).
    #[arg(long, value_delimiter = ',', value_parser = parse_bytes, value_name = "SIZES")]
    pub sizes: Vec<u64>,

    /// Curves per key pattern for this many patterns, most read first (0: none).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub patterns: usize,

    /// Write the curve as an SVG chart to FILE, the current size marked.
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,

    /// A TOML file with pattern rules (see docs/configuration.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Threads: with more than one, an exact curve with patterns has one thread read the trace and fold the keys
    /// and another compute the stack distances. Default: one per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,

    /// Output format: text for people, json for programs (schema in docs/report-schema.md).
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Text, value_name = "FORMAT")]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cachescope whatif app.trace --ttl 'session:*=600s'\n  \
    cachescope whatif app.trace --maxmemory 2gb --policy allkeys-lfu\n  \
    cachescope whatif OLTP.lis.zst --unit-size --cache-size 1000 --maxmemory 15000\n\n\
    Both sides are simulated with the same model, so that its approximations cancel out; the trace's own hit \
    ratio is shown beside them when it was recorded.")]
pub struct WhatifArgs {
    #[command(flatten)]
    pub input: TraceArgs,

    /// A new TTL for some keys, `SELECTOR=DURATION`: a glob over keys (`session:*`) or a pattern
    /// (`session:{uuid}`), and a duration (`600s`, `10m`, `1h`; a bare number is seconds). Repeatable.
    #[arg(long = "ttl", value_parser = parse_ttl_override, value_name = "SELECTOR=DURATION")]
    pub ttls: Vec<cachescope_sim::whatif::TtlOverride>,

    /// A new memory limit, in bytes (`2gb`), or in objects with --unit-size.
    #[arg(long, value_parser = parse_bytes, value_name = "SIZE")]
    pub maxmemory: Option<u64>,

    /// A new eviction policy (noeviction, allkeys-lru, allkeys-lfu, volatile-ttl, ..., or an -exact variant).
    #[arg(long, value_name = "POLICY")]
    pub policy: Option<cachescope_sim::Policy>,

    /// Stop caching some keys (a glob or a pattern): their writes are dropped. Repeatable.
    #[arg(long = "no-cache", value_parser = parse_selector, value_name = "SELECTOR")]
    pub not_cached: Vec<cachescope_sim::whatif::Selector>,

    /// The eviction policy now (default allkeys-lru, as Redis runs it).
    #[arg(long, value_name = "POLICY")]
    pub current_policy: Option<cachescope_sim::Policy>,

    #[command(flatten)]
    pub model: ModelArgs,

    /// Threads replaying the two sides, each reading its events from the one pass over the trace. Default: one
    /// per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// A trace file and how to read it.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The trace: cachescope's format (readable or compact), a Twitter cache-trace CSV, the ARC traces' format,
    /// libCacheSim's oracleGeneral, or CSV with --csv-columns; optionally zstd-compressed.
    #[arg(value_name = "TRACE")]
    pub trace: PathBuf,

    /// The trace's format, when recognising it is not enough: cachescope, cachescope-compact, twitter-csv, arc,
    /// oracle-general, csv (with --csv-columns).
    #[arg(long, short, value_parser = parse_format, value_name = "FORMAT")]
    pub format: Option<TraceFormat>,

    /// With --format csv: which columns hold the key, the time (seconds) and the size, 1-based (`key=5,time=2,size=4`).
    #[arg(long, value_parser = parse_columns, value_name = "COLUMNS")]
    pub csv_columns: Option<cachescope_trace::Columns>,

    /// Count and report malformed lines instead of stopping at the first one; a trace cut short (a recording that
    /// did not finish) is read up to the cut, with a warning.
    #[arg(long)]
    pub skip_bad_lines: bool,
}

/// The cache model that gives outcomes to requests recorded without them.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Memory of the cache model, in bytes (`512MiB`, `2gb`), or in objects with --unit-size. Default: the
    /// trace's own `#cache-capacity`, else unbounded.
    #[arg(long, value_parser = parse_bytes, value_name = "SIZE")]
    pub cache_size: Option<u64>,

    /// Count objects instead of sizing them: every object is 1 and --cache-size is a number of objects (block
    /// traces, whose pages all have one size).
    #[arg(long)]
    pub unit_size: bool,

    /// Redis's maxmemory-samples, for its sampled policies.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub maxmemory_samples: u32,

    /// Redis's lfu-log-factor, for its LFU policies.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub lfu_log_factor: u32,

    /// Redis's lfu-decay-time in minutes, for its LFU policies.
    #[arg(long, default_value_t = 1, value_name = "MINUTES")]
    pub lfu_decay_time: u32,
}

impl ModelArgs {
    /// The model of `policy`, with `capacity` (this group's --cache-size, or the trace's).
    pub fn config(&self, capacity: Option<u64>, policy: cachescope_sim::Policy) -> cachescope_sim::ModelConfig {
        let mut config = cachescope_sim::ModelConfig::new(capacity, policy).unit_size(self.unit_size);
        config.tuning = cachescope_sim::model::RedisTuning {
            samples: self.maxmemory_samples,
            lfu_log_factor: self.lfu_log_factor,
            lfu_decay_minutes: self.lfu_decay_time,
        };
        config
    }
}

#[derive(Debug, Args)]
pub struct EngineArgs {
    /// A TOML file with pattern rules and engine settings (see docs/configuration.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Memory for per-key state; past it keys are sampled and figures scaled (default 64MiB).
    #[arg(long, value_parser = parse_bytes, value_name = "BYTES")]
    pub key_budget: Option<u64>,

    /// Most key patterns kept; the rest are counted under `{other}` (default 500).
    #[arg(long, value_name = "N")]
    pub max_patterns: Option<usize>,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Report format: text for people, json for programs (schema in docs/report-schema.md).
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Text, value_name = "FORMAT")]
    pub output: OutputFormat,

    /// Patterns shown in the text report, most misses first.
    #[arg(long, default_value_t = 15, value_name = "N")]
    pub top: usize,
}

/// What the cache held when a trace of requests only began (`--cache-start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CacheStart {
    Empty,
    Running,
}

impl From<CacheStart> for cachescope_sim::Start {
    fn from(start: CacheStart) -> Self {
        match start {
            CacheStart::Empty => cachescope_sim::Start::Empty,
            CacheStart::Running => cachescope_sim::Start::Running,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Warning,
    Critical,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate <= 1.0 => Ok(rate),
        _ => Err(format!("`{text}` is not a rate between 0 and 1 (0.01 follows 1% of the keys)")),
    }
}

fn parse_bytes(text: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(text)
        .map_err(|e| format!("{e}: expected a size such as 67108864, 64MiB, 512mb or 2gb"))
}

fn parse_selector(text: &str) -> Result<cachescope_sim::whatif::Selector, String> {
    cachescope_sim::whatif::Selector::parse(text).map_err(|e| e.to_string())
}

fn parse_ttl_override(text: &str) -> Result<cachescope_sim::whatif::TtlOverride, String> {
    let (selector, duration) = text
        .rsplit_once('=')
        .ok_or_else(|| format!("`{text}` is not SELECTOR=DURATION (for example 'session:*=600s')"))?;
    let selector = parse_selector(selector)?;
    let duration = match duration.trim().parse::<u64>() {
        Ok(seconds) => std::time::Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(duration.trim())
            .map_err(|e| format!("`{duration}` in `{text}` is not a duration ({e}): 600s, 10m, 1h"))?,
    };
    if duration.is_zero() {
        return Err(format!("`{text}`: a TTL of zero would delete the keys; use --no-cache to stop caching them"));
    }
    Ok(cachescope_sim::whatif::TtlOverride { selector, ttl_ms: duration.as_millis() as u64 })
}

fn parse_columns(text: &str) -> Result<cachescope_trace::Columns, String> {
    text.parse()
}

fn parse_format(text: &str) -> Result<TraceFormat, String> {
    text.parse()
}

fn parse_written_format(text: &str) -> Result<TraceFormat, String> {
    match text.parse::<TraceFormat>()? {
        format if format.is_written() => Ok(format),
        _ => Err("traces are written in cachescope or cachescope-compact".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("2gb"), Ok(2 << 30));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert!(parse_bytes("lots").unwrap_err().contains("expected a size"));
    }
}
