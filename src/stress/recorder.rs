//! What happened during a run: per-tool, per-outcome latency histograms (HDR, bounded
//! memory), counts by outcome class and refusal code, a 1-second time series, the chaos
//! timeline and the recoveries. Nothing per request is kept, so memory stays flat however
//! long the run.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// How a call ended, for the verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered and the answer checked out.
    Success,
    /// Refused on purpose by a protection (rate limit, shed, breaker, too large, bad input).
    ExpectedRefusal,
    /// Failed during an injected network fault or a kill window.
    FaultInduced,
    /// Anything else.
    Unexpected,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Success,
        Outcome::ExpectedRefusal,
        Outcome::FaultInduced,
        Outcome::Unexpected,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::ExpectedRefusal => "expected_refusal",
            Outcome::FaultInduced => "fault_induced",
            Outcome::Unexpected => "unexpected",
        }
    }
}

/// These are part of `/status` and `results.json`.
pub use crate::wire::status::{Recovery, SeriesPoint, TimelineEvent};

/// An unexpected outcome, kept as an example (at most a few dozen).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CallSample {
    pub t_s: f64,
    pub tool: String,
    pub detail: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

fn summarize(h: &Histogram<u64>) -> LatencySummary {
    let ms = |v: u64| v as f64 / 1000.0;
    LatencySummary {
        count: h.len(),
        p50_ms: ms(h.value_at_quantile(0.5)),
        p90_ms: ms(h.value_at_quantile(0.9)),
        p95_ms: ms(h.value_at_quantile(0.95)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
        mean_ms: h.mean() / 1000.0,
    }
}

const MAX_SAMPLES: usize = 50;
const RECENT_EVENTS: usize = 50;

struct Inner {
    latency: BTreeMap<(String, Outcome), Histogram<u64>>,
    all_success: Histogram<u64>,
    counts: BTreeMap<Outcome, u64>,
    refusals: BTreeMap<String, u64>,
    current: SeriesPoint,
    current_hist: Histogram<u64>,
    series: Vec<SeriesPoint>,
    timeline: Vec<TimelineEvent>,
    recoveries: Vec<Recovery>,
    samples: VecDeque<CallSample>,
    unexpected_total: u64,
    peak_total_rss_mb: f64,
    peak_harness_rss_mb: f64,
    peak_server_rss_mb: f64,
    fairness: FairnessTally,
}

/// The normal users' calls inside adversary windows (and no chaos window) against their
/// calls outside every window.
struct FairnessTally {
    inside_success: Histogram<u64>,
    outside_success: Histogram<u64>,
    inside_calls: u64,
    inside_ok: u64,
    outside_calls: u64,
    victim_codes: BTreeMap<String, u64>,
    victims: Vec<CallSample>,
    /// Successful calls inside the windows of each adversary kind (a call overlapping two
    /// kinds counts for both).
    by_adversary: BTreeMap<String, Histogram<u64>>,
}

/// What the normal users saw while adversaries ran, for `results.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FairnessReport {
    /// Normal users' calls made inside adversary windows (none overlapping a chaos fault).
    pub victim_calls: u64,
    pub victim_success: u64,
    /// Successful calls' latency inside and outside the adversary (and chaos) windows.
    pub inside: LatencySummary,
    pub outside: LatencySummary,
    /// How the failed ones failed: `outcome:code` counts.
    pub victim_failures: BTreeMap<String, u64>,
    /// A few failed calls.
    pub victim_samples: Vec<CallSample>,
    /// Successful calls' latency inside the windows of each adversary kind: which one cost
    /// the users most.
    #[serde(default)]
    pub by_adversary: BTreeMap<String, LatencySummary>,
}

pub struct Recorder {
    start: Instant,
    inner: Mutex<Inner>,
}

/// One finished call, as the recorder counts it.
pub struct Call<'a> {
    pub tool: &'a str,
    pub outcome: Outcome,
    pub latency: Duration,
    /// The refusal code the answer carried, if any.
    pub code: Option<&'a str>,
    /// What was wrong with it, kept for the samples.
    pub detail: Option<String>,
}

impl Call<'_> {
    /// The latency in the histograms' unit, within their range.
    fn micros(&self) -> u64 {
        (self.latency.as_micros() as u64).clamp(1, 600_000_000)
    }
}

impl Recorder {
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            inner: Mutex::new(Inner {
                latency: BTreeMap::new(),
                all_success: histogram(),
                counts: BTreeMap::new(),
                refusals: BTreeMap::new(),
                current: SeriesPoint::default(),
                current_hist: histogram(),
                series: Vec::new(),
                timeline: Vec::new(),
                recoveries: Vec::new(),
                samples: VecDeque::new(),
                unexpected_total: 0,
                peak_total_rss_mb: 0.0,
                peak_harness_rss_mb: 0.0,
                peak_server_rss_mb: 0.0,
                fairness: FairnessTally {
                    inside_success: histogram(),
                    outside_success: histogram(),
                    inside_calls: 0,
                    inside_ok: 0,
                    outside_calls: 0,
                    victim_codes: BTreeMap::new(),
                    victims: Vec::new(),
                    by_adversary: BTreeMap::new(),
                },
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn elapsed_s(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    pub fn at_s(&self, when: Instant) -> f64 {
        when.saturating_duration_since(self.start).as_secs_f64()
    }

    /// Records one call: its tool, outcome, latency, and (for refusals) the refusal code.
    pub fn record(&self, call: Call<'_>) {
        let micros = call.micros();
        let Call {
            tool,
            outcome,
            code,
            detail,
            ..
        } = call;
        let t_s = self.elapsed_s();
        let mut inner = self.lock();
        let _ = inner
            .latency
            .entry((tool.to_string(), outcome))
            .or_insert_with(histogram)
            .record(micros);
        *inner.counts.entry(outcome).or_insert(0) += 1;
        inner.current.requests += 1;
        match outcome {
            Outcome::Success => {
                inner.current.success += 1;
                let _ = inner.all_success.record(micros);
                let _ = inner.current_hist.record(micros);
            }
            Outcome::ExpectedRefusal => inner.current.expected_refusal += 1,
            Outcome::FaultInduced => inner.current.fault_induced += 1,
            Outcome::Unexpected => {
                inner.current.unexpected += 1;
                inner.unexpected_total += 1;
                if inner.samples.len() < MAX_SAMPLES {
                    inner.samples.push_back(CallSample {
                        t_s,
                        tool: tool.to_string(),
                        detail: detail.clone().unwrap_or_default(),
                    });
                }
            }
        }
        if let Some(code) = code {
            *inner
                .refusals
                .entry(format!("{}:{code}", outcome.name()))
                .or_insert(0) += 1;
        }
    }

    /// Closes the current second: its percentiles and resource figures go into the series.
    pub fn tick(
        &self,
        server_rss_mb: f64,
        workers_rss_mb: f64,
        server_cpu_percent: f64,
        faults: Vec<String>,
    ) {
        let t = self.start.elapsed().as_secs();
        let mut inner = self.lock();
        let h = std::mem::replace(&mut inner.current_hist, histogram());
        let mut point = std::mem::take(&mut inner.current);
        point.t = t;
        if !h.is_empty() {
            point.p50_ms = h.value_at_quantile(0.5) as f64 / 1000.0;
            point.p95_ms = h.value_at_quantile(0.95) as f64 / 1000.0;
            point.p99_ms = h.value_at_quantile(0.99) as f64 / 1000.0;
        }
        point.server_rss_mb = server_rss_mb;
        point.workers_rss_mb = workers_rss_mb;
        point.server_cpu_percent = server_cpu_percent;
        point.harness_rss_mb =
            crate::sysmem::rss_bytes(std::process::id()).unwrap_or(0) as f64 / 1048576.0;
        inner.peak_harness_rss_mb = inner.peak_harness_rss_mb.max(point.harness_rss_mb);
        point.faults = faults;
        inner.peak_total_rss_mb = inner.peak_total_rss_mb.max(server_rss_mb + workers_rss_mb);
        inner.peak_server_rss_mb = inner.peak_server_rss_mb.max(server_rss_mb);
        inner.series.push(point);
    }

    /// Starts a timeline event; returns its index for [`Recorder::end_event`].
    pub fn begin_event(&self, kind: &str, detail: String) -> usize {
        let start_s = self.elapsed_s();
        let mut inner = self.lock();
        inner.timeline.push(TimelineEvent {
            kind: kind.to_string(),
            start_s,
            end_s: None,
            detail,
        });
        inner.timeline.len() - 1
    }

    pub fn end_event(&self, index: usize) {
        let end = self.elapsed_s();
        if let Some(e) = self.lock().timeline.get_mut(index) {
            e.end_s = Some(end);
        }
    }

    pub fn add_detail(&self, index: usize, more: &str) {
        if let Some(e) = self.lock().timeline.get_mut(index) {
            if !e.detail.is_empty() {
                e.detail.push_str("; ");
            }
            e.detail.push_str(more);
        }
    }

    pub fn record_recovery(&self, recovery: Recovery) {
        self.lock().recoveries.push(recovery);
    }

    pub fn counts(&self) -> BTreeMap<Outcome, u64> {
        self.lock().counts.clone()
    }

    pub fn count(&self, outcome: Outcome) -> u64 {
        self.lock().counts.get(&outcome).copied().unwrap_or(0)
    }

    pub fn refusals(&self) -> BTreeMap<String, u64> {
        self.lock().refusals.clone()
    }

    pub fn latency(&self) -> BTreeMap<String, BTreeMap<String, LatencySummary>> {
        let inner = self.lock();
        let mut out: BTreeMap<String, BTreeMap<String, LatencySummary>> = BTreeMap::new();
        for ((tool, outcome), h) in &inner.latency {
            out.entry(tool.clone())
                .or_default()
                .insert(outcome.name().to_string(), summarize(h));
        }
        out
    }

    /// Records a normal user's call for the fairness figures: inside the windows of the
    /// adversary kinds `inside`, or outside every window when it is empty (calls overlapping
    /// a chaos fault are not passed here).
    pub fn record_fairness(&self, inside: &[String], call: Call<'_>) {
        let micros = call.micros();
        let t_s = self.elapsed_s();
        let mut inner = self.lock();
        let f = &mut inner.fairness;
        let success = call.outcome == Outcome::Success;
        if inside.is_empty() {
            f.outside_calls += 1;
            if success {
                let _ = f.outside_success.record(micros);
            }
            return;
        }
        f.inside_calls += 1;
        if success {
            f.inside_ok += 1;
            let _ = f.inside_success.record(micros);
            for kind in inside {
                let _ = f
                    .by_adversary
                    .entry(kind.clone())
                    .or_insert_with(histogram)
                    .record(micros);
            }
            return;
        }
        let code = call.code.unwrap_or("none");
        *f.victim_codes
            .entry(format!("{}:{code}", call.outcome.name()))
            .or_insert(0) += 1;
        if f.victims.len() < 20 {
            f.victims.push(CallSample {
                t_s,
                tool: call.tool.to_string(),
                detail: call
                    .detail
                    .unwrap_or_else(|| call.code.unwrap_or("").to_string()),
            });
        }
    }

    pub fn fairness(&self) -> FairnessReport {
        let inner = self.lock();
        let f = &inner.fairness;
        FairnessReport {
            victim_calls: f.inside_calls,
            victim_success: f.inside_ok,
            inside: summarize(&f.inside_success),
            outside: summarize(&f.outside_success),
            victim_failures: f.victim_codes.clone(),
            victim_samples: f.victims.clone(),
            by_adversary: f
                .by_adversary
                .iter()
                .map(|(k, h)| (k.clone(), summarize(h)))
                .collect(),
        }
    }

    pub fn success_latency(&self) -> LatencySummary {
        summarize(&self.lock().all_success)
    }

    pub fn series(&self) -> Vec<SeriesPoint> {
        self.lock().series.clone()
    }

    pub fn recent_series(&self, n: usize) -> Vec<SeriesPoint> {
        let inner = self.lock();
        inner.series[inner.series.len().saturating_sub(n)..].to_vec()
    }

    pub fn timeline(&self) -> Vec<TimelineEvent> {
        self.lock().timeline.clone()
    }

    pub fn recent_events(&self) -> Vec<TimelineEvent> {
        let inner = self.lock();
        inner.timeline[inner.timeline.len().saturating_sub(RECENT_EVENTS)..].to_vec()
    }

    pub fn recoveries(&self) -> Vec<Recovery> {
        self.lock().recoveries.clone()
    }

    pub fn samples(&self) -> Vec<CallSample> {
        self.lock().samples.iter().cloned().collect()
    }

    /// The harness's own peak resident memory, as sampled each second.
    pub fn peak_harness_rss_mb(&self) -> f64 {
        self.lock().peak_harness_rss_mb
    }

    pub fn peak_rss_mb(&self) -> (f64, f64) {
        let inner = self.lock();
        (inner.peak_server_rss_mb, inner.peak_total_rss_mb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_histograms_and_series() {
        let r = Recorder::new(Instant::now());
        r.record(Call {
            tool: "key_analysis",
            outcome: Outcome::Success,
            latency: Duration::from_millis(10),
            code: None,
            detail: None,
        });
        r.record(Call {
            tool: "key_analysis",
            outcome: Outcome::Success,
            latency: Duration::from_millis(30),
            code: None,
            detail: None,
        });
        r.record(Call {
            tool: "import_score",
            outcome: Outcome::ExpectedRefusal,
            latency: Duration::from_millis(1),
            code: Some("rate_limited"),
            detail: None,
        });
        r.record(Call {
            tool: "import_score",
            outcome: Outcome::Unexpected,
            latency: Duration::from_millis(1),
            code: None,
            detail: Some("boom".into()),
        });
        r.tick(100.0, 200.0, 50.0, vec!["latency".into()]);
        assert_eq!(r.count(Outcome::Success), 2);
        assert_eq!(r.refusals()["expected_refusal:rate_limited"], 1);
        let lat = r.latency();
        assert_eq!(lat["key_analysis"]["success"].count, 2);
        assert!((lat["key_analysis"]["success"].max_ms - 30.0).abs() < 0.1);
        let s = r.series();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].requests, 4);
        assert!(s[0].p50_ms >= 9.9);
        assert_eq!(r.samples()[0].detail, "boom");
        assert_eq!(r.peak_rss_mb(), (100.0, 300.0));
    }

    #[test]
    fn memory_stays_flat_per_request() {
        let r = Recorder::new(Instant::now());
        for i in 0..100_000u64 {
            r.record(Call {
                tool: "t",
                outcome: Outcome::Success,
                latency: Duration::from_micros(i % 5000 + 1),
                code: None,
                detail: None,
            });
        }
        assert_eq!(r.latency()["t"]["success"].count, 100_000);
        assert_eq!(r.lock().samples.len(), 0);
    }
}
