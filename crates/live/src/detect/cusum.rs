//! A change detector for one rate (a miss ratio, the share of reads that miss for one cause), one value a
//! window: a one-sided CUSUM on the rate's standardized excess over its own recent baseline.
//!
//! Why this one. A window's rate is a proportion of `n` reads: its noise is at least binomial,
//! `sqrt(p(1-p)/n)`, and real traffic is noisier still (popular keys, bursts). The baseline is an exponentially
//! weighted mean of the rate with an exponentially weighted variance of its window-to-window deviation, so the
//! noise each series actually has sets the scale (the larger of that and the binomial one). Each window adds its
//! excess over the baseline, in those units, less a reference `k`; the sum is kept at or above zero. A sustained
//! shift of `k` or more grows it by about the shift each window, so a jump of several standard deviations
//! crosses the threshold `h` in one to three windows, while noise, mean zero and mostly below `k`, keeps
//! returning it to zero. Page's CUSUM is the optimal detector of such a shift of known size and is a few lines
//! of arithmetic with constant memory; Bayesian online change-point detection would also find the start of the
//! change but costs memory that grows with the run length of every series, for the same alarms here.
//!
//! Low traffic: windows with fewer answered reads than `min_reads` are pooled with the next ones until together
//! they have enough (and dropped after six), and an alarm also needs the rate to be `min_effect` above the
//! baseline and `min_excess` events beyond what the baseline predicts, so that a series at 0.1%
//! misses going to 0.3% (a tripling, many deviations of a quiet series) says nothing to an operator.
//!
//! While an anomaly is open the baseline stays as it was before it; the anomaly closes when the rate has been
//! back within the baseline's noise for `close_after` windows (three minutes of 10 s windows: a wave that dips and
//! recovers is one anomaly, not a flapping series of them).

use serde::Serialize;

/// The detector's knobs, with their reasons.
#[derive(Debug, Clone, Copy)]
pub struct CusumConfig {
    /// Answered reads a window needs to count: below, one key decides.
    pub min_reads: u64,
    /// Windows of baseline before anything is judged.
    pub warmup: u32,
    /// The reference shift, in standard deviations: smaller drifts are ignored.
    pub k: f64,
    /// The alarm threshold of the sum, in standard deviations: five is the classic choice, about one false
    /// alarm in several hundred windows of pure noise for `k` = 0.5, fewer with the effect size required too.
    pub h: f64,
    /// How far above its baseline the rate must be, in absolute terms, for an alarm.
    pub min_effect: f64,
    /// How many more events than the baseline predicts the alarm's window(s) must hold: a quiet series whose
    /// handful of reads swings its rate needs a bigger swing.
    pub min_excess: f64,
    /// The baseline's memory, in windows (the half-life of its weights).
    pub half_life: f64,
    /// Windows back within the noise that close an anomaly.
    pub close_after: u32,
}

impl Default for CusumConfig {
    fn default() -> Self {
        CusumConfig {
            min_reads: 30,
            warmup: 6,
            k: 0.5,
            h: 5.0,
            min_effect: 0.05,
            min_excess: 15.0,
            half_life: 30.0,
            close_after: 18,
        }
    }
}

/// What one window did to a detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Nothing to say (or not enough reads).
    Quiet,
    /// The rate shifted up: since the window `start_offset` windows ago (the sum's run began there).
    Opened { start_offset: u32, baseline: f64, rate: f64 },
    /// An open anomaly goes on; its rate this window.
    Ongoing { rate: f64 },
    /// The rate has been back for long enough.
    Closed { rate: f64 },
}

/// One series' detector.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cusum {
    mean: f64,
    variance: f64,
    windows: u32,
    sum: f64,
    /// Windows since the sum last left zero.
    run: u32,
    open: bool,
    back: u32,
    /// Windows with too few reads, pooled until together they have enough.
    pooled_events: f64,
    pooled_reads: u64,
    pooled_windows: u32,
}

/// Windows of too few reads pooled at most: past it, the pool is dropped (a series that quiet says nothing).
const POOL_WINDOWS: u32 = 6;

impl Cusum {
    /// The baseline rate, once warmed up.
    pub fn baseline(&self, config: &CusumConfig) -> Option<f64> {
        (self.windows >= config.warmup).then_some(self.mean)
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Takes one window: `events` of `reads` answered reads were of the kind watched.
    pub fn step(&mut self, events: f64, reads: u64, config: &CusumConfig) -> Step {
        // A window of too few reads joins the next ones until together they have enough: a quiet series is
        // judged less often, not never.
        let (events, reads) = if reads < config.min_reads || self.pooled_windows > 0 {
            self.pooled_events += events;
            self.pooled_reads += reads;
            self.pooled_windows += 1;
            if self.pooled_reads < config.min_reads {
                if self.pooled_windows >= POOL_WINDOWS {
                    self.pooled_events = 0.0;
                    self.pooled_reads = 0;
                    self.pooled_windows = 0;
                }
                return if self.open { Step::Ongoing { rate: self.mean } } else { Step::Quiet };
            }
            let pooled = (self.pooled_events, self.pooled_reads);
            self.pooled_events = 0.0;
            self.pooled_reads = 0;
            self.pooled_windows = 0;
            pooled
        } else {
            (events, reads)
        };
        let rate = (events / reads as f64).clamp(0.0, 1.0);
        if self.windows < config.warmup {
            self.learn(rate, config);
            return Step::Quiet;
        }
        let binomial = (self.mean * (1.0 - self.mean) / reads as f64).sqrt();
        let sigma = self.variance.sqrt().max(binomial).max(1e-3);
        let excess = (rate - self.mean) / sigma;
        if self.open {
            if rate <= self.mean + (2.0 * sigma).max(config.min_effect / 2.0) {
                self.back += 1;
                if self.back >= config.close_after {
                    self.open = false;
                    self.sum = 0.0;
                    self.run = 0;
                    self.back = 0;
                    return Step::Closed { rate };
                }
            } else {
                self.back = 0;
            }
            return Step::Ongoing { rate };
        }
        self.sum = (self.sum + excess - config.k).max(0.0);
        if self.sum > 0.0 {
            self.run += 1;
        } else {
            self.run = 0;
        }
        if self.sum > config.h
            && rate - self.mean >= config.min_effect
            && (rate - self.mean) * reads as f64 >= config.min_excess
        {
            self.open = true;
            self.back = 0;
            return Step::Opened { start_offset: self.run.saturating_sub(1), baseline: self.mean, rate };
        }
        if self.sum == 0.0 {
            self.learn(rate, config);
        }
        Step::Quiet
    }

    fn learn(&mut self, rate: f64, config: &CusumConfig) {
        let alpha = 1.0 - 0.5f64.powf(1.0 / config.half_life.max(1.0));
        if self.windows == 0 {
            self.mean = rate;
            self.variance = 0.0;
        } else {
            // Faster at first, so that a short warm-up gives a usable baseline.
            let alpha = alpha.max(1.0 / f64::from(self.windows + 1));
            let deviation = rate - self.mean;
            self.mean += alpha * deviation;
            self.variance = (1.0 - alpha) * (self.variance + alpha * deviation * deviation);
        }
        self.windows = self.windows.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic noisy rate around `p` for `reads` reads: the misses of a window.
    fn noisy(p: f64, reads: u64, i: u64) -> f64 {
        let wiggle = ((i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as f64 / (1u64 << 24) as f64 - 0.5) * 0.02;
        ((p + wiggle).clamp(0.0, 1.0) * reads as f64).round()
    }

    fn run(rates: &[(f64, u64)], reads: u64) -> Vec<(usize, Step)> {
        let config = CusumConfig::default();
        let mut detector = Cusum::default();
        let mut said = Vec::new();
        let mut i = 0;
        for &(p, windows) in rates {
            for _ in 0..windows {
                let step = detector.step(noisy(p, reads, i as u64), reads, &config);
                if step != Step::Quiet && !matches!(step, Step::Ongoing { .. }) {
                    said.push((i, step));
                }
                i += 1;
            }
        }
        said
    }

    #[test]
    fn a_fall_is_flagged_within_a_few_windows_and_closes_when_it_recovers() {
        let said = run(&[(0.05, 60), (0.40, 20), (0.05, 20)], 1_000);
        assert_eq!(said.len(), 2, "{said:?}");
        let (at, Step::Opened { baseline, rate, .. }) = said[0] else { panic!("{said:?}") };
        assert!((60..=62).contains(&at), "flagged at window {at}");
        assert!((baseline - 0.05).abs() < 0.01 && rate > 0.35, "{baseline} {rate}");
        let (closed_at, Step::Closed { .. }) = said[1] else { panic!("{said:?}") };
        let after = 80 + CusumConfig::default().close_after as usize;
        assert!((after - 1..=after + 3).contains(&closed_at), "closed at window {closed_at}");
    }

    #[test]
    fn noise_small_shifts_and_low_traffic_say_nothing() {
        assert!(run(&[(0.05, 500)], 1_000).is_empty());
        assert!(run(&[(0.05, 60), (0.08, 100)], 1_000).is_empty(), "three points is below the effect size");
        assert!(run(&[(0.05, 60), (0.2, 100)], 10).is_empty(), "a quiet series needs a bigger swing");
    }

    #[test]
    fn quiet_windows_are_pooled_until_they_have_enough_reads() {
        // Ten reads a window: judged every three windows, a jump from 5% to 90% flagged at the first judgement.
        let said = run(&[(0.05, 60), (0.9, 100)], 10);
        let (at, Step::Opened { .. }) = said[0] else { panic!("{said:?}") };
        assert!((60..=62).contains(&at), "flagged at window {at}");
    }
}
