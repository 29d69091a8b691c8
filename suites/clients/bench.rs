//! `client-bench`: what the client-process path costs next to the HTTP path.
//!
//! One region, the kv fixture, no links and no faults: the same open-loop
//! `put` workload driven (1) by faultline's HTTP client, (2) through the Rust
//! `kv-client` and (3) through the Python `kv_client.py`, each speaking the
//! client protocol. From each drill's history: the rate achieved against the
//! rate offered (is the open loop kept?), and latency percentiles (the added
//! latency is the client path's minus the HTTP path's). Run it with
//! `scripts/bench-clients` (a release build), from the repository root:
//! `client-bench [--rate N] [--seconds S] [--concurrency C]`.

use std::path::PathBuf;
use std::time::Duration;

use faultline_harness::history::Outcome;
use faultline_harness::runner::{self, Drill, DrillOptions};
use faultline_harness::scenario::{
    ClientConfig, RequestConfig, Scenario, ScenarioConfig, ServiceConfig, WorkloadConfig,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|at| args.get(at + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} {v}: not a number"))
        })
        .unwrap_or(default)
}

fn scenario(workload: WorkloadConfig, seconds: f64) -> Scenario {
    let mut config = ScenarioConfig::new("client-bench");
    config.regions = vec!["us-east".into()];
    config.duration = Duration::from_secs_f64(seconds);
    config.services.insert(
        "kv".into(),
        [(
            "us-east".to_owned(),
            ServiceConfig::command([
                "fixture", "kv", "--region", "us-east", "--listen", "{listen}",
            ])
            .ready_http("/health"),
        )]
        .into(),
    );
    config.workload.push(workload);
    config.validate().unwrap_or_else(|err| panic!("{err}"))
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index] as f64 / 1e6
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let (rate, seconds, concurrency) = (
        arg("--rate", 500.0),
        arg("--seconds", 10.0),
        arg("--concurrency", 8.0),
    );
    let exe = std::env::current_exe().expect("the path of client-bench");
    let bin_dir = exe.parent().expect("a folder").to_path_buf();
    let python = PathBuf::from("suites/clients/kv_client.py");
    let put = |name: &str| {
        WorkloadConfig::new(
            name,
            rate,
            RequestConfig::new("PUT", "/kv/k{seq}").body(json!("v{seq}")),
        )
        .concurrency(concurrency as u32)
        .key_value("k{seq}", json!("v{seq}"))
    };
    let client = |name: &str, command: Vec<String>| WorkloadConfig {
        request: None,
        client: Some(ClientConfig::new(command)),
        ..put(name)
    };
    let paths = [
        ("http", put("put")),
        (
            "client: Rust kv-client",
            client(
                "put",
                vec![
                    bin_dir.join("kv-client").display().to_string(),
                    "{addr}".into(),
                ],
            ),
        ),
        (
            "client: Python kv_client.py",
            client(
                "put",
                vec![
                    "python3".into(),
                    python.display().to_string(),
                    "{addr}".into(),
                ],
            ),
        ),
    ];
    println!("offered {rate}/s for {seconds}s, concurrency {concurrency}, one region, kv fixture, no faults");
    println!("| path | offered ops/s | achieved ok ops/s | ok | not ok | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut http_p50 = None;
    for (label, workload) in paths {
        let drill = Drill {
            options: DrillOptions {
                search: vec![bin_dir.clone()],
                ..DrillOptions::default()
            },
            ..Drill::new(scenario(workload, seconds))
        };
        let report = runner::run(drill, CancellationToken::new())
            .await
            .unwrap_or_else(|err| panic!("{label}: {err}"));
        assert!(
            report.client_problems.is_empty(),
            "{label}: {:?}",
            report.client_problems
        );
        let ops: Vec<_> = report.history.ops().filter(|o| o.op == "put").collect();
        let ok = ops.iter().filter(|o| o.outcome == Outcome::Ok).count();
        let mut latencies: Vec<u64> = ops
            .iter()
            .filter(|o| o.outcome == Outcome::Ok)
            .map(|o| o.end_ns.saturating_sub(o.start_ns))
            .collect();
        latencies.sort_unstable();
        if latencies.is_empty() {
            println!(
                "| {label} | {rate} | 0 | 0 | {} | – | – | – | – |",
                ops.len()
            );
            continue;
        }
        let p50 = percentile(&latencies, 0.5);
        let added = http_p50
            .map(|h: f64| format!(" (+{:.2})", p50 - h))
            .unwrap_or_default();
        http_p50.get_or_insert(p50);
        println!(
            "| {label} | {rate} | {:.0} | {ok} | {} | {p50:.2}{added} | {:.2} | {:.2} | {:.2} |",
            ok as f64 / seconds,
            ops.len() - ok,
            percentile(&latencies, 0.9),
            percentile(&latencies, 0.99),
            percentile(&latencies, 1.0),
        );
    }
}
