//! Handlers of `/faultline/schedules` and `/faultline/schedules/{id}`: a
//! scenario's `schedule`, sent to an agent and played on its own links.
//!
//! The body is `{"schedule": [...], "seed": N, "duration": "20s",
//! "time_scale": F}`, the steps exactly as a scenario file writes them and
//! the scenario's `time_scale` applied as a drill applies it (by the
//! schedule's expansion: every step time and the duration × F). It is checked by the
//! scenario's own validation against a scenario made of the agent's links
//! (regions from the link ids, each service running in the regions its
//! links reach), so its errors name the same field paths a scenario file's
//! would; then it is expanded with the scenario's seed and handed to the
//! [`Scheduler`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use faultline_proxies::{Fault, ProxyInfo, Registry};
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::links;
use super::respond::{json, no_content};
use super::scheduler::{AppliedChange, Run, RunState, RunStatus, Scheduler};
use crate::base::duration;
use crate::base::LinkId;
use crate::history::FaultAction;
use crate::plane::{InProcess, LinkProxy, Plane};
use crate::scenario::{LinkConfig, Scenario, ScenarioConfig, ScenarioError, ServiceConfig};
use crate::schedule::{Change, StepConfig, Timeline};
use crate::wire::decode_object;
use crate::wire::shapes::ToxicJson;

type Reply = Result<Response<Full<Bytes>>, ApiError>;

/// The body of `POST /faultline/schedules`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// The steps, exactly as a scenario file's `schedule`.
    pub schedule: Vec<StepConfig>,
    /// The seed of the random parts (default 0).
    #[serde(default)]
    pub seed: u64,
    /// How long the schedule lasts (default: until its last step ends; then
    /// every step needs a `for`).
    #[serde(default, with = "duration::opt")]
    pub duration: Option<Duration>,
    /// Factor on every schedule time, as a scenario's `time_scale`
    /// (default 1; the range a scenario allows).
    #[serde(default = "unscaled")]
    pub time_scale: f64,
}

fn unscaled() -> f64 {
    1.0
}

/// The top-level fields of [`ScheduleConfig`]: problems under them are the
/// request's fault (400); others are the agent's links' (409).
const BODY_FIELDS: [&str; 4] = ["schedule", "seed", "duration", "time_scale"];

impl ScheduleConfig {
    /// Validates the schedule against `links` (the agent's), as a scenario
    /// of those links would be validated.
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] naming the field path of every problem of
    /// the body (an unknown region, a step past the end, …);
    /// [`ApiError::Conflict`] when the agent's links themselves are not a
    /// network a scenario could declare (a region name with a dot, say).
    pub fn validate(self, links: &BTreeMap<LinkId, ProxyInfo>) -> Result<Scenario, ApiError> {
        if self.schedule.is_empty() {
            return Err(ApiError::BadRequest(
                "schedule: must list at least one step".into(),
            ));
        }
        let until_last_step = self.duration.is_none();
        if until_last_step {
            if let Some(index) = self.schedule.iter().position(|s| s.lasting.is_none()) {
                return Err(ApiError::BadRequest(format!(
                    "schedule[{index}].for: needed when the body gives no `duration` (the step would never end)"
                )));
            }
        }
        let mut config = ScenarioConfig::new("faultline schedule")
            .seed(self.seed)
            .time_scale(self.time_scale)
            .duration(self.duration.unwrap_or(duration::MAX));
        config.schedule = self.schedule;
        let mut regions: Vec<&str> = links
            .keys()
            .flat_map(|id| [id.from.as_str(), id.to.as_str()])
            .collect();
        regions.sort_unstable();
        regions.dedup();
        config = config.regions(regions);
        for (id, info) in links {
            config = config
                .service(
                    &id.service,
                    &id.to,
                    ServiceConfig::address(info.upstream.clone()),
                )
                .link(LinkConfig::directed(&id.from, &id.to, &id.service));
        }
        let mut scenario = config.validate().map_err(|err| rejected(&err))?;
        if until_last_step {
            scenario.duration = scenario
                .schedule
                .iter()
                .map(|step| step.end)
                .max()
                .unwrap_or_default();
        }
        Ok(scenario)
    }
}

/// A scenario's problems as one API error.
fn rejected(err: &ScenarioError) -> ApiError {
    let problems = err.problems();
    let in_body = |path: &str| {
        BODY_FIELDS.iter().any(|field| {
            path.strip_prefix(field)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        })
    };
    let listed = |keep: &dyn Fn(&str) -> bool| {
        problems
            .iter()
            .filter(|p| keep(&p.path))
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    };
    if problems.iter().any(|p| in_body(&p.path)) {
        ApiError::BadRequest(listed(&in_body))
    } else if problems.is_empty() {
        ApiError::Internal(err.to_string())
    } else {
        ApiError::Conflict(format!(
            "the links this agent serves are not a network a schedule can act on: {}",
            listed(&|_| true)
        ))
    }
}

/// One link change of the plan `POST /faultline/schedules` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedChange {
    /// When, in milliseconds after the schedule starts.
    pub at_ms: f64,
    /// The schedule step.
    pub step: u32,
    /// Which activation of the step, if it has several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<u32>,
    /// `start`, `update` or `end` of the step's fault.
    pub action: FaultAction,
    /// The link changed.
    pub link: String,
    /// `add`, `update` or `remove` of the proxy fault.
    pub op: &'static str,
    /// The proxy fault (for a removal: the one removed), as a toxic.
    pub fault: ToxicJson,
}

/// The timeline, one row per link change.
pub fn plan(timeline: &Timeline) -> Vec<PlannedChange> {
    // A removal names its fault only; show the fault it removes.
    let mut live: BTreeMap<(&LinkId, &str), &Fault> = BTreeMap::new();
    let mut rows = Vec::new();
    for entry in &timeline.entries {
        for change in &entry.changes {
            let (op, fault) = match &change.change {
                Change::Add(fault) => ("add", Some(fault)),
                Change::Update(fault) => ("update", Some(fault)),
                Change::Remove { name, .. } => ("remove", live.remove(&(&change.link, name))),
            };
            let Some(fault) = fault else { continue };
            if op != "remove" {
                live.insert((&change.link, &fault.name), fault);
            }
            rows.push(PlannedChange {
                at_ms: entry.at.as_secs_f64() * 1e3,
                step: entry.step,
                instance: entry.instance,
                action: entry.action,
                link: change.link.to_string(),
                op,
                fault: ToxicJson::from(fault),
            });
        }
    }
    rows
}

/// `POST /faultline/schedules`: validates, expands and starts a schedule: 201.
pub async fn create(registry: &Arc<Registry>, scheduler: &Scheduler, body: &Bytes) -> Reply {
    #[derive(Serialize)]
    struct Created {
        id: String,
        plan: Vec<PlannedChange>,
    }
    let config = decode_object::<ScheduleConfig>(body)?;
    let served = links::served(registry).await;
    let scenario = config.validate(&served)?;
    let plane: Arc<dyn Plane> = Arc::new(InProcess::new(registry.clone()));
    let proxies = served
        .into_iter()
        .map(|(id, info)| {
            let proxy = LinkProxy {
                plane: plane.clone(),
                name: info.name,
                listen: info.listen,
            };
            (id, proxy)
        })
        .collect();
    let (run, timeline) = scheduler.start(scenario.timeline(), proxies)?;
    json(
        StatusCode::CREATED,
        &Created {
            id: run.id().to_owned(),
            plan: plan(&timeline),
        },
    )
}

/// A schedule as `GET /faultline/schedules/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleJson {
    /// Its id.
    pub id: String,
    /// `running`, `finished`, `cancelled` or `failed`.
    pub state: RunState,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// The changes applied so far, with their planned and actual times.
    pub changes: Vec<AppliedChange>,
    /// What failed, if anything did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// `GET /faultline/schedules`: every schedule remembered, oldest first, with its state.
pub fn list(scheduler: &Scheduler) -> Reply {
    #[derive(Serialize)]
    struct Listed {
        id: String,
        state: RunState,
        started_at: String,
    }
    let runs: Vec<Listed> = scheduler
        .list()
        .iter()
        .map(|run| Listed {
            id: run.id().to_owned(),
            state: run.status().state,
            started_at: rfc3339(run.started_at()),
        })
        .collect();
    json(StatusCode::OK, &runs)
}

/// `GET /faultline/schedules/{id}`.
pub fn show(scheduler: &Scheduler, id: &str) -> Reply {
    let run: Arc<Run> = scheduler.get(id).ok_or_else(|| not_found(id))?;
    let RunStatus { state, error } = run.status();
    json(
        StatusCode::OK,
        &ScheduleJson {
            id: run.id().to_owned(),
            state,
            started_at: rfc3339(run.started_at()),
            changes: run.changes(),
            error,
        },
    )
}

/// `DELETE /faultline/schedules/{id}`: cancels it and heals what it applied: 204.
/// A schedule that has ended keeps its state.
pub async fn cancel(scheduler: &Scheduler, id: &str) -> Reply {
    scheduler.cancel(id).await.ok_or_else(|| not_found(id))?;
    Ok(no_content())
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("schedule not found: {id:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(ids: &[&str]) -> BTreeMap<LinkId, ProxyInfo> {
        ids.iter()
            .map(|id| {
                let info = ProxyInfo {
                    name: (*id).to_owned(),
                    listen: "127.0.0.1:1".into(),
                    upstream: "127.0.0.1:2".into(),
                    enabled: true,
                    faults: Vec::new(),
                };
                (id.parse().expect("a link id"), info)
            })
            .collect()
    }

    fn config(body: serde_json::Value) -> ScheduleConfig {
        serde_json::from_value(body).expect("a schedule body")
    }

    #[test]
    fn without_a_duration_the_schedule_ends_with_its_last_step() {
        let scenario = config(serde_json::json!({"schedule": [
            {"at": "1s", "for": "2s", "fault": {"partition": [["a"], ["b"]]}},
            {"at": "2s", "for": "5s", "fault": {"degrade": {"region": "a", "latency": "5ms"}}},
        ]}))
        .validate(&links(&["a->b:kv", "b->a:kv"]))
        .expect("valid");
        assert_eq!(scenario.duration, Duration::from_secs(7));
        assert_eq!(scenario.timeline().duration, Duration::from_secs(7));
    }

    #[test]
    fn problems_of_the_body_are_400_naming_the_field_path() {
        let err = config(serde_json::json!({"schedule": [
            {"at": "1s", "for": "2s", "fault": {"partition": [["a"], ["mars"]]}},
        ]}))
        .validate(&links(&["a->b:kv", "b->a:kv"]))
        .unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(
            err.to_string()
                .contains("schedule[0].fault.partition[1][0]: unknown region \"mars\""),
            "{err}"
        );
    }

    #[test]
    fn a_step_without_for_needs_a_duration() {
        let body = serde_json::json!({"schedule": [
            {"at": "1s", "fault": {"partition": [["a"], ["b"]]}},
        ]});
        let err = config(body.clone())
            .validate(&links(&["a->b:kv"]))
            .unwrap_err();
        assert!(err.to_string().starts_with("schedule[0].for: "), "{err}");
        let mut with_duration = body;
        with_duration["duration"] = "3s".into();
        let scenario = config(with_duration)
            .validate(&links(&["a->b:kv"]))
            .expect("valid");
        assert_eq!(scenario.schedule[0].end, Duration::from_secs(3));
    }

    #[test]
    fn a_time_scale_scales_every_change_and_the_duration() {
        let body = serde_json::json!({"schedule": [
            {"at": "2s", "for": "4s", "fault": {"partition": [["a"], ["b"]]}},
        ], "duration": "10s", "time_scale": 0.25});
        let scenario = config(body).validate(&links(&["a->b:kv"])).expect("valid");
        let timeline = scenario.timeline();
        assert_eq!(timeline.time_scale, 0.25);
        assert_eq!(timeline.duration, Duration::from_millis(2500));
        let at: Vec<Duration> = timeline.entries.iter().map(|e| e.at).collect();
        assert_eq!(
            at,
            [Duration::from_millis(500), Duration::from_millis(1500)]
        );
        let rows = plan(&timeline);
        assert_eq!(rows[0].at_ms, 500.0);
    }

    #[test]
    fn a_time_scale_out_of_range_is_400_naming_the_field() {
        for bad in [0.0, -1.0, 1e6] {
            let err = config(serde_json::json!({"schedule": [
                {"at": "1s", "for": "2s", "fault": {"partition": [["a"], ["b"]]}},
            ], "time_scale": bad}))
            .validate(&links(&["a->b:kv"]))
            .unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{bad}: {err}");
            assert!(err.to_string().starts_with("time_scale: "), "{bad}: {err}");
        }
    }

    #[test]
    fn links_no_scenario_could_declare_are_a_conflict() {
        let err = config(serde_json::json!({"schedule": [
            {"at": "1s", "for": "2s", "fault": {"degrade": {"region": "b", "latency": "5ms"}}},
        ]}))
        .validate(&links(&["a.1->b:kv"]))
        .unwrap_err();
        assert_eq!(err.status(), StatusCode::CONFLICT, "{err}");
    }
}
