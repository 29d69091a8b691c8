//! `faultline report DIR`: redraw an old run's report from its files.
//!
//! ```text
//! faultline report reports/split-brain-oversell-2026-11-27T000000Z [--png]
//! ```
//!
//! Reads `report.json` and `history.jsonl` only, and rewrites `summary.txt`,
//! `timeline.svg`, `report.html` and `junit.xml`, so a report made by an older
//! faultline gets the current views. `--png` also writes `timeline.png` and
//! `report.png` (a screenshot of the page's top) with headless Chromium
//! (`scripts/browser-env` installs it). A folder that is not a report exits 64.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::ExitCode;
use crate::report::browser::Browser;
use crate::report::{self, ReportPaths};

/// Arguments of `faultline report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// The report folder of a drill (holding report.json and history.jsonl).
    pub dir: PathBuf,
    /// Also render timeline.png and report.png with headless Chromium.
    #[arg(long)]
    pub png: bool,
}

/// Runs `faultline report`.
pub async fn run(args: ReportArgs) -> ExitCode {
    execute(
        &args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

/// `faultline report` with explicit outputs (for tests).
pub fn execute(args: &ReportArgs, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
    let paths = match report::redraw(&args.dir) {
        Ok(paths) => paths,
        Err(error) => {
            let _ = writeln!(err, "faultline report: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                let _ = writeln!(err, "  caused by: {cause}");
                source = cause.source();
            }
            return if error.is_bad_input() {
                ExitCode::Usage
            } else {
                ExitCode::Internal
            };
        }
    };
    for path in [
        &paths.summary_txt,
        &paths.timeline_svg,
        &paths.report_html,
        &paths.junit_xml,
    ] {
        let _ = writeln!(out, "wrote {}", path.display());
    }
    if args.png {
        match render_pngs(&paths) {
            Ok(pngs) => {
                for png in pngs {
                    let _ = writeln!(out, "wrote {}", png.display());
                }
            }
            Err(error) => {
                let _ = writeln!(err, "faultline report --png: {error}");
                return ExitCode::Internal;
            }
        }
    }
    ExitCode::Pass
}

/// Renders `timeline.png` (the whole SVG) and `report.png` (the page's first
/// 1400 pixels) beside the report's files.
///
/// # Errors
/// No Chromium, or Chromium failed.
pub fn render_pngs(paths: &ReportPaths) -> Result<Vec<PathBuf>, report::browser::BrowserError> {
    let browser = Browser::find()?;
    let timeline = paths.dir.join("timeline.png");
    let (width, height) = svg_size(&paths.timeline_svg).unwrap_or((1000, 800));
    browser.screenshot(&paths.timeline_svg, &timeline, width, height)?;
    let page = paths.dir.join("report.png");
    browser.screenshot(&paths.report_html, &page, 1150, 1400)?;
    Ok(vec![timeline, page])
}

/// The `width` and `height` of the root element of an SVG this faultline wrote.
fn svg_size(svg: &Path) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(svg).ok()?;
    let root = text.split('>').next()?;
    let attr = |name: &str| -> Option<u32> {
        let value = root
            .split(&format!(" {name}=\""))
            .nth(1)?
            .split('"')
            .next()?;
        value.parse::<f64>().ok().map(|v| v.ceil() as u32)
    };
    Some((attr("width")?, attr("height")?))
}
