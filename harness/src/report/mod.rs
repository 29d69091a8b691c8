//! The report folder every run writes.
//!
//! [`write()`] puts six files in a folder:
//! - `report.json` ([`json`]): scenario, seed, the expanded timeline with planned
//!   and actual times, per-region SLIs per window, every verdict with evidence,
//!   the overall verdict; versioned by [`REPORT_VERSION`].
//! - `history.jsonl`: the history itself ([`History::write_jsonl`](crate::history::History::write_jsonl)).
//! - `summary.txt` ([`summary`]): an ASCII timeline in the style of incident
//!   timelines, the SLIs, the verdicts with their figures, and the command that
//!   reproduces the run.
//! - `timeline.svg` ([`svg`]): one lane per schedule step under the time axis,
//!   first-violation markers, per-region throughput, latency and replication lag.
//! - `report.html` ([`html`]): the verdicts, the timeline, the SLIs and the
//!   fault log on one self-contained page.
//! - `junit.xml` ([`junit`]): one test case per invariant, for CI.
//!
//! Every time comes from the history (nanoseconds since its `started_at`), so a
//! report is a pure function of its input: the same history gives the same bytes.
//! The views (summary, SVG, HTML, JUnit) read nothing but what `report.json`
//! and `history.jsonl` hold, so [`redraw`] rebuilds them for an old run
//! (`faultline report DIR`). Shared by every view: [`human`] (numbers for
//! people), [`timeline`] (notable moments), [`lanes`] (the schedule as lanes),
//! [`violation`] (first violations), [`layout`] (label geometry). [`sweep`]
//! summarizes the reports of one scenario over many seeds.

pub mod browser;
pub mod html;
pub mod human;
pub mod json;
pub mod junit;
pub mod lanes;
pub mod layout;
pub mod summary;
pub mod svg;
pub mod sweep;
pub mod timeline;
pub mod violation;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::check::attribution::{Attributed, BaselinePolicy};
use crate::check::sli::workload_regions;
use crate::check::{CheckResult, Verdict};
use crate::history::{History, HistoryError};

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
    /// The baseline run beside the drill and the attribution of every verdict,
    /// if the drill ran one (see docs/baseline.md).
    pub baseline: Option<&'a BaselineReport>,
}

/// The baseline run of a drill (the same scenario, seed, workload and duration
/// with no fault) and what it says about each of the drill's verdicts.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineReport {
    /// The baseline's history (`baseline/history.jsonl` in the report folder).
    pub history: History,
    /// The baseline's verdicts, in the scenario's order.
    pub results: Vec<CheckResult>,
    /// Every invariant's attribution, in the scenario's order.
    pub attribution: Vec<Attributed>,
    /// Whether a failure the baseline shares fails the drill.
    pub policy: BaselinePolicy,
}

impl BaselineReport {
    /// The baseline run's own overall verdict.
    pub fn verdict(&self) -> Verdict {
        crate::check::overall_verdict(&self.results)
    }

    /// The drill's verdict as the policy counts it (its exit code, its JUnit cases).
    pub fn counted_verdict(&self) -> Verdict {
        self.policy.overall(&self.attribution)
    }

    /// The attribution of the invariant `name`.
    pub fn of(&self, name: &str) -> Option<&Attributed> {
        self.attribution.iter().find(|a| a.name == name)
    }
}

/// Where one link's proxy ran during the drill.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// `report.html`.
    pub report_html: PathBuf,
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
            report_html: dir.join("report.html"),
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
    /// A file of an old report could not be read.
    #[error("reading {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// `report.json` of an old report is not one this version reads.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field.
        message: String,
    },
    /// `history.jsonl` of an old report is not a valid history.
    #[error("{}", path.display())]
    History {
        /// The file.
        path: PathBuf,
        /// The line and what is wrong with it.
        #[source]
        source: HistoryError,
    },
}

impl ReportError {
    /// Whether the error is in the input (an old report that cannot be read),
    /// rather than in writing the new files.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ReportError::Read { .. } | ReportError::Invalid { .. } | ReportError::History { .. }
        )
    }
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
    if let Some(baseline) = input.baseline {
        let dir = dir.join("baseline");
        let path = dir.join("history.jsonl");
        let io = |source| ReportError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(&dir).map_err(io)?;
        let file = File::create(&path).map_err(io)?;
        baseline
            .history
            .write_jsonl(BufWriter::new(file))
            .map_err(io)?;
    }

    write_views(&paths, input)?;
    Ok(paths)
}

/// Writes what a person reads (summary, SVG, HTML) and junit.xml, from the input alone.
fn write_views(paths: &ReportPaths, input: &ReportInput<'_>) -> Result<(), ReportError> {
    write_file(&paths.summary_txt, summary_text(input).as_bytes())?;
    write_file(&paths.timeline_svg, svg::timeline_svg(input).as_bytes())?;
    let logs = service_logs(&paths.dir);
    write_file(
        &paths.report_html,
        html::report_html(input, &logs).as_bytes(),
    )?;
    let junit = junit::junit_xml(input).map_err(ReportError::Junit)?;
    write_file(&paths.junit_xml, junit.as_bytes())
}

/// The service logs of a report folder (`logs/*.log`), relative to it, sorted.
pub fn service_logs(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir.join("logs")) else {
        return Vec::new();
    };
    let mut logs: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.ends_with(".log"))
        .map(|name| format!("logs/{name}"))
        .collect();
    logs.sort();
    logs
}

/// A report read back from its folder: everything [`ReportInput`] borrows, owned.
#[derive(Debug, Clone)]
pub struct StoredReport {
    /// The scenario's name.
    pub name: String,
    /// The run's seed.
    pub seed: u64,
    /// The scenario as run.
    pub scenario: serde_json::Value,
    /// The scenario's regions.
    pub regions: Vec<String>,
    /// The command that re-runs the drill.
    pub reproduce: String,
    /// The history, from `history.jsonl`.
    pub history: History,
    /// The verdicts, from `report.json`.
    pub results: Vec<CheckResult>,
    /// Where each link's proxy ran, from `report.json`'s `links`.
    pub placements: Vec<LinkPlacement>,
    /// The baseline run, from `report.json`'s `baseline` and `attribution` and
    /// `baseline/history.jsonl`, if the drill ran one.
    pub baseline: Option<BaselineReport>,
}

impl StoredReport {
    /// Reads `report.json` and `history.jsonl` of the folder `dir`.
    ///
    /// # Errors
    /// [`ReportError::Read`] if a file cannot be read, [`ReportError::Invalid`]
    /// naming the field of `report.json` that is missing or wrong,
    /// [`ReportError::History`] naming the line of `history.jsonl`.
    pub fn read(dir: &Path) -> Result<Self, ReportError> {
        let paths = ReportPaths::in_dir(dir);
        let read = |path: &Path| {
            fs::read(path).map_err(|source| ReportError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let invalid = |message: String| ReportError::Invalid {
            path: paths.report_json.clone(),
            message,
        };
        let report: serde_json::Value = serde_json::from_slice(&read(&paths.report_json)?)
            .map_err(|e| invalid(format!("not JSON: {e}")))?;
        let version = report.get("version").and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(REPORT_VERSION)) {
            return Err(invalid(format!(
                "version: {} is not {REPORT_VERSION}, the version this faultline reads",
                report
                    .get("version")
                    .map_or("missing".into(), |v| v.to_string())
            )));
        }
        let text = |field: &str| {
            report
                .get(field)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| invalid(format!("{field}: missing or not a string")))
        };
        let name = text("name")?;
        let reproduce = text("reproduce")?;
        let seed = report
            .get("seed")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| invalid("seed: missing or not a whole number".into()))?;
        let regions: Vec<String> =
            serde_json::from_value(report.get("regions").cloned().unwrap_or_default())
                .map_err(|e| invalid(format!("regions: {e}")))?;
        let results: Vec<CheckResult> =
            serde_json::from_value(report.get("verdicts").cloned().unwrap_or_default())
                .map_err(|e| invalid(format!("verdicts: {e}")))?;
        let placements: Vec<LinkPlacement> = serde_json::from_value(
            report
                .get("links")
                .cloned()
                .unwrap_or_else(|| serde_json::Value::Array(Vec::new())),
        )
        .map_err(|e| invalid(format!("links: {e}")))?;
        let history =
            History::read_jsonl(read(&paths.history_jsonl)?.as_slice()).map_err(|source| {
                ReportError::History {
                    path: paths.history_jsonl.clone(),
                    source,
                }
            })?;
        let baseline = match report.get("baseline") {
            None | Some(serde_json::Value::Null) => None,
            Some(base) => {
                let results: Vec<CheckResult> =
                    serde_json::from_value(base.get("verdicts").cloned().unwrap_or_default())
                        .map_err(|e| invalid(format!("baseline.verdicts: {e}")))?;
                let policy: BaselinePolicy = serde_json::from_value(
                    base.get("policy").cloned().unwrap_or_else(|| "fail".into()),
                )
                .map_err(|e| invalid(format!("baseline.policy: {e}")))?;
                let attribution: Vec<Attributed> =
                    serde_json::from_value(report.get("attribution").cloned().unwrap_or_default())
                        .map_err(|e| invalid(format!("attribution: {e}")))?;
                let path = dir.join("baseline").join("history.jsonl");
                let history = History::read_jsonl(read(&path)?.as_slice())
                    .map_err(|source| ReportError::History { path, source })?;
                Some(BaselineReport {
                    history,
                    results,
                    attribution,
                    policy,
                })
            }
        };
        Ok(Self {
            name,
            seed,
            scenario: report.get("scenario").cloned().unwrap_or_default(),
            regions,
            reproduce,
            history,
            results,
            placements,
            baseline,
        })
    }

    /// The input the views are drawn from.
    pub fn input(&self) -> ReportInput<'_> {
        ReportInput {
            name: self.name.clone(),
            seed: self.seed,
            scenario: self.scenario.clone(),
            regions: self.regions.clone(),
            reproduce: self.reproduce.clone(),
            history: &self.history,
            results: &self.results,
            placements: self.placements.clone(),
            baseline: self.baseline.as_ref(),
        }
    }
}

/// Redraws the views of the report in `dir` (summary.txt, timeline.svg,
/// report.html, junit.xml) from its `report.json` and `history.jsonl`.
///
/// # Errors
/// Those of [`StoredReport::read`], or [`ReportError::Io`] naming the file
/// that could not be written.
pub fn redraw(dir: &Path) -> Result<ReportPaths, ReportError> {
    let stored = StoredReport::read(dir)?;
    let paths = ReportPaths::in_dir(dir);
    write_views(&paths, &stored.input())?;
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
