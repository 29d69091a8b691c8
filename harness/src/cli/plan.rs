//! `faultline plan`: print a scenario's expanded timeline; injects nothing.
//!
//! ```text
//! faultline plan suites/scenarios/split-brain-oversell.json [--seed N] [--time-scale X] [--json]
//! ```
//!
//! Every fault change appears with its time (after the time scale), its step,
//! the action, the region-level fault as stated and, per link, the named proxy
//! fault added (`+`), updated (`~`) or removed (`-`). A bad file prints every
//! problem found and exits 64.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::ExitCode;
use crate::base::duration::{self, human};
use crate::scenario::validate::MAX_SEED;
use crate::scenario::{Scenario, ScenarioError};
use crate::schedule::timeline::{describe_fault, fault_json};
use crate::schedule::Timeline;

/// Arguments of `faultline plan`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Draw the random parts with this seed instead of the scenario's.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Multiply every schedule time by this (0.1 runs ten times faster; latencies stay real).
    #[arg(long)]
    pub time_scale: Option<f64>,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Why `plan` could not produce a plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The scenario (or an override) is not valid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// `--seed` is too large.
    #[error("--seed: {0} is above the largest seed, 2^53 - 1 = {MAX_SEED}")]
    Seed(u64),
}

/// Loads the scenario and applies the overrides of `args`.
///
/// # Errors
/// The file cannot be read or is not a valid scenario, or an override is out of range.
pub fn load(args: &PlanArgs) -> Result<Scenario, PlanError> {
    let mut scenario = Scenario::load(&args.scenario)?;
    if let Some(seed) = args.seed {
        if seed > MAX_SEED {
            return Err(PlanError::Seed(seed));
        }
        scenario = scenario.with_seed(seed);
    }
    if let Some(time_scale) = args.time_scale {
        scenario = scenario.with_time_scale(time_scale)?;
    }
    Ok(scenario)
}

/// Runs `faultline plan`.
pub async fn run(args: PlanArgs) -> ExitCode {
    execute(
        &args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

/// `faultline plan` with explicit outputs (for tests).
pub fn execute(args: &PlanArgs, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
    let scenario = match load(args) {
        Ok(scenario) => scenario,
        Err(error) => {
            let _ = writeln!(err, "{error}");
            return ExitCode::Usage;
        }
    };
    let timeline = scenario.timeline();
    let text = if args.json {
        let mut text =
            serde_json::to_string_pretty(&render_json(&scenario, &timeline)).unwrap_or_default();
        text.push('\n');
        text
    } else {
        render_text(&scenario, &timeline)
    };
    match out.write_all(text.as_bytes()) {
        Ok(()) => ExitCode::Pass,
        Err(error) => {
            let _ = writeln!(err, "faultline plan: cannot write the plan: {error}");
            ExitCode::Internal
        }
    }
}

fn baseline_text(scenario: &Scenario, index: usize) -> String {
    let link = &scenario.links[index];
    let faults: Vec<String> = link
        .baseline
        .faults("baseline", faultline_proxies::Direction::Upstream)
        .iter()
        .map(describe_fault)
        .collect();
    let mut text = if faults.is_empty() {
        "no baseline".to_owned()
    } else {
        format!("baseline {} each way", faults.join(", "))
    };
    if let Some(agent) = &link.agent {
        text.push_str(&format!(", proxy on agent {agent}"));
    }
    text
}

/// The plan for people.
pub fn render_text(scenario: &Scenario, timeline: &Timeline) -> String {
    let mut out = String::new();
    let duration = if scenario.time_scale == 1.0 {
        human(timeline.duration)
    } else {
        format!(
            "{} ({} × {})",
            human(timeline.duration),
            human(scenario.duration),
            scenario.time_scale
        )
    };
    out.push_str(&format!(
        "plan: {} (seed {}, time scale {}, duration {duration})\n",
        scenario.name, timeline.seed, scenario.time_scale
    ));
    out.push_str(&format!(
        "regions: {}\n",
        scenario.region_names().join(", ")
    ));
    out.push_str(&format!("links ({}):\n", scenario.links.len()));
    let width = scenario
        .links
        .iter()
        .map(|l| l.id.to_string().len())
        .max()
        .unwrap_or(0);
    for (index, link) in scenario.links.iter().enumerate() {
        out.push_str(&format!(
            "  {:<width$}  {}\n",
            link.id.to_string(),
            baseline_text(scenario, index)
        ));
    }
    let steps = scenario.schedule.len();
    out.push_str(&format!(
        "timeline ({steps} step{}, {} entr{}):\n",
        if steps == 1 { "" } else { "s" },
        timeline.entries.len(),
        if timeline.entries.len() == 1 {
            "y"
        } else {
            "ies"
        }
    ));
    out.push_str(&timeline.render_text());
    out
}

/// The plan as JSON: `{"name", "seed", "time_scale", "duration", "regions",
/// "links": [{"link", "agent", "baseline": [fault…]}], "timeline": […]}`.
pub fn render_json(scenario: &Scenario, timeline: &Timeline) -> Value {
    let links: Vec<Value> = scenario
        .links
        .iter()
        .map(|link| {
            json!({
                "link": link.id.to_string(),
                "agent": link.agent,
                "baseline": link.baseline_faults().iter().map(fault_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "name": scenario.name,
        "seed": timeline.seed,
        "time_scale": timeline.time_scale,
        "duration": duration::format(timeline.duration),
        "regions": scenario.region_names(),
        "links": links,
        "timeline": timeline.entries.iter().map(|e| e.to_json()).collect::<Vec<_>>(),
    })
}
