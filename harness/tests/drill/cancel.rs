//! The heal guarantee: however a drill ends, no fault remains and no spawned
//! process is left.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Region names unique to this test process and call, so the spawned services
/// can be found by their command lines.
pub(super) fn unique_regions() -> (String, String, String) {
    let token = format!(
        "t{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    (format!("{token}-east"), format!("{token}-west"), token)
}

/// Processes whose command line mentions `token`.
pub(super) fn processes_with(token: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(token))
                .unwrap_or(false)
        })
        .collect()
}

/// Two regions of the demo service, spawned from this build's `faultline`,
/// with every proxy on `agent`, and a long partition.
pub(super) fn spawning_scenario(east: &str, west: &str, agent: &str) -> Value {
    let faultline = env!("CARGO_BIN_EXE_faultline");
    let command = |region: &str, peer: &str| {
        json!({
            "command": [faultline, "demo-service", "--region", region, "--listen", "{listen}",
                        "--peer", format!("{peer}={{link:{region}->{peer}:demo}}")],
            "ready": {"http": "/health"}
        })
    };
    json!({
        "name": "cancel-me",
        "regions": [east, west],
        "agents": {east: agent, west: agent},
        "services": {"demo": {east: command(east, west), west: command(west, east)}},
        "links": [{"between": [east, west], "service": "demo", "latency": "5ms"}],
        "workload": [{"name": "write", "service": "demo", "rate": 20,
                      "request": {"method": "POST", "path": "/write", "body": {"key": "{region}-{seq}", "value": "{id}"}}}],
        "schedule": [{"at": "300ms", "for": "20s", "fault": {"partition": [[east], [west]]}}],
        "duration": "30s"
    })
}

#[tokio::test]
async fn a_drill_cancelled_at_any_point_heals_every_fault_and_stops_every_process() {
    for delay_ms in [0u64, 50, 250, 600, 1200] {
        let agent = Agent::start().await;
        let (east, west, token) = unique_regions();
        let drill = Drill::new(scenario(spawning_scenario(&east, &west, &agent.url)));
        let stop = CancellationToken::new();
        let running = tokio::spawn(runner::run(drill, stop.clone()));
        // Choosing when to cancel, not waiting for anything.
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        stop.cancel();
        let result = running.await.unwrap();
        assert!(
            drill_error_is_cancelled(&result),
            "cancelled at {delay_ms} ms: {:?}",
            result.map(|r| r.verdict)
        );
        assert!(
            agent.registry.list().await.is_empty(),
            "cancelled at {delay_ms} ms: proxies (and their faults) remain"
        );
        assert_eq!(
            processes_with(&token),
            Vec::<u32>::new(),
            "cancelled at {delay_ms} ms: spawned services remain"
        );
    }
}

#[tokio::test]
async fn sigint_to_a_drill_process_heals_and_stops_everything() {
    let agent = Agent::start().await;
    let (east, west, token) = unique_regions();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sigint-{token}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("scenario.json");
    std::fs::write(
        &file,
        spawning_scenario(&east, &west, &agent.url).to_string(),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("drill")
        .arg(&file)
        .arg("--quiet")
        .arg("--report")
        .arg(dir.join("report"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Wait until the partition is in place on the agent.
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let faults: usize = agent
            .registry
            .list()
            .await
            .iter()
            .map(|p| p.faults.iter().filter(|f| f.name.starts_with("s0")).count())
            .sum();
        if faults > 0 {
            break;
        }
        assert!(Instant::now() < give_up, "the drill never partitioned");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("the drill did not exit")
        .unwrap();
    assert_eq!(status.code(), Some(130), "exit status after SIGINT");
    assert!(
        agent.registry.list().await.is_empty(),
        "proxies (and their faults) remain after SIGINT"
    );
    assert_eq!(
        processes_with(&token),
        Vec::<u32>::new(),
        "spawned services remain after SIGINT"
    );
}

#[tokio::test]
async fn a_service_that_dies_during_the_drill_is_reported() {
    let (east, _, _) = unique_regions();
    let faultline = env!("CARGO_BIN_EXE_faultline");
    // `timeout` ends the service one second in: a crash, as far as the drill knows.
    let command =
        format!("exec timeout 1 {faultline} demo-service --region {east} --listen {{listen}}");
    let drill = Drill::new(scenario(json!({
        "name": "dies",
        "regions": [east],
        "services": {"demo": {east.clone(): {"command": ["sh", "-c", command], "ready": {"http": "/health"}}}},
        "duration": "2s"
    })));
    let report = runner::run(drill, CancellationToken::new()).await.unwrap();
    assert_eq!(report.exited.len(), 1, "{:?}", report.exited);
    assert!(
        report.exited[0].contains(&format!("demo in {east} exited")),
        "{:?}",
        report.exited
    );
    assert!(
        report.summary.contains("exited during the drill"),
        "{}",
        report.summary
    );
}
