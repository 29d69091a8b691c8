//! Verdicts: `check` on a recorded history agrees with the live drill, and a
//! drill catches a broken service (exit 1, with evidence) and passes a correct one.

use std::convert::Infallible;
use std::path::PathBuf;

use bytes::Bytes;
use faultline_harness::check;
use faultline_harness::check::attribution::BaselinePolicy;
use faultline_harness::cli::{self, ExitCode};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};

use super::*;

#[tokio::test]
async fn check_on_a_live_drills_history_gives_the_live_verdicts() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("check-live-{}", std::process::id()));
    let scenario = Scenario::parse(cli::drill::DEFAULT_SCENARIO, None)
        .unwrap()
        .with_time_scale(0.5)
        .unwrap();
    let report = runner::run(
        Drill::new(scenario.clone()).report_to(&dir),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let file = std::fs::File::open(dir.join("history.jsonl")).unwrap();
    let history = History::read_jsonl(std::io::BufReader::new(file)).unwrap();
    let rechecked = check::check_all(&scenario.invariants, &history);
    assert_eq!(rechecked.len(), report.results.len());
    for (live, again) in report.results.iter().zip(&rechecked) {
        assert_eq!(
            (&live.name, live.verdict, &live.message),
            (&again.name, again.verdict, &again.message)
        );
    }
    let scenario_file = dir.join("scenario.json");
    std::fs::write(&scenario_file, cli::drill::DEFAULT_SCENARIO).unwrap();
    let code = cli::check::run(cli::check::CheckArgs {
        history: dir.join("history.jsonl"),
        scenario: scenario_file,
        json: false,
        allow_unknown: false,
        baseline_history: None,
        baseline_failures: BaselinePolicy::Fail,
    })
    .await;
    let expected = match report.verdict {
        Verdict::Pass => ExitCode::Pass,
        Verdict::Fail => ExitCode::Fail,
        Verdict::Unknown => ExitCode::Unknown,
    };
    assert_eq!(code, expected);
}

/// A one-region store that acknowledges every write; the broken one silently
/// drops every seventh key (`k6`, `k13`, …).
async fn toy_store(broken: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let data: Arc<Mutex<BTreeMap<String, Value>>> = Arc::default();
    let writes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (data, writes) = (data.clone(), writes.clone());
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let (data, writes) = (data.clone(), writes.clone());
                        async move {
                            let path = request.uri().path().to_owned();
                            let body = request
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let answer = if path == "/write" {
                                let write: Value =
                                    serde_json::from_slice(&body).unwrap_or_default();
                                writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let key = write["key"].as_str().unwrap_or_default().to_owned();
                                // By key, so a second run (the baseline) against
                                // the same store loses the same writes.
                                let seq: u64 = key.trim_start_matches('k').parse().unwrap_or(0);
                                if !(broken && seq % 7 == 6) {
                                    data.lock().unwrap().insert(key, write["value"].clone());
                                }
                                json!({"ok": true})
                            } else {
                                let data = data.lock().unwrap().clone();
                                json!({"digest": format!("{}", data.len()), "data": data})
                            };
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
                                answer.to_string(),
                            ))))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn drill_toy(broken: bool) -> (ExitCode, PathBuf) {
    drill_toy_with(broken, false, BaselinePolicy::Fail).await
}

async fn drill_toy_with(
    broken: bool,
    baseline: bool,
    policy: BaselinePolicy,
) -> (ExitCode, PathBuf) {
    let address = toy_store(broken).await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "toy-{broken}-{baseline}-{}-{}",
        policy.as_str(),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("scenario.json");
    let scenario = json!({
        "name": format!("toy-{}", if broken { "broken" } else { "correct" }),
        "regions": ["a"],
        "services": {"toy": {"a": {"address": address}}},
        "workload": [{"name": "write", "service": "toy", "rate": 100, "concurrency": 4,
                      "request": {"method": "POST", "path": "/write", "body": {"key": "k{seq}", "value": "v{id}"}},
                      "key": "k{seq}", "value": "v{id}"}],
        "final_reads": {"toy": {"path": "/state"}},
        "duration": "1s",
        "invariants": [{"no_lost_writes": {"op": "write"}}]
    });
    std::fs::write(&file, scenario.to_string()).unwrap();
    let args = cli::drill::DrillArgs {
        scenario: Some(file),
        seed: None,
        time_scale: None,
        report: Some(dir.join("report")),
        allow_unknown: false,
        agent_token: None,
        bin_dirs: Vec::new(),
        state_dir: Some(dir.join("state")),
        lease_ttl: None,
        baseline,
        baseline_failures: policy,
        quiet: true,
    };
    (
        cli::drill::run(args, CancellationToken::new()).await,
        dir.join("report"),
    )
}

#[tokio::test]
async fn a_drill_whose_agent_token_variable_is_unset_exits_64_naming_it() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("token-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("scenario.json");
    let scenario = json!({
        "name": "token-env",
        "regions": ["a", "b"],
        "agents": {"b": {"url": "http://127.0.0.1:1", "token_env": "FAULTLINE_TEST_TOKEN_NEVER_SET_7F3A"}},
        "services": {"s": {"a": {"address": "127.0.0.1:1"}, "b": {"address": "127.0.0.1:1"}}},
        "links": [{"between": ["a", "b"], "service": "s"}],
        "duration": "1s"
    });
    std::fs::write(&file, scenario.to_string()).unwrap();
    let args = cli::drill::DrillArgs {
        scenario: Some(file),
        seed: None,
        time_scale: None,
        report: Some(dir.join("report")),
        allow_unknown: false,
        agent_token: None,
        bin_dirs: Vec::new(),
        quiet: true,
        state_dir: Some(dir.join("state")),
        lease_ttl: None,
        baseline: false,
        baseline_failures: BaselinePolicy::Fail,
    };
    assert_eq!(
        cli::drill::run(args, CancellationToken::new()).await,
        ExitCode::Usage
    );
    assert!(
        !dir.join("report").exists(),
        "nothing ran: no report folder"
    );
}

#[tokio::test]
async fn a_drill_fails_a_broken_service_with_evidence_and_passes_a_correct_one() {
    let (code, report) = drill_toy(true).await;
    assert_eq!(code, ExitCode::Fail);
    let summary = std::fs::read_to_string(report.join("summary.txt")).unwrap();
    assert!(
        summary.contains("FAIL") && summary.contains("lost"),
        "{summary}"
    );
    let junit = std::fs::read_to_string(report.join("junit.xml")).unwrap();
    assert!(junit.contains("<failure"), "{junit}");

    let (code, _) = drill_toy(false).await;
    assert_eq!(code, ExitCode::Pass);
}

/// The broken store loses writes whether or not anything is faulted: with a
/// baseline run, `no_lost_writes` fails without faults too, with both runs'
/// figures; the policy decides the exit code and the JUnit case, and `check
/// --baseline-history` judges the same pair the same way.
#[tokio::test]
async fn a_failure_the_baseline_shares_is_attributed_and_the_policy_decides_the_exit_code() {
    let (code, report) = drill_toy_with(true, true, BaselinePolicy::Fail).await;
    assert_eq!(code, ExitCode::Fail);
    let json: Value =
        serde_json::from_slice(&std::fs::read(report.join("report.json")).unwrap()).unwrap();
    let attributed = &json["attribution"][0];
    assert_eq!(attributed["name"], "no_lost_writes(write)", "{json}");
    assert_eq!(
        attributed["attribution"], "fails-without-faults-too",
        "{attributed}"
    );
    assert_eq!(attributed["figure"], "lost");
    let drill_lost = attributed["drill_figure"].as_f64().unwrap();
    let baseline_lost = attributed["baseline_figure"].as_f64().unwrap();
    assert!(drill_lost >= 1.0 && baseline_lost >= 1.0, "{attributed}");
    assert_eq!(json["baseline"]["verdict"], "fail");
    assert_eq!(json["baseline"]["policy"], "fail");
    assert!(report.join("baseline/history.jsonl").exists());
    let summary = std::fs::read_to_string(report.join("summary.txt")).unwrap();
    assert!(
        summary.contains("no_lost_writes(write): fails without faults too (lost "),
        "{summary}"
    );
    let junit = std::fs::read_to_string(report.join("junit.xml")).unwrap();
    assert!(junit.contains("<failure"), "{junit}");

    let (code, report) = drill_toy_with(true, true, BaselinePolicy::Pass).await;
    assert_eq!(
        code,
        ExitCode::Pass,
        "a failure without faults too passes under `pass`"
    );
    let junit = std::fs::read_to_string(report.join("junit.xml")).unwrap();
    assert!(!junit.contains("<failure"), "{junit}");
    assert!(
        junit.contains("attribution: no_lost_writes(write): fails without faults too"),
        "{junit}"
    );
    let json: Value =
        serde_json::from_slice(&std::fs::read(report.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["verdict"], "fail", "the drill's own verdict stays");
    assert_eq!(json["baseline"]["counted_verdict"], "pass");

    // `faultline report` redraws the views with the attribution.
    std::fs::remove_file(report.join("summary.txt")).unwrap();
    faultline_harness::report::redraw(&report).unwrap();
    let summary = std::fs::read_to_string(report.join("summary.txt")).unwrap();
    assert!(summary.contains("ATTRIBUTION"), "{summary}");

    let scenario_file = report.parent().unwrap().join("scenario.json");
    for (policy, expected) in [
        (BaselinePolicy::Pass, ExitCode::Pass),
        (BaselinePolicy::Fail, ExitCode::Fail),
    ] {
        let code = cli::check::run(cli::check::CheckArgs {
            history: report.join("history.jsonl"),
            scenario: scenario_file.clone(),
            json: true,
            allow_unknown: false,
            baseline_history: Some(report.join("baseline/history.jsonl")),
            baseline_failures: policy,
        })
        .await;
        assert_eq!(
            code,
            expected,
            "check --baseline-failures {}",
            policy.as_str()
        );
    }

    // The correct store holds in both.
    let (code, report) = drill_toy_with(false, true, BaselinePolicy::Fail).await;
    assert_eq!(code, ExitCode::Pass);
    let json: Value =
        serde_json::from_slice(&std::fs::read(report.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["attribution"][0]["attribution"], "holds", "{json}");
}
