//! How far a running tool is, for MCP's `notifications/progress`.
//!
//! Tools run synchronously on one thread of a worker process; the worker installs a
//! reporter on that thread for the call (`with_reporter`), and the tool calls `report` at
//! its stages. Without a reporter (a light tool run in the server, a unit test) `report`
//! does nothing. The reporter sends only rising values, at most one every
//! `MIN_INTERVAL` (the last stage before the answer may be dropped: the answer follows),
//! so a client sees a steady, monotone sequence however often a tool reports.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Progress is in percent of the call.
pub const TOTAL: f64 = 100.0;

const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// One progress report, as the worker sends it to the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub progress: f64,
    pub total: f64,
    pub message: String,
}

struct Reporter {
    send: Box<dyn Fn(Step)>,
    last: Option<(f64, Instant)>,
}

thread_local! {
    static REPORTER: RefCell<Option<Reporter>> = const { RefCell::new(None) };
}

/// Runs `work` with `send` receiving its progress reports (on this thread).
pub fn with_reporter<R>(send: impl Fn(Step) + 'static, work: impl FnOnce() -> R) -> R {
    REPORTER.with(|r| {
        *r.borrow_mut() = Some(Reporter {
            send: Box::new(send),
            last: None,
        })
    });
    // Removed even if `work` panics (the worker catches engine panics and goes on).
    struct Uninstall;
    impl Drop for Uninstall {
        fn drop(&mut self) {
            REPORTER.with(|r| r.borrow_mut().take());
        }
    }
    let _uninstall = Uninstall;
    work()
}

/// The call is `percent` done, doing `message` (built only when it is sent).
pub fn report(percent: f64, message: impl FnOnce() -> String) {
    REPORTER.with(|r| {
        let mut slot = r.borrow_mut();
        let Some(reporter) = slot.as_mut() else {
            return;
        };
        let percent = percent.clamp(0.0, TOTAL);
        let now = Instant::now();
        let due = match reporter.last {
            None => true,
            Some((last, at)) => percent > last && now.duration_since(at) >= MIN_INTERVAL,
        };
        if due {
            reporter.last = Some((percent, now));
            (reporter.send)(Step {
                progress: percent,
                total: TOTAL,
                message: message(),
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    fn collect(work: impl FnOnce()) -> Vec<Step> {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let sink = seen.clone();
        with_reporter(move |s| sink.borrow_mut().push(s), work);
        let out = seen.borrow().clone();
        out
    }

    #[test]
    fn reports_rise_and_are_spaced() {
        let steps = collect(|| {
            report(0.0, || "started".into());
            // Too soon after the first: dropped.
            report(10.0, || "soon".into());
            std::thread::sleep(MIN_INTERVAL);
            // Lower than the last sent: dropped whatever the time.
            report(0.0, || "back".into());
            report(50.0, || "half".into());
            std::thread::sleep(MIN_INTERVAL);
            report(500.0, || "clamped".into());
        });
        let got: Vec<(f64, &str)> = steps
            .iter()
            .map(|s| (s.progress, s.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![(0.0, "started"), (50.0, "half"), (100.0, "clamped")]
        );
        assert!(steps.iter().all(|s| s.total == TOTAL));
    }

    #[test]
    fn without_a_reporter_nothing_happens_and_it_is_removed_after_the_call() {
        report(5.0, || {
            unreachable!("no reporter: the message is never built")
        });
        let steps = collect(|| report(1.0, || "in".into()));
        assert_eq!(steps.len(), 1);
        report(99.0, || unreachable!("the reporter was removed"));
    }
}
