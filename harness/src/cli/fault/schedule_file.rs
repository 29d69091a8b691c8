//! The file `faultline fault schedule` sends: a JSON array of steps, or a
//! scenario file whose `schedule`, `seed`, `duration` and `time_scale` are
//! used (the server validates the steps against its links and applies the
//! scale, as a drill does).

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::FaultCliError;
use crate::base::duration;
use crate::scenario::ScenarioConfig;
use crate::schedule::StepConfig;

/// The body `schedule` sends: a scenario's `schedule`, `seed`, `duration`
/// and `time_scale` (the server applies the scale, as a drill does).
#[derive(Debug, Serialize)]
pub(super) struct ScheduleBody {
    pub(super) schedule: Vec<StepConfig>,
    pub(super) seed: u64,
    #[serde(with = "duration::opt", skip_serializing_if = "Option::is_none")]
    pub(super) duration: Option<Duration>,
    pub(super) time_scale: f64,
}

impl ScheduleBody {
    /// Reads a JSON array of steps or a whole scenario file; a scenario is
    /// parsed as `faultline validate` parses it (shape only: the server
    /// checks the schedule against its own links).
    pub(super) fn load(file: &Path) -> Result<Self, FaultCliError> {
        let bad = |reason: String| FaultCliError::File {
            file: file.to_owned(),
            reason,
        };
        let text =
            std::fs::read_to_string(file).map_err(|err| bad(format!("cannot read: {err}")))?;
        if text.trim_start().starts_with('[') {
            let mut deserializer = serde_json::Deserializer::from_str(&text);
            let schedule: Vec<StepConfig> = serde_path_to_error::deserialize(&mut deserializer)
                .map_err(|err| {
                    let path = err.path().to_string();
                    let path = if path == "." { String::new() } else { path };
                    bad(format!("schedule{path}: {}", err.into_inner()))
                })?;
            deserializer
                .end()
                .map_err(|err| bad(format!("after the schedule: {err}")))?;
            return Ok(Self {
                schedule,
                seed: 0,
                duration: None,
                time_scale: 1.0,
            });
        }
        let origin = file.display().to_string();
        let config = ScenarioConfig::parse(&text, Some(&origin))?;
        if config.schedule.is_empty() {
            return Err(bad("schedule: must list at least one step".to_owned()));
        }
        Ok(Self {
            schedule: config.schedule,
            seed: config.seed,
            duration: Some(config.duration),
            time_scale: config.time_scale,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_file_gives_its_schedule_seed_and_duration() {
        let file = std::env::temp_dir().join(format!(
            "faultline-fault-schedule-{}.json",
            std::process::id()
        ));
        let scenario = r#"{"name": "x", "seed": 5, "duration": "2s", "regions": ["a", "b"], "services": {},
            "schedule": [{"at": "1s", "fault": {"partition": [["a"], ["b"]]}}]}"#;
        std::fs::write(&file, scenario).expect("write the scenario");
        let body = ScheduleBody::load(&file);
        let _ = std::fs::remove_file(&file);
        let body = body.expect("a scenario's schedule");
        assert_eq!(body.seed, 5);
        assert_eq!(body.duration, Some(Duration::from_secs(2)));
        let sent = serde_json::to_value(&body).expect("serializable");
        assert_eq!(sent["duration"], "2s");
        assert_eq!(sent["schedule"][0]["at"], "1s");
    }

    #[test]
    fn a_scenario_file_sends_its_time_scale_for_the_server_to_apply() {
        let file = std::env::temp_dir().join(format!(
            "faultline-fault-schedule-scaled-{}.json",
            std::process::id()
        ));
        let scenario = r#"{"name": "x", "time_scale": 0.25, "duration": "2s", "regions": ["a", "b"],
            "services": {}, "schedule": [{"at": "1s", "fault": {"partition": [["a"], ["b"]]}}]}"#;
        std::fs::write(&file, scenario).expect("write the scenario");
        let body = ScheduleBody::load(&file);
        let _ = std::fs::remove_file(&file);
        let body = body.expect("a scaled scenario's schedule");
        let sent = serde_json::to_value(&body).expect("serializable");
        assert_eq!(sent["time_scale"], 0.25);
        assert_eq!(sent["duration"], "2s", "sent unscaled: the server scales");
    }
}
