//! Nothing left behind when `faultline drill` is SIGKILLed: its services'
//! process groups (the services' own children included) die and their ports
//! close on their own (the supervisors), and `faultline heal` removes what it
//! placed on an agent; a planted stale run is healed too.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use faultline_harness::runfile::{self, Phase, RunRecord};

use super::cancel::{processes_with, unique_regions};
use super::*;

/// How long the tests give the supervisors and `faultline heal`: generous
/// (the machine may be loaded); each wait returns as soon as its event happens.
const DEADLINE: Duration = Duration::from_secs(15);

/// Two regions of the demo service, each started through a shell that keeps
/// running (ignoring SIGTERM) after the service exits, so a service has a
/// child and a clean stop takes the whole grace period. With `stuck`, a third
/// service never becomes ready, so the drill stays in start-up.
fn wrapped_scenario(east: &str, west: &str, agent: &str, stuck: bool) -> Value {
    let faultline = env!("CARGO_BIN_EXE_faultline");
    let command = |region: &str, peer: &str| {
        json!({
            "command": ["/bin/sh", "-c", "trap '' TERM; \"$0\" \"$@\" & wait; sleep 60",
                        faultline, "demo-service", "--region", region, "--listen", "{listen}",
                        "--peer", format!("{peer}={{link:{region}->{peer}:demo}}")],
            "ready": {"http": "/health"}
        })
    };
    let mut services = json!({"demo": {east: command(east, west), west: command(west, east)}});
    if stuck {
        services["stuck"] = json!({east: {
            "command": ["/bin/sh", "-c", "sleep 60 & wait", "{listen}"],
            "ready": {"tcp": true},
            "ready_timeout": "60s"
        }});
    }
    json!({
        "name": "sigkill-me",
        "regions": [east, west],
        "agents": {east: agent, west: agent},
        "services": services,
        "links": [{"between": [east, west], "service": "demo", "latency": "5ms"}],
        "workload": [{"name": "write", "service": "demo", "rate": 20,
                      "request": {"method": "POST", "path": "/write", "body": {"key": "{region}-{seq}", "value": "{id}"}}}],
        "schedule": [{"at": "200ms", "for": "1s", "fault": {"partition": [[east], [west]]}}],
        "duration": "2s"
    })
}

/// A `faultline drill` of `scenario` with its run files in `state`.
fn spawn_drill(dir: &Path, state: &Path, scenario: &Value) -> tokio::process::Child {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("scenario.json");
    std::fs::write(&file, scenario.to_string()).unwrap();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("drill")
        .arg(&file)
        .arg("--quiet")
        // Longer than the test: here `faultline heal`, not the lease, cleans the agent.
        .args(["--lease-ttl", "600s"])
        .arg("--report")
        .arg(dir.join("report"))
        .arg("--state-dir")
        .arg(state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Polls the (only) run file in `state` until `ready` holds; its record.
async fn wait_for_run(state: &Path, what: &str, ready: impl Fn(&RunRecord) -> bool) -> RunRecord {
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((_, Ok(record))) = runfile::list(state).into_iter().next() {
            if ready(&record) {
                return record;
            }
        }
        assert!(Instant::now() < give_up, "the drill never got to {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits (bounded) until no process of the run's groups is alive and none of
/// its services' ports accepts a connection; panics naming what is left.
async fn assert_nothing_left(record: &RunRecord, token: &str, when: &str) {
    let give_up = Instant::now() + DEADLINE;
    loop {
        let mut left = Vec::new();
        for process in &record.processes {
            for pid in runfile::members_of_group(process.pgid) {
                left.push(format!("pid {pid} of group {}", process.pgid));
            }
            if let Some(listen) = &process.listen {
                if TcpStream::connect(listen).await.is_ok() {
                    left.push(format!("{} listening on {listen}", process.service));
                }
            }
        }
        for pid in processes_with(token) {
            left.push(format!("pid {pid} mentions {token}"));
        }
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < give_up,
            "SIGKILL {when}: still there after {DEADLINE:?}: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `faultline heal` on `state`: its exit code and output.
async fn heal(state: &Path, dry_run: bool) -> (Option<i32>, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"));
    command.arg("heal").arg("--state-dir").arg(state);
    if dry_run {
        command.arg("--dry-run");
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("faultline heal did not finish")
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

async fn sigkill_at(point: &str, stuck: bool, ready: impl Fn(&RunRecord) -> bool) {
    let agent = Agent::start().await;
    let (east, west, token) = unique_regions();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sigkill-{token}"));
    let state = dir.join("state");
    let mut child = spawn_drill(
        &dir,
        &state,
        &wrapped_scenario(&east, &west, &agent.url, stuck),
    );
    let record = wait_for_run(&state, point, ready).await;
    assert!(!record.processes.is_empty(), "{point}: {record:?}");
    let pid = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    child.wait().await.unwrap();
    // The record as the drill left it (it may have changed since it was read).
    let (path, record) = runfile::stale(&state)
        .into_iter()
        .next()
        .expect("a killed drill leaves a stale run file");
    assert_nothing_left(&record, &token, point).await;

    // What it placed on the agent stays until `faultline heal` (or a lease) removes it.
    let (code, dry) = heal(&state, true).await;
    assert_eq!(code, Some(0), "{dry}");
    assert!(path.exists(), "--dry-run removed the run file: {dry}");
    assert_eq!(
        agent.registry.list().await.len(),
        record.remote_proxies().count(),
        "--dry-run changed the agent: {dry}"
    );
    let (code, out) = heal(&state, false).await;
    assert_eq!(code, Some(0), "{point}: {out}");
    assert!(out.contains("stale run"), "{out}");
    assert!(out.contains("removed lease lease-1"), "{out}");
    assert!(!path.exists(), "{point}: the run file stays: {out}");
    assert!(
        agent.registry.list().await.is_empty(),
        "{point}: proxies (and their faults) remain on the agent after heal: {out}"
    );
    let (code, again) = heal(&state, false).await;
    assert_eq!(code, Some(0));
    assert!(again.contains("nothing to heal"), "{again}");
}

#[tokio::test]
async fn sigkill_during_start_up_leaves_no_process_and_no_port() {
    sigkill_at("start-up", true, |r| {
        r.phase == Phase::Starting && r.processes.len() == 3
    })
    .await;
}

#[tokio::test]
async fn sigkill_mid_fault_leaves_no_process_and_heal_clears_the_agent() {
    sigkill_at("mid-fault", false, |r| {
        r.phase == Phase::Running && r.faults.iter().any(|f| f.fault.starts_with("s0"))
    })
    .await;
}

#[tokio::test]
async fn sigkill_mid_heal_leaves_no_process_and_no_port() {
    sigkill_at("mid-heal", false, |r| r.phase == Phase::Healing).await;
}

#[tokio::test]
async fn heal_clears_a_planted_stale_run_and_a_new_drill_points_at_it() {
    let agent = Agent::start().await;
    let (_, _, token) = unique_regions();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("planted-{token}"));
    let state = dir.join("state");
    std::fs::create_dir_all(runfile::runs_dir(&state)).unwrap();
    // A dead owner: a process that has exited and been reaped.
    let mut dead = std::process::Command::new("/bin/true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    // A left-over service: a shell in a group of its own, with a child.
    let mut left = std::process::Command::new("/bin/sh")
        .args(["-c", "sleep 120 & wait", &token])
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = left.id() as i32;
    // And a proxy with a fault on an agent.
    let client = faultline_harness::wire::client::ApiClient::new(&agent.url, None).unwrap();
    client
        .create_proxy(&faultline_harness::wire::shapes::ProxyConfig {
            name: Some("east->west:demo".into()),
            upstream: Some("127.0.0.1:9".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .add_toxic(
            "east->west:demo",
            &faultline_harness::wire::shapes::ToxicConfig {
                name: Some("s0-partition".into()),
                kind: Some("blackhole".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let record = json!({
        "version": 1,
        "owner": {"pid": dead_pid, "start_time": 1},
        "scenario": "planted",
        "report_dir": null,
        "started_at": "2026-01-01T00:00:00Z",
        "phase": "running",
        "processes": [{"service": "demo", "region": "east",
                       "process": runfile::ProcessId::of(left.id()).unwrap(),
                       "pgid": pgid, "supervisor": null, "listen": null}],
        "proxies": [{"plane": agent.url, "name": "east->west:demo"}],
        "faults": [{"plane": agent.url, "proxy": "east->west:demo", "fault": "s0-partition"}]
    });
    let path = runfile::runs_dir(&state).join("planted.json");
    std::fs::write(&path, record.to_string()).unwrap();

    // A new drill says so and points at `faultline heal`.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["drill", "/nonexistent/scenario.json", "--state-dir"])
        .arg(&state)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("died without cleaning up") && stderr.contains("faultline heal"),
        "{stderr}"
    );
    assert!(stderr.contains("planted.json"), "{stderr}");

    let (code, out) = heal(&state, false).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("killed demo in east"), "{out}");
    assert!(out.contains("removed fault s0-partition"), "{out}");
    assert!(out.contains("removed proxy east->west:demo"), "{out}");
    let status = tokio::time::timeout(DEADLINE, async {
        tokio::task::spawn_blocking(move || left.wait()).await
    })
    .await
    .expect("the left-over shell was not killed")
    .unwrap()
    .unwrap();
    assert!(!status.success());
    let give_up = Instant::now() + DEADLINE;
    while !runfile::members_of_group(pgid).is_empty() {
        assert!(Instant::now() < give_up, "the shell's child survived heal");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(agent.registry.list().await.is_empty());
    assert!(!path.exists(), "{out}");
}

/// A `faultline serve` process on a free port, and its URL.
async fn serve_process() -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("faultline serve never said where it listens")
        .unwrap()
        .unwrap();
    let url = line
        .rsplit(' ')
        .next()
        .expect("the URL ends the line")
        .to_owned();
    (child, url)
}

#[tokio::test]
async fn a_sigkilled_drills_faults_on_a_separate_agent_are_healed_once_its_lease_lapses() {
    let (_agent, url) = serve_process().await;
    let client = faultline_harness::wire::client::ApiClient::new(&url, None).unwrap();
    let (east, west, token) = unique_regions();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("lease-{token}"));
    let state = dir.join("state");
    let mut scenario = wrapped_scenario(&east, &west, &url, false);
    scenario["schedule"][0]["for"] = json!("60s");
    scenario["duration"] = json!("70s");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("scenario.json");
    std::fs::write(&file, scenario.to_string()).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("drill")
        .arg(&file)
        .args(["--quiet", "--lease-ttl", "1s", "--report"])
        .arg(dir.join("report"))
        .arg("--state-dir")
        .arg(&state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let record = wait_for_run(&state, "mid-fault", |r| {
        r.phase == Phase::Running && r.faults.iter().any(|f| f.fault.starts_with("s0"))
    })
    .await;
    assert_eq!(record.leases.len(), 1, "{record:?}");
    let faults: usize = client
        .proxies()
        .await
        .unwrap()
        .values()
        .map(|p| p.toxics.len())
        .sum();
    assert!(faults > 0, "the partition is on the agent");
    let pid = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    child.wait().await.unwrap();

    // No renewal comes any more: once the TTL has passed, the agent heals.
    let give_up = Instant::now() + DEADLINE;
    loop {
        let proxies = client.proxies().await.unwrap();
        if proxies.is_empty() {
            break;
        }
        assert!(
            Instant::now() < give_up,
            "the agent still has the dead drill's proxies after {DEADLINE:?}: {proxies:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let leases = client.leases().await.unwrap();
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert_eq!(
        leases[0].state,
        faultline_harness::api::leases::LeaseState::Lapsed,
        "{leases:?}"
    );
    assert!(leases[0].holder.contains("sigkill-me"), "{leases:?}");
    assert!(
        leases[0].healed.iter().any(|h| h.starts_with("toxic s0")),
        "{leases:?}"
    );
    assert_nothing_left(&record, &token, "with a lease").await;
}

#[tokio::test]
async fn a_drill_that_keeps_running_keeps_its_faults_for_the_whole_schedule() {
    let agent = Agent::start().await;
    let (east, west, _) = unique_regions();
    let mut config = super::cancel::spawning_scenario(&east, &west, &agent.url);
    // A partition lasting ten times the lease's TTL.
    config["schedule"] =
        json!([{"at": "200ms", "for": "3s", "fault": {"partition": [[east], [west]]}}]);
    config["duration"] = json!("4s");
    let mut drill = Drill::new(scenario(config));
    drill.options.lease_ttl = Some(Duration::from_millis(300));
    let report = runner::run(drill, CancellationToken::new())
        .await
        .unwrap_or_else(|err| {
            panic!("the drill failed (a lapsed lease would fail its heal): {err}")
        });
    assert!(report.unhealed.is_empty(), "{:?}", report.unhealed);
    let ended: Vec<_> = report
        .history
        .faults()
        .filter(|f| f.action == faultline_harness::history::FaultAction::End)
        .collect();
    assert!(!ended.is_empty(), "the partition ended on schedule");
    let leases = agent.leases.list();
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert_eq!(
        leases[0].state,
        faultline_harness::api::leases::LeaseState::Released,
        "the lease never lapsed: {leases:?}"
    );
    assert!(leases[0].renewals >= 5, "renewed all along: {leases:?}");
    assert!(
        leases[0].healed.is_empty(),
        "the drill healed its own faults: {leases:?}"
    );
    assert!(agent.registry.list().await.is_empty());
}
