//! The drill's progress bar on a terminal: elapsed time, the current step
//! and the next one. The runner only knows [`DrillProgress`]; this is the
//! command line's drawing of it.

use std::io::IsTerminal;
use std::time::Duration;

use crate::runner::DrillProgress;
use crate::schedule::TimelineEntry;

/// A progress bar on stderr.
#[derive(Debug)]
pub struct TerminalProgress {
    bar: indicatif::ProgressBar,
}

impl TerminalProgress {
    /// A bar for a drill of `total` real time; `None` when stderr is not a
    /// terminal (a pipe or a CI log gets no bar).
    pub fn new(total: Duration) -> Option<Self> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::new(total.as_millis() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Some(Self { bar })
    }
}

impl DrillProgress for TerminalProgress {
    fn step(
        &self,
        index: usize,
        total: usize,
        entry: &TimelineEntry,
        next: Option<&TimelineEntry>,
    ) {
        self.bar.set_position(entry.at.as_millis() as u64);
        let next = next
            .map(|n| format!("; next at {:.1}s", n.at.as_secs_f64()))
            .unwrap_or_default();
        self.bar.set_message(format!(
            "step {}/{total}: {}{next}",
            index + 1,
            entry.label()
        ));
    }

    fn tick(&self, elapsed: Duration) {
        self.bar.set_position(elapsed.as_millis() as u64);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
