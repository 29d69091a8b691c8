//! `faultline fault links|regions|schedule|schedules|unschedule` against a
//! live in-process API: the commands `faultline fault` dispatches to, with
//! the exit codes their errors map to.
//!
//! Nothing sleeps to wait: `schedule --wait` polls the server itself, and a
//! test that needs a schedule's faults in place polls until they show
//! (bounded by a timeout).

use std::time::Duration;

use faultline_harness::cli::ExitCode;
use serde_json::Value;

use super::{closed_port, run_fault, start_api, Api, TempConfig};

/// How long a test waits for a state before it fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// The two links of service `svc` between regions a and b.
const LINKS: [&str; 2] = ["a->b:svc", "b->a:svc"];

/// An API with the proxies of [`LINKS`], each to a port nobody listens on.
async fn api_with_links() -> Api {
    let api = start_api().await;
    let upstream = closed_port().await;
    for name in LINKS {
        api.proxy(name, upstream).await;
    }
    api
}

/// Runs `faultline fault ARGS --url API`; its output, or its exit code and message.
async fn fault_at(api: &Api, args: &[&str]) -> Result<String, (ExitCode, String)> {
    let mut argv = args.to_vec();
    argv.extend(["--url", api.url.as_str()]);
    run_fault(&argv)
        .await
        .map_err(|err| (err.exit_code(), err.to_string()))
}

/// The number of faults on the links.
async fn fault_count(api: &Api) -> usize {
    let links = api.call("GET", "/faultline/links", None).await.json();
    links
        .as_array()
        .expect("an array of links")
        .iter()
        .map(|link| link["faults"].as_array().map_or(0, Vec::len))
        .sum()
}

/// Polls until some fault shows on the links, or panics after [`PATIENCE`].
async fn until_faults_show(api: &Api) {
    let applied = tokio::time::timeout(PATIENCE, async {
        while fault_count(api).await == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        applied.is_ok(),
        "no fault showed on the links within {PATIENCE:?}"
    );
}

/// `faultline fault schedules` lists schedule `id` in `state`.
async fn assert_listed(api: &Api, id: &str, state: &str) {
    let schedules = fault_at(api, &["schedules"]).await.expect("schedules");
    assert!(
        schedules
            .lines()
            .any(|l| l.starts_with(id) && l.split_whitespace().nth(1) == Some(state)),
        "{id} {state}: {schedules}"
    );
}

/// A partition of a from b lasting `lasting`.
fn partition(lasting: &str) -> String {
    format!(r#"[{{"at": "0s", "for": "{lasting}", "fault": {{"partition": [["a"], ["b"]]}}}}]"#)
}

/// The id `schedule` printed (`started schedule ID`).
fn started_id(output: &str) -> String {
    output
        .lines()
        .find_map(|line| line.strip_prefix("started schedule "))
        .unwrap_or_else(|| panic!("no id in {output}"))
        .to_owned()
}

#[tokio::test]
async fn links_and_regions_list_the_links_as_a_table_or_json() {
    let api = api_with_links().await;

    let links = fault_at(&api, &["links"]).await.expect("links");
    assert!(links.starts_with("LINK"), "{links}");
    for link in LINKS {
        assert!(
            links.lines().any(|l| l.starts_with(link)),
            "{link}: {links}"
        );
    }

    let json: Value = serde_json::from_str(
        &fault_at(&api, &["links", "--json"])
            .await
            .expect("links --json"),
    )
    .expect("links --json prints JSON");
    let ids: Vec<&str> = json
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|l| l["link"].as_str())
        .collect();
    assert_eq!(ids, LINKS);

    let regions = fault_at(&api, &["regions"]).await.expect("regions");
    let lines: Vec<&str> = regions.lines().collect();
    assert_eq!(lines.len(), 3, "{regions}");
    assert!(
        lines[1].starts_with("a ") && lines[1].contains("a->b:svc"),
        "{regions}"
    );
    assert!(
        lines[2].starts_with("b ") && lines[2].contains("b->a:svc"),
        "{regions}"
    );

    let json: Value = serde_json::from_str(
        &fault_at(&api, &["regions", "--json"])
            .await
            .expect("regions --json"),
    )
    .expect("regions --json prints JSON");
    assert_eq!(json[0]["name"], "a");
    assert_eq!(json[0]["outbound"][0], "a->b:svc");
    assert_eq!(json[1]["inbound"][0], "a->b:svc");
}

#[tokio::test]
async fn a_waited_for_schedule_exits_0_when_it_finishes_and_leaves_no_faults() {
    let api = api_with_links().await;
    let file = TempConfig::new(&partition("300ms"));
    let path = file.0.to_str().expect("a UTF-8 path");

    let output = fault_at(&api, &["schedule", path, "--wait"])
        .await
        .expect("schedule --wait exits 0");
    let id = started_id(&output);
    assert!(
        output.contains("blackhole"),
        "the plan is printed: {output}"
    );
    assert!(
        output.contains(&format!("schedule {id} finished")),
        "{output}"
    );
    assert_eq!(fault_count(&api).await, 0, "healed at the end");

    assert_listed(&api, &id, "finished").await;
}

#[tokio::test]
async fn unscheduling_a_running_schedule_heals_and_leaves_it_cancelled() {
    let api = api_with_links().await;
    let file = TempConfig::new(&partition("10m"));
    let path = file.0.to_str().expect("a UTF-8 path");

    let output = fault_at(&api, &["schedule", path]).await.expect("schedule");
    let id = started_id(&output);
    until_faults_show(&api).await;

    let output = fault_at(&api, &["unschedule", &id])
        .await
        .expect("unschedule");
    assert!(output.contains("cancelled"), "{output}");
    assert_eq!(fault_count(&api).await, 0, "healed by the cancel");
    assert_listed(&api, &id, "cancelled").await;
}

#[tokio::test]
async fn a_waited_for_schedule_that_is_cancelled_exits_1() {
    let api = api_with_links().await;
    let file = TempConfig::new(&partition("10m"));
    let path = file.0.to_str().expect("a UTF-8 path");
    let cancel = async {
        until_faults_show(&api).await;
        let list = api.call("GET", "/faultline/schedules", None).await.json();
        let id = list[0]["id"]
            .as_str()
            .expect("the schedule is listed")
            .to_owned();
        fault_at(&api, &["unschedule", &id])
            .await
            .expect("unschedule");
    };
    let args = ["schedule", path, "--wait"];
    let (waited, ()) = tokio::join!(fault_at(&api, &args), cancel);
    let (code, message) = waited.expect_err("a cancelled schedule is not a success");
    assert_eq!(code, ExitCode::Fail, "{message}");
    assert!(message.contains("cancelled"), "{message}");
}

#[tokio::test]
async fn a_bad_schedule_file_exits_64_naming_the_file_and_the_field() {
    let api = api_with_links().await;

    let file =
        TempConfig::new(r#"[{"at": "0s", "for": "300", "fault": {"partition": [["a"], ["b"]]}}]"#);
    let path = file.0.to_str().expect("a UTF-8 path");
    let (code, message) = fault_at(&api, &["schedule", path])
        .await
        .expect_err("a bad file");
    assert_eq!(code, ExitCode::Usage, "{message}");
    assert!(message.contains(path), "{message}");
    assert!(message.contains("schedule[0].for"), "{message}");

    let scenario = TempConfig::new(
        r#"{"name": "x", "duration": "1s", "schedule": [{"at": "0s", "fault": {"partition": 3}}]}"#,
    );
    let path = scenario.0.to_str().expect("a UTF-8 path");
    let (code, message) = fault_at(&api, &["schedule", path])
        .await
        .expect_err("a bad scenario");
    assert_eq!(code, ExitCode::Usage, "{message}");
    assert!(message.contains(path), "{message}");
    assert!(message.contains("schedule[0].fault"), "{message}");

    let file = TempConfig::new(&partition("300ms").replace("[\"b\"]", "[\"mars\"]"));
    let path = file.0.to_str().expect("a UTF-8 path");
    let (code, message) = fault_at(&api, &["schedule", path])
        .await
        .expect_err("refused");
    assert_eq!(code, ExitCode::Usage, "{message}");
    assert!(
        message.contains("mars") && message.contains("HTTP 400"),
        "{message}"
    );
    assert_eq!(fault_count(&api).await, 0);
}

#[tokio::test]
async fn a_scenario_time_scale_and_the_flag_are_applied_by_the_server() {
    let api = api_with_links().await;
    let scenario = TempConfig::new(
        r#"{"name": "x", "duration": "40s", "time_scale": 0.5, "regions": ["a", "b"], "services": {},
            "schedule": [{"at": "20s", "for": "10s", "fault": {"partition": [["a"], ["b"]]}}]}"#,
    );
    let path = scenario.0.to_str().expect("a UTF-8 path");

    let output = fault_at(&api, &["schedule", path])
        .await
        .expect("scheduled");
    let id = started_id(&output);
    let at: Vec<&str> = output
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        at.contains(&"10000ms") && at.contains(&"15000ms"),
        "{output}"
    );
    assert!(
        at.iter().all(|at| ["10000ms", "15000ms"].contains(at)),
        "20 s and 30 s, × 0.5: {output}"
    );
    fault_at(&api, &["unschedule", &id])
        .await
        .expect("cancelled");

    let output = fault_at(&api, &["schedule", path, "--time-scale", "0.1"])
        .await
        .expect("scheduled");
    let id = started_id(&output);
    assert!(
        output.contains("\n2000ms "),
        "the flag overrides the file: {output}"
    );
    fault_at(&api, &["unschedule", &id])
        .await
        .expect("cancelled");

    let (code, message) = fault_at(&api, &["schedule", path, "--time-scale", "0"])
        .await
        .expect_err("refused");
    assert_eq!(code, ExitCode::Usage, "{message}");
    assert!(
        message.contains("time_scale") && message.contains("HTTP 400"),
        "{message}"
    );
}
