//! Drills end to end: partitions as clients see them, one-way cuts, isolation
//! of one region among three, proxies on a remote agent, and the heal guarantee
//! under cancellation (in-process and by SIGINT to a `faultline drill` process).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use faultline_harness::check::Verdict;
use faultline_harness::history::{FaultAction, History, OpRecord, Outcome};
use faultline_harness::runner::{self, Drill, DrillError, DrillReport};
use faultline_harness::scenario::Scenario;
use faultline_harness::workload::custom::{CustomWorkload, WorkloadContext};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod cancel;
mod sigkill;
mod verdicts;

/// Lines an echo server received, with when.
type Received = Arc<Mutex<Vec<(String, Instant)>>>;

/// A line echo server that also notes every line it receives.
async fn echo_server() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let received: Received = Arc::default();
    let log = received.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let (r, mut w) = socket.into_split();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    log.lock().unwrap().push((line.clone(), Instant::now()));
                    if w.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, received)
}

/// A client in `from` calling the echo service of `to` through their link every
/// 50 ms: a fresh connection, one line, its echo within 400 ms. A timeout is
/// `unknown`, a reset or refusal `fail`.
fn pinger(from: &'static str, to: &'static str, start: Arc<OnceLock<Instant>>) -> CustomWorkload {
    CustomWorkload::new(format!("ping {from}->{to}"), move |ctx: WorkloadContext| {
        let start = start.clone();
        async move {
            let _ = start.set(ctx.recorder.start());
            let link = ctx
                .link(from, to, "echo")
                .expect("the link exists")
                .to_owned();
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            let mut seq = 0u64;
            let tasks = tokio_util::task::TaskTracker::new();
            loop {
                tokio::select! {
                    () = ctx.stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                seq += 1;
                let (recorder, link) = (ctx.recorder.clone(), link.clone());
                tasks.spawn(async move {
                    let id = recorder.next_id();
                    let start_ns = recorder.now_ns();
                    let line = format!("{from}-{seq}");
                    let attempt = async {
                        let mut stream = TcpStream::connect(&link).await?;
                        stream.write_all(format!("{line}\n").as_bytes()).await?;
                        let mut reader = BufReader::new(stream);
                        let mut echoed = String::new();
                        reader.read_line(&mut echoed).await?;
                        if echoed.trim() == line {
                            Ok(())
                        } else {
                            Err(std::io::Error::other(format!("echo {echoed:?}")))
                        }
                    };
                    let (outcome, detail) =
                        match tokio::time::timeout(Duration::from_millis(400), attempt).await {
                            Ok(Ok(())) => (Outcome::Ok, "echoed".to_owned()),
                            Ok(Err(err)) => (Outcome::Fail, err.to_string()),
                            Err(_) => (Outcome::Unknown, "timeout".to_owned()),
                        };
                    recorder.op(OpRecord {
                        id,
                        client: format!("ping-{from}").into(),
                        region: from.into(),
                        op: format!("ping {from}->{to}").into(),
                        key: Some(line.into()),
                        value: Value::Null,
                        start_ns,
                        end_ns: recorder.now_ns(),
                        outcome,
                        detail: Some(detail.into()),
                    });
                });
            }
            tasks.close();
            tasks.wait().await;
        }
    })
}

fn scenario(config: Value) -> Scenario {
    Scenario::parse(&config.to_string(), Some("test scenario")).unwrap_or_else(|e| panic!("{e}"))
}

/// Two or three regions of the echo service, every pair linked, with one schedule step.
fn echo_scenario(
    regions: &[&str],
    addresses: &BTreeMap<&str, String>,
    step: Value,
    agents: Value,
) -> Scenario {
    let services: serde_json::Map<String, Value> = regions
        .iter()
        .map(|r| (r.to_string(), json!({"address": addresses[r]})))
        .collect();
    scenario(json!({
        "name": "echo",
        "seed": 3,
        "regions": regions,
        "agents": agents,
        "services": {"echo": services},
        "links": [{"mesh": true, "service": "echo"}],
        "schedule": [step],
        "duration": "3500ms",
    }))
}

async fn run(drill: Drill) -> DrillReport {
    runner::run(drill, CancellationToken::new())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The start and end of the only fault window, in ns.
fn window(history: &History) -> (u64, u64) {
    let start = history
        .faults()
        .find(|f| f.action == FaultAction::Start)
        .expect("a start")
        .actual_ns;
    let end = history
        .faults()
        .find(|f| f.action == FaultAction::End)
        .expect("an end")
        .actual_ns;
    (start, end)
}

fn ops<'a>(history: &'a History, op: &'a str, from_ns: u64, to_ns: u64) -> Vec<&'a OpRecord> {
    history
        .ops()
        .filter(|o| o.op == op && o.start_ns >= from_ns && o.start_ns < to_ns)
        .collect()
}

const MS: u64 = 1_000_000;

fn assert_all(ops: &[&OpRecord], outcome: Outcome, what: &str) {
    assert!(!ops.is_empty(), "no operations {what}");
    let wrong: Vec<_> = ops.iter().filter(|o| o.outcome != outcome).collect();
    assert!(
        wrong.is_empty(),
        "{what}: expected {outcome:?}, got {wrong:#?}"
    );
}

async fn two_region_partition(mode: &str, agents: Value) -> History {
    let (a, _) = echo_server().await;
    let (b, _) = echo_server().await;
    let addresses = BTreeMap::from([("a", a), ("b", b)]);
    let step = json!({"at": "1s", "for": "1500ms", "fault": {"partition": {"groups": [["a"], ["b"]], "mode": mode}}});
    let drill = Drill::new(echo_scenario(&["a", "b"], &addresses, step, agents)).workload(pinger(
        "a",
        "b",
        Arc::default(),
    ));
    run(drill).await.history
}

#[tokio::test]
async fn a_blackhole_partition_hangs_requests_and_they_recover_after_the_heal() {
    let history = two_region_partition("blackhole", json!({})).await;
    let (start, end) = window(&history);
    assert_all(
        &ops(&history, "ping a->b", 0, start - 100 * MS),
        Outcome::Ok,
        "before the partition",
    );
    assert_all(
        &ops(&history, "ping a->b", start + 50 * MS, end - 400 * MS),
        Outcome::Unknown,
        "during a blackhole",
    );
    assert_all(
        &ops(&history, "ping a->b", end + 200 * MS, u64::MAX),
        Outcome::Ok,
        "after the heal",
    );
    for fault in history.faults() {
        assert!(
            fault.actual_ns >= fault.planned_ns,
            "applied before it was planned: {fault:?}"
        );
    }
}

#[tokio::test]
async fn a_reject_partition_fails_requests_fast() {
    let history = two_region_partition("reject", json!({})).await;
    let (start, end) = window(&history);
    assert_all(
        &ops(&history, "ping a->b", start + 50 * MS, end - 50 * MS),
        Outcome::Fail,
        "during a reject partition",
    );
    assert_all(
        &ops(&history, "ping a->b", end + 200 * MS, u64::MAX),
        Outcome::Ok,
        "after the heal",
    );
}

#[tokio::test]
async fn proxies_on_a_remote_agent_behave_as_in_process_ones() {
    let agent = Agent::start().await;
    let history = two_region_partition("blackhole", json!({"b": agent.url})).await;
    let (start, end) = window(&history);
    assert_all(
        &ops(&history, "ping a->b", 0, start - 100 * MS),
        Outcome::Ok,
        "before the partition",
    );
    assert_all(
        &ops(&history, "ping a->b", start + 50 * MS, end - 400 * MS),
        Outcome::Unknown,
        "during a blackhole",
    );
    assert_all(
        &ops(&history, "ping a->b", end + 200 * MS, u64::MAX),
        Outcome::Ok,
        "after the heal",
    );
    assert!(
        agent.registry.list().await.is_empty(),
        "the drill left proxies on the agent"
    );
}

#[tokio::test]
async fn a_one_way_partition_stops_one_direction_only() {
    let (a, at_a) = echo_server().await;
    let (b, at_b) = echo_server().await;
    let addresses = BTreeMap::from([("a", a), ("b", b)]);
    let step = json!({"at": "1s", "for": "1500ms", "fault": {"partition": {"groups": [["a"], ["b"]], "one_way": true}}});
    let start = Arc::new(OnceLock::new());
    let drill = Drill::new(echo_scenario(&["a", "b"], &addresses, step, json!({})))
        .workload(pinger("a", "b", start.clone()))
        .workload(pinger("b", "a", start.clone()));
    let history = run(drill).await.history;
    let (cut, heal) = window(&history);
    let zero = *start.get().unwrap();
    let inside = |received: &Received, prefix: &str| {
        received
            .lock()
            .unwrap()
            .iter()
            .filter(|(line, at)| {
                let ns = at.duration_since(zero).as_nanos() as u64;
                line.starts_with(prefix) && ns > cut + 300 * MS && ns < heal
            })
            .count()
    };
    // b's bytes still flow b -> a, so a's server keeps receiving b's requests
    // (their answers, a -> b, are what is cut) ...
    assert!(inside(&at_a, "b-") > 5, "b -> a was cut too");
    // ... while nothing a sends reaches b.
    assert_eq!(
        inside(&at_b, "a-"),
        0,
        "a -> b bytes crossed a one-way partition"
    );
    assert_all(
        &ops(&history, "ping b->a", cut + 50 * MS, heal - 400 * MS),
        Outcome::Unknown,
        "answers to b are cut",
    );
}

#[tokio::test]
async fn isolating_one_of_three_regions_leaves_the_other_two_connected() {
    let mut addresses = BTreeMap::new();
    for region in ["a", "b", "c"] {
        addresses.insert(region, echo_server().await.0);
    }
    let step = json!({"at": "1s", "for": "1500ms", "fault": {"partition": {"isolate": "a"}}});
    let drill = Drill::new(echo_scenario(&["a", "b", "c"], &addresses, step, json!({})))
        .workload(pinger("b", "c", Arc::default()))
        .workload(pinger("b", "a", Arc::default()))
        .workload(pinger("c", "a", Arc::default()));
    let history = run(drill).await.history;
    let (start, end) = window(&history);
    assert_all(
        &ops(&history, "ping b->c", start + 50 * MS, end),
        Outcome::Ok,
        "b to c during a's isolation",
    );
    assert_all(
        &ops(&history, "ping b->a", start + 50 * MS, end - 400 * MS),
        Outcome::Unknown,
        "b to the isolated a",
    );
    assert_all(
        &ops(&history, "ping c->a", start + 50 * MS, end - 400 * MS),
        Outcome::Unknown,
        "c to the isolated a",
    );
}

#[tokio::test]
async fn a_custom_invariant_judges_the_history() {
    let history_ops = |h: &History| h.ops().count();
    let (a, _) = echo_server().await;
    let (b, _) = echo_server().await;
    let addresses = BTreeMap::from([("a", a), ("b", b)]);
    let step = json!({"at": "1s", "for": "1500ms", "fault": {"partition": [["a"], ["b"]]}});
    let drill = Drill::new(echo_scenario(&["a", "b"], &addresses, step, json!({})))
        .workload(pinger("a", "b", Arc::default()))
        .invariant(faultline_harness::check::Invariant::custom(
            "no pings hang",
            move |h| {
                use faultline_harness::check::CheckResult;
                let hung = h.ops().filter(|o| o.outcome == Outcome::Unknown).count();
                if hung == 0 {
                    CheckResult::pass("no pings hang", format!("{} ops", history_ops(h)))
                } else {
                    CheckResult::fail("no pings hang", format!("{hung} pings hung"))
                }
            },
        ));
    let report = run(drill).await;
    report.assert_verdict("no pings hang", Verdict::Fail);
}

/// A `faultline serve` agent in this process, on its own registry.
struct Agent {
    url: String,
    registry: Arc<faultline_proxies::Registry>,
    leases: Arc<faultline_harness::api::leases::Leases>,
    _stop: tokio_util::sync::DropGuard,
}

impl Agent {
    async fn start() -> Self {
        Self::start_with(None).await
    }

    /// An agent whose mutating requests need `token` (`faultline serve --token`).
    async fn start_with(token: Option<&str>) -> Self {
        let stop = CancellationToken::new();
        let registry = Arc::new(faultline_proxies::Registry::new(
            9,
            Default::default(),
            stop.clone(),
        ));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut state = faultline_harness::api::ApiState::new(registry.clone());
        if let Some(token) = token {
            state = state.with_token(token.to_owned());
        }
        let leases = state.leases().clone();
        tokio::spawn(faultline_harness::api::serve(listener, state, stop.clone()));
        Self {
            url,
            registry,
            leases,
            _stop: stop.drop_guard(),
        }
    }
}

/// Two agents with their own tokens: the drill reaches each with the token its
/// `agents` entry's `token_env` names, every link lands on the agent of the
/// region it leads into, and a token given to the wrong agent is refused.
#[tokio::test]
async fn each_agent_gets_the_token_its_entry_names() {
    let agent_a = Agent::start_with(Some("token-of-a")).await;
    let agent_b = Agent::start_with(Some("token-of-b")).await;
    let (a, _) = echo_server().await;
    let (b, _) = echo_server().await;
    let addresses = BTreeMap::from([("a", a), ("b", b)]);
    let step = json!({"at": "200ms", "for": "300ms", "fault": {"partition": [["a"], ["b"]]}});
    let agents = json!({
        "a": {"url": agent_a.url, "token_env": "TOKEN_A"},
        "b": {"url": agent_b.url, "token_env": "TOKEN_B"},
    });
    let scenario = echo_scenario(&["a", "b"], &addresses, step, agents);
    let environment = |swap: bool| {
        move |name: &str| match (name, swap) {
            ("TOKEN_A", false) | ("TOKEN_B", true) => Some("token-of-a".to_owned()),
            ("TOKEN_A", true) | ("TOKEN_B", false) => Some("token-of-b".to_owned()),
            _ => None,
        }
    };
    let tokens = |swap: bool| {
        faultline_harness::scenario::agent::tokens_from(&scenario.config.agents, environment(swap))
            .expect("both variables are set")
    };

    let mut drill = Drill::new(scenario.clone());
    drill.options.agent_tokens = tokens(false);
    let report = run(drill).await;
    let placed: BTreeMap<&str, &str> = report
        .history
        .faults()
        .flat_map(|f| f.placed_on.iter().map(|(l, p)| (l.as_str(), p.as_str())))
        .collect();
    assert_eq!(placed.get("a->b:echo"), Some(&agent_b.url.as_str()));
    assert_eq!(placed.get("b->a:echo"), Some(&agent_a.url.as_str()));
    assert!(agent_a.registry.list().await.is_empty());
    assert!(agent_b.registry.list().await.is_empty());

    let mut swapped = Drill::new(scenario.clone());
    swapped.options.agent_tokens = tokens(true);
    let err = runner::run(swapped, CancellationToken::new())
        .await
        .expect_err("each agent refuses the other's token");
    let chain = format!("{err} {:?}", std::error::Error::source(&err));
    assert!(
        chain.contains("401") || chain.to_lowercase().contains("unauthorized"),
        "{chain}"
    );
    assert!(
        agent_a.registry.list().await.is_empty(),
        "nothing left on a"
    );
    assert!(
        agent_b.registry.list().await.is_empty(),
        "nothing left on b"
    );
}

fn drill_error_is_cancelled(result: &Result<DrillReport, DrillError>) -> bool {
    matches!(result, Err(DrillError::Cancelled))
}
