//! The report folder every run writes.
//!
//! [`write()`] puts five files in a folder:
//! - `report.json` ([`json`]): scenario, seed, the expanded timeline with planned
//!   and actual times, per-region SLIs per window, every verdict with evidence,
//!   the overall verdict; versioned by [`REPORT_VERSION`].
//! - `history.jsonl`: the history itself ([`History::write_jsonl`](crate::history::History::write_jsonl)).
//! - `summary.txt` ([`summary`]): an ASCII timeline in the style of incident
//!   timelines, the SLIs, the verdicts with their figures, and the command that
//!   reproduces the run.
//! - `timeline.svg` ([`svg`]): per-region latency and error rate over time, fault
//!   windows shaded.
//! - `junit.xml` ([`junit`]): one test case per invariant, for CI.
//!
//! Every time comes from the history (nanoseconds since its `started_at`), so a
//! report is a pure function of its input: the same history gives the same bytes.

pub mod json;
pub mod junit;
pub mod summary;
pub mod svg;
pub mod timeline;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::check::sli::workload_regions;
use crate::check::CheckResult;
use crate::history::History;

pub use summary::summary_text;

/// Version written into `report.json`.
pub const REPORT_VERSION: u32 = 1;

/// Everything a report is made of.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// The scenario's name.
    pub name: String,
    /// The run's seed.
    pub seed: u64,
    /// The scenario as run (its JSON form), copied into `report.json`.
    pub scenario: serde_json::Value,
    /// The scenario's regions, in the scenario's order.
    pub regions: Vec<String>,
    /// The exact command that re-runs this drill with this seed.
    pub reproduce: String,
    /// What happened.
    pub history: &'a History,
    /// The verdicts, in the scenario's order.
    pub results: &'a [CheckResult],
    /// Where every link's proxy ran, in link order.
    pub placements: Vec<LinkPlacement>,
}

/// Where one link's proxy ran during the drill.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LinkPlacement {
    /// The link id, `FROM->TO:SERVICE`.
    pub link: String,
    /// `in-process`, or the URL of the `faultline serve` agent that held it.
    pub plane: String,
    /// The address region FROM's clients used.
    pub listen: String,
}

impl ReportInput<'_> {
    /// The scenario's regions in its order, then any other region the workload
    /// reached, sorted.
    pub fn all_regions(&self) -> Vec<String> {
        let mut regions: Vec<String> = Vec::new();
        for region in &self.regions {
            if !regions.contains(region) {
                regions.push(region.clone());
            }
        }
        let extra: BTreeSet<String> = workload_regions(self.history, None)
            .into_iter()
            .filter(|r| !regions.contains(r))
            .collect();
        regions.extend(extra);
        regions
    }
}

/// Where [`write()`] put each file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPaths {
    /// The folder.
    pub dir: PathBuf,
    /// `report.json`.
    pub report_json: PathBuf,
    /// `history.jsonl`.
    pub history_jsonl: PathBuf,
    /// `summary.txt`.
    pub summary_txt: PathBuf,
    /// `timeline.svg`.
    pub timeline_svg: PathBuf,
    /// `junit.xml`.
    pub junit_xml: PathBuf,
}

impl ReportPaths {
    /// The paths of the files of a report in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            report_json: dir.join("report.json"),
            history_jsonl: dir.join("history.jsonl"),
            summary_txt: dir.join("summary.txt"),
            timeline_svg: dir.join("timeline.svg"),
            junit_xml: dir.join("junit.xml"),
        }
    }
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file or the folder could not be written.
    #[error("writing {}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// `report.json` could not be serialized.
    #[error("serializing report.json")]
    Json(#[source] serde_json::Error),
    /// `junit.xml` could not be serialized.
    #[error("serializing junit.xml")]
    Junit(#[source] quick_junit::SerializeError),
}

/// Writes the report folder `dir` (created if missing; files in it are replaced).
///
/// # Errors
/// [`ReportError::Io`] naming the file that could not be written, or a
/// serialization error of `report.json` or `junit.xml`.
pub fn write(dir: &Path, input: &ReportInput<'_>) -> Result<ReportPaths, ReportError> {
    let paths = ReportPaths::in_dir(dir);
    fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;

    let report = json::report_json(input);
    let mut text = serde_json::to_string_pretty(&report).map_err(ReportError::Json)?;
    text.push('\n');
    write_file(&paths.report_json, text.as_bytes())?;

    let history_io = |source| ReportError::Io {
        path: paths.history_jsonl.clone(),
        source,
    };
    let file = File::create(&paths.history_jsonl).map_err(history_io)?;
    input
        .history
        .write_jsonl(BufWriter::new(file))
        .map_err(history_io)?;

    write_file(&paths.summary_txt, summary_text(input).as_bytes())?;
    write_file(&paths.timeline_svg, svg::timeline_svg(input).as_bytes())?;
    let junit = junit::junit_xml(input).map_err(ReportError::Junit)?;
    write_file(&paths.junit_xml, junit.as_bytes())?;
    Ok(paths)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let io_error = |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::create(path).map_err(io_error)?;
    file.write_all(bytes).map_err(io_error)?;
    file.flush().map_err(io_error)
}
