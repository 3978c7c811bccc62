//! Telling the user that a flow table is full, without flooding the log the way the
//! container floods the stack. Every SYN or datagram refused for a full table is
//! counted in [`StackStats`]; this module turns those counters into at most one line on
//! stderr (the supervisor's log) per table per [`WARN_EVERY`]: the first refusal is
//! reported at once, later ones as one summary line with how many were refused since.

use std::time::{Duration, Instant};

use super::{Stack, StackStats};

/// The shortest time between two warnings about the same table.
pub const WARN_EVERY: Duration = Duration::from_secs(60);

/// One table's warning state.
#[derive(Default)]
struct TableWarning {
    /// The counter's value when the last warning was printed.
    reported: u64,
    last: Option<Instant>,
}

impl TableWarning {
    /// The number refused since the last warning, when a warning is due now.
    fn due(&mut self, refused: u64, now: Instant) -> Option<u64> {
        if refused == self.reported {
            return None;
        }
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < WARN_EVERY)
        {
            return None;
        }
        let since = refused - self.reported;
        self.reported = refused;
        self.last = Some(now);
        Some(since)
    }
}

#[derive(Default)]
pub(super) struct LimitWarnings {
    tcp: TableWarning,
    udp: TableWarning,
}

impl LimitWarnings {
    /// The warning lines due now, given the counters.
    fn due(&mut self, stats: &StackStats, limits: &crate::Limits, now: Instant) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(refused) = self.tcp.due(stats.tcp_table_full, now) {
            lines.push(format!(
                "burrow: warning: the container's TCP connection table is full ({} connections): \
                 {refused} new connection(s) refused",
                limits.max_tcp_flows
            ));
        }
        if let Some(refused) = self.udp.due(stats.udp_table_full, now) {
            lines.push(format!(
                "burrow: warning: the container's UDP flow table is full ({} flows): \
                 {refused} datagram(s) to new destinations dropped",
                limits.max_udp_flows
            ));
        }
        lines
    }
}

impl Stack {
    /// Prints the warnings due about full tables.
    pub(super) fn warn_about_limits(&mut self) {
        let now = Instant::now();
        for line in self
            .limit_warnings
            .due(&self.stats, &self.config.limits, now)
        {
            self.stats.limit_warnings += 1;
            eprintln!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_reported_once_then_summarised_at_most_once_a_minute() {
        let mut warning = TableWarning::default();
        let start = Instant::now();
        assert_eq!(warning.due(0, start), None);
        assert_eq!(warning.due(1, start), Some(1));
        for refused in 2..10_000 {
            assert_eq!(warning.due(refused, start + Duration::from_secs(1)), None);
        }
        assert_eq!(warning.due(10_000, start + WARN_EVERY), Some(9_999));
        assert_eq!(warning.due(10_000, start + 3 * WARN_EVERY), None);
    }
}
