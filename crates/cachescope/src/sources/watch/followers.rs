//! The subscriber threads of a watch, one per node followed: started at the beginning, and later for a node that
//! became a primary (a failover, a node added), stopped early for one that became a replica.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use cachescope_core::report::EventGap;
use cachescope_live::EventSink;

use super::nodes::Node;
use super::subscriber;

struct Follower {
    number: u16,
    name: String,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(Vec<EventGap>, u64)>,
}

pub(super) struct Followers {
    timeout: Duration,
    sink: EventSink,
    /// Gaps of every subscriber, for the live layer's total.
    all_gaps: Arc<AtomicU64>,
    stopping: AtomicBool,
    threads: Mutex<Vec<Follower>>,
}

impl Followers {
    pub fn new(timeout: Duration, sink: EventSink) -> Self {
        Followers {
            timeout,
            sink,
            all_gaps: Arc::new(AtomicU64::new(0)),
            stopping: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        }
    }

    /// Starts following `node`'s key events.
    pub fn follow(&self, node: Node) {
        let stop = Arc::new(AtomicBool::new(false));
        let (number, name) = (node.number, node.name());
        let thread = {
            let (sink, stop, all_gaps, timeout) =
                (self.sink.clone(), stop.clone(), self.all_gaps.clone(), self.timeout);
            std::thread::Builder::new()
                .name(format!("cachescope-watch-{number}"))
                .spawn(move || subscriber::run(&node, timeout, &sink, &stop, &all_gaps))
                .expect("a thread")
        };
        self.lock().push(Follower { number, name, stop, thread });
    }

    /// Stops following node `number` (what it saw so far stays).
    pub fn unfollow(&self, number: u16) {
        for follower in self.lock().iter().filter(|f| f.number == number) {
            follower.stop.store(true, Ordering::Relaxed);
        }
    }

    pub fn stop_all(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        for follower in self.lock().iter() {
            follower.stop.store(true, Ordering::Relaxed);
        }
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Waits for every subscriber: their gaps in time order, the events they received, the nodes followed.
    pub fn join(&self) -> (Vec<EventGap>, u64, Vec<String>) {
        let (mut gaps, mut events, mut names) = (Vec::new(), 0, Vec::new());
        for follower in std::mem::take(&mut *self.lock()) {
            let (node_gaps, node_events) = follower.thread.join().unwrap_or_default();
            gaps.extend(node_gaps);
            events += node_events;
            names.push(follower.name);
        }
        gaps.sort_by_key(|gap| gap.start_us);
        (gaps, events, names)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Follower>> {
        self.threads.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
