//! The chaos fault kinds and what each one is: the one place a new kind is named. The
//! schedule (`config::stress::ChaosAction`), the nemesis, the verdict's
//! `fault_kinds_injected`, the report's charts and the dashboard all ask [`FaultKind`].

/// One kind of injected fault, as the timeline, `/status` and `results.json` name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    Latency,
    Bandwidth,
    Reset,
    Blackhole,
    Slicer,
    HalfClose,
    KillServer,
    TermServer,
    KillWorker,
    MemoryBallast,
    HugeScores,
    CorruptScores,
    MalformedRequests,
    CorruptDisk,
    DbRestart,
    DbPause,
    DbCut,
}

impl FaultKind {
    pub const ALL: [FaultKind; 17] = [
        FaultKind::Latency,
        FaultKind::Bandwidth,
        FaultKind::Reset,
        FaultKind::Blackhole,
        FaultKind::Slicer,
        FaultKind::HalfClose,
        FaultKind::KillServer,
        FaultKind::TermServer,
        FaultKind::KillWorker,
        FaultKind::MemoryBallast,
        FaultKind::HugeScores,
        FaultKind::CorruptScores,
        FaultKind::MalformedRequests,
        FaultKind::CorruptDisk,
        FaultKind::DbRestart,
        FaultKind::DbPause,
        FaultKind::DbCut,
    ];

    /// The name on the wire (the schedule's `kind = "..."`, the timeline's `kind`).
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Latency => "latency",
            FaultKind::Bandwidth => "bandwidth",
            FaultKind::Reset => "reset",
            FaultKind::Blackhole => "blackhole",
            FaultKind::Slicer => "slicer",
            FaultKind::HalfClose => "half_close",
            FaultKind::KillServer => "kill_server",
            FaultKind::TermServer => "term_server",
            FaultKind::KillWorker => "kill_worker",
            FaultKind::MemoryBallast => "memory_ballast",
            FaultKind::HugeScores => "huge_scores",
            FaultKind::CorruptScores => "corrupt_scores",
            FaultKind::MalformedRequests => "malformed_requests",
            FaultKind::CorruptDisk => "corrupt_disk",
            FaultKind::DbRestart => "db_restart",
            FaultKind::DbPause => "db_pause",
            FaultKind::DbCut => "db_cut",
        }
    }

    /// The kind of a wire name; `None` for anything else (adversaries, `skipped`).
    pub fn from_name(name: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Done through the fault proxy, on the users' network.
    pub fn is_network(self) -> bool {
        matches!(
            self,
            FaultKind::Latency
                | FaultKind::Bandwidth
                | FaultKind::Reset
                | FaultKind::Blackhole
                | FaultKind::Slicer
                | FaultKind::HalfClose
        )
    }

    /// Happens at an instant: charts draw it as a marker, not a band. Its `end_s` marks the
    /// end of its fault window (recovery plus grace), not a lasting fault.
    pub fn is_instant(self) -> bool {
        matches!(
            self,
            FaultKind::KillServer
                | FaultKind::TermServer
                | FaultKind::KillWorker
                | FaultKind::CorruptDisk
                | FaultKind::DbRestart
                | FaultKind::DbCut
        )
    }

    /// Opens a fault window, inside which a user's failure is fault-induced. The two that
    /// do not only send bad input, which must be refused cleanly while others carry on.
    pub fn opens_window(self) -> bool {
        !matches!(
            self,
            FaultKind::CorruptScores | FaultKind::MalformedRequests
        )
    }

    /// Its colour in the report's charts.
    pub fn color(self) -> &'static str {
        match self {
            FaultKind::Latency => "#1e88e5",
            FaultKind::Bandwidth => "#3949ab",
            FaultKind::Reset => "#8e24aa",
            FaultKind::Blackhole => "#37474f",
            FaultKind::Slicer => "#00897b",
            FaultKind::HalfClose => "#6d4c41",
            FaultKind::MemoryBallast => "#fb8c00",
            FaultKind::HugeScores => "#c0ca33",
            FaultKind::CorruptScores => "#e53935",
            FaultKind::MalformedRequests => "#d81b60",
            FaultKind::KillServer => "#b71c1c",
            FaultKind::TermServer => "#e65100",
            FaultKind::KillWorker => "#6a1b9a",
            FaultKind::CorruptDisk => "#4e342e",
            FaultKind::DbRestart => "#0d47a1",
            FaultKind::DbPause => "#455a64",
            FaultKind::DbCut => "#00695c",
        }
    }
}

/// How many distinct fault kinds a run injected: those that opened a window plus, from the
/// timeline, those that leave none.
pub fn kinds_injected<'a>(
    with_window: impl IntoIterator<Item = &'a str>,
    timeline_kinds: impl IntoIterator<Item = &'a str>,
) -> usize {
    let mut kinds: Vec<&str> = with_window
        .into_iter()
        .chain(
            timeline_kinds
                .into_iter()
                .filter(|k| FaultKind::from_name(k).is_some_and(|kind| !kind.opens_window())),
        )
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        let mut names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
        for k in FaultKind::ALL {
            assert_eq!(FaultKind::from_name(k.name()), Some(k));
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FaultKind::ALL.len());
        assert_eq!(FaultKind::from_name("slowloris"), None);
    }

    #[test]
    fn instant_kinds_are_the_markers() {
        let instant: Vec<&str> = FaultKind::ALL
            .iter()
            .filter(|k| k.is_instant())
            .map(|k| k.name())
            .collect();
        assert_eq!(
            instant,
            [
                "kill_server",
                "term_server",
                "kill_worker",
                "corrupt_disk",
                "db_restart",
                "db_cut"
            ]
        );
    }

    #[test]
    fn kinds_without_a_window_count_from_the_timeline() {
        let n = kinds_injected(
            ["latency", "kill_server"],
            ["latency", "corrupt_scores", "skipped", "corrupt_scores"],
        );
        assert_eq!(n, 3);
    }
}
