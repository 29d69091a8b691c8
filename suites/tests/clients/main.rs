//! Client processes as workloads, probes and final reads: the kv fixture
//! driven through `suites/clients/kv_client.py` (Python) and
//! `suites/clients/kv_client.rs` (Rust, the `kv-client` binary), and clients
//! that break the protocol on purpose (crash, garbage, silence): the drill
//! still heals, reads, judges and reports, naming the client, region and line.

use std::path::PathBuf;
use std::time::Duration;

use faultline_harness::check::{Verdict, FINAL_READ_OP};
use faultline_harness::history::{FaultAction, Outcome};
use faultline_harness::runner::DrillReport;
use faultline_harness::scenario::Scenario;
use faultline_suites::clients::{client_configs, repository_root, rooted};
use faultline_suites::{assert_final_reads_from, edit, fault_window, load, run_drill};

const NO_LOST_WRITES: &str = "no_lost_writes(put)";

fn report_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("suites/clients")
        .join(name)
}

fn kv_clients() -> Scenario {
    rooted(load("kv-clients"))
}

/// The scenario with every client replaced by `command` (then `{addr}`).
fn with_clients(scenario: Scenario, command: &[String]) -> Scenario {
    edit(scenario, |config| {
        for client in client_configs(config) {
            client.command = command.to_vec();
            client.command.push("{addr}".into());
        }
    })
}

/// The scenario with only the writing workload's client replaced by the
/// misbehaving one in `mode`, its timeout shortened, and only in us-east.
fn misbehaving(mode: &str) -> Scenario {
    let script = repository_root().join("suites/clients/misbehaving_client.py");
    edit(kv_clients(), |config| {
        let put = &mut config.workload[0];
        put.regions = Some(vec!["us-east".into()]);
        put.timeout = Some(Duration::from_millis(500));
        put.client.as_mut().expect("a client workload").command = vec![
            "python3".into(),
            script.display().to_string(),
            mode.into(),
            "{addr}".into(),
        ];
        config.duration = Duration::from_secs(6);
    })
}

/// Every invariant passes, the clients said nothing wrong, the operations
/// and markers went through the clients, and the final reads came from the
/// spawned fixtures.
fn assert_clean_pass(report: &DrillReport) {
    assert!(
        report.client_problems.is_empty(),
        "{:#?}",
        report.client_problems
    );
    report.assert_pass();
    assert_final_reads_from(report, "kv", "merge");
    let puts: Vec<_> = report.history.ops().filter(|o| o.op == "put").collect();
    assert!(puts
        .iter()
        .any(|o| o.client == "put-us-east" && o.outcome == Outcome::Ok));
    assert!(puts
        .iter()
        .any(|o| o.client == "put-eu-west" && o.outcome == Outcome::Ok));
    let window = fault_window(&report.history, 0);
    let delayed = report
        .history
        .lags()
        .filter(|lag| window.covers(lag.written_ns, 0))
        .filter(|lag| lag.seen_ns.is_some_and(|seen| seen >= window.end_ns))
        .count();
    assert!(
        delayed > 0,
        "no marker written during the partition waited for the heal: the probe did not go through the clients"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_drives_writes_probes_and_final_reads() {
    let report = run_drill(kv_clients(), report_dir("python")).await;
    assert_clean_pass(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_client_drives_the_same_drill() {
    let rust = vec![env!("CARGO_BIN_EXE_kv-client").to_owned()];
    let report = run_drill(with_clients(kv_clients(), &rust), report_dir("rust")).await;
    assert_clean_pass(&report);
}

/// The drill ran to the end: the partition was healed (its end record is
/// there and nothing is left unhealed) and the final reads ran.
fn assert_healed_and_read(report: &DrillReport) {
    assert!(report.unhealed.is_empty(), "{:?}", report.unhealed);
    assert!(
        report
            .history
            .faults()
            .any(|f| f.step == 0 && f.action == FaultAction::End),
        "the partition never ended"
    );
    assert!(report
        .history
        .ops()
        .any(|o| o.op == FINAL_READ_OP && o.outcome == Outcome::Ok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_crashes_mid_drill_is_reported_and_the_drill_still_heals() {
    let report = run_drill(misbehaving("crash"), report_dir("crash")).await;
    assert_healed_and_read(&report);
    let problems = report.client_problems.join("\n");
    assert!(
        problems.contains("client put-us-east in us-east exited with exit status: 3 during the drill, after 10 answers, with "),
        "{problems}"
    );
    assert!(problems.contains("crashing on purpose"), "{problems}");
    assert!(
        report.summary.contains("Client process problems:"),
        "{}",
        report.summary
    );
    let puts: Vec<_> = report.history.ops().filter(|o| o.op == "put").collect();
    assert_eq!(puts.iter().filter(|o| o.outcome == Outcome::Ok).count(), 10);
    assert!(puts.iter().any(|o| o.outcome == Outcome::Unknown
        && o.detail
            .as_deref()
            .is_some_and(|d| d.contains("went away with the operation in flight"))));
    assert!(puts.iter().any(|o| o.outcome == Outcome::Fail
        && o.detail.as_deref().is_some_and(|d| d.contains("not sent"))));
    // The ten acknowledged writes are judged like any others.
    report.assert_verdict(NO_LOST_WRITES, Verdict::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_writes_garbage_is_reported_with_the_line() {
    let report = run_drill(misbehaving("garbage"), report_dir("garbage")).await;
    assert_healed_and_read(&report);
    let problems = report.client_problems.join("\n");
    assert!(
        problems.contains("client put-us-east in us-east: line 12 is not a JSON answer ({\"id\": …, \"outcome\": \"ok\"|\"fail\"|\"unknown\"}): \"this is not JSON\""),
        "{problems}"
    );
    assert!(
        problems.contains("client put-us-east in us-east: line 13 answers id 1000000000000, which was never sent or was already answered"),
        "{problems}"
    );
    let unknown = report
        .history
        .ops()
        .filter(|o| o.op == "put" && o.outcome == Outcome::Unknown)
        .filter(|o| o.detail.as_deref() == Some("no answer within 500ms"))
        .count();
    assert!(unknown > 0, "operations without an answer must be unknown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_answers_gives_unknown_outcomes_and_is_stopped() {
    let report = run_drill(misbehaving("silent"), report_dir("silent")).await;
    assert_healed_and_read(&report);
    let puts: Vec<_> = report.history.ops().filter(|o| o.op == "put").collect();
    assert_eq!(puts.iter().filter(|o| o.outcome == Outcome::Ok).count(), 10);
    assert!(
        puts.iter()
            .skip(10)
            .all(|o| o.outcome == Outcome::Unknown || o.outcome == Outcome::Fail),
        "an operation past the tenth was acknowledged by a client that never answers"
    );
    assert!(puts.iter().any(|o| o.outcome == Outcome::Unknown));
    // Unknown writes cannot be lost, so the verdict is the acknowledged ten's.
    report.assert_verdict(NO_LOST_WRITES, Verdict::Pass);
}

#[test]
fn the_documented_examples_are_the_files_these_tests_run() {
    let root = repository_root();
    let doc = std::fs::read_to_string(root.join("docs/clients.md")).expect("docs/clients.md");
    for (file, fence) in [
        ("suites/clients/kv_client.py", "```python\n"),
        ("suites/clients/kv_client.rs", "```rust\n"),
    ] {
        let text = std::fs::read_to_string(root.join(file)).expect("the example");
        let shown = format!("{fence}{}\n```", text.trim_end());
        assert!(
            doc.contains(&shown),
            "docs/clients.md does not show {file} as it is"
        );
    }
}
