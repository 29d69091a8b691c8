//! faultline's own routes, under `/faultline/`: links and regions (proxies
//! named `FROM->TO:SERVICE`), and schedules played on the agent's links.
//!
//! Nothing here sleeps to wait: a test polls the API until the state it
//! waits for shows (bounded by a timeout), and schedules that must be seen
//! running last long enough to be cancelled instead of timed.

use std::time::Duration;

use hyper::StatusCode;
use serde_json::{json, Value};

use super::{closed_port, start_api, start_api_with, Api, Reply};

/// How long a test waits for a state before it fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// A link id as a path segment (`>` is not allowed in a URI).
fn segment(name: &str) -> String {
    name.replace('>', "%3E")
}

/// Creates proxies with these names, every one to a port nobody listens on.
async fn proxies(api: &Api, names: &[&str]) {
    let upstream = closed_port().await;
    for name in names {
        api.proxy(name, upstream).await;
    }
}

/// The links a, b and c of one service: a and b both ways, and a to c.
const ABC: [&str; 4] = ["a->b:kv", "b->a:kv", "a->c:kv", "c->a:kv"];

async fn start_schedule(api: &Api, body: Value) -> Value {
    let reply = api
        .call("POST", "/faultline/schedules", Some(&body.to_string()))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.json()
}

async fn schedule(api: &Api, id: &str) -> Value {
    let reply = api
        .call("GET", &format!("/faultline/schedules/{id}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()
}

/// Link id → the names of its toxics, from `GET /faultline/links`.
async fn faults(api: &Api) -> Vec<(String, Vec<String>)> {
    let reply = api.call("GET", "/faultline/links", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
        .json()
        .as_array()
        .expect("an array")
        .iter()
        .map(|link| {
            let names = link["faults"]
                .as_array()
                .expect("faults")
                .iter()
                .map(|f| f["name"].as_str().expect("a toxic name").to_owned())
                .collect();
            (link["link"].as_str().expect("link").to_owned(), names)
        })
        .collect()
}

fn faults_of<'a>(all: &'a [(String, Vec<String>)], link: &str) -> &'a [String] {
    &all.iter()
        .find(|(id, _)| id == link)
        .unwrap_or_else(|| panic!("no link {link} in {all:?}"))
        .1
}

/// Polls until `done` holds for the faults, or panics after [`PATIENCE`].
async fn wait_for_faults(api: &Api, what: &str, done: impl Fn(&[(String, Vec<String>)]) -> bool) {
    let polled = tokio::time::timeout(PATIENCE, async {
        loop {
            let now = faults(api).await;
            if done(&now) {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(polled.is_ok(), "waited {PATIENCE:?} for {what}");
}

/// Polls the schedule until it is no longer running; its last state.
async fn wait_until_ended(api: &Api, id: &str) -> Value {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let now = schedule(api, id).await;
            if now["state"] != "running" {
                return now;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("schedule {id} still running after {PATIENCE:?}"))
}

/// A two-way partition of a from b, lasting `lasting`, from the start.
fn partition(lasting: &str) -> Value {
    json!({"schedule": [{"at": "0s", "for": lasting, "fault": {"partition": [["a"], ["b"]]}}]})
}

fn no_faults(all: &[(String, Vec<String>)]) -> bool {
    all.iter().all(|(_, names)| names.is_empty())
}

#[tokio::test]
async fn links_and_regions_list_proxies_named_as_links_and_not_plain_ones() {
    let api = start_api().await;
    proxies(
        &api,
        &[
            "us-east->eu-west:kv",
            "eu-west->us-east:kv",
            "ap->us-east:feed",
            "redis",
        ],
    )
    .await;
    let toxic = json!({"name": "slow", "type": "latency", "stream": "upstream", "attributes": {"latency": 40}});
    let reply = api.toxic(&segment("us-east->eu-west:kv"), toxic).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let reply = api.call("GET", "/faultline/links", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let links = reply.json();
    let ids: Vec<&str> = links
        .as_array()
        .expect("an array")
        .iter()
        .map(|l| l["link"].as_str().expect("link"))
        .collect();
    assert_eq!(
        ids,
        [
            "ap->us-east:feed",
            "eu-west->us-east:kv",
            "us-east->eu-west:kv"
        ]
    );
    let link = &links[2];
    assert_eq!(link["from"], "us-east");
    assert_eq!(link["to"], "eu-west");
    assert_eq!(link["service"], "kv");
    assert_eq!(link["proxy"], "us-east->eu-west:kv");
    assert_eq!(link["enabled"], true);
    let proxy = api
        .call(
            "GET",
            &format!("/proxies/{}", segment("us-east->eu-west:kv")),
            None,
        )
        .await
        .json();
    assert_eq!(link["listen"], proxy["listen"]);
    assert_eq!(link["upstream"], proxy["upstream"]);
    assert_eq!(
        link["faults"], proxy["toxics"],
        "the toxics, in Toxiproxy's shape"
    );
    assert_eq!(link["faults"][0]["name"], "slow");

    let reply = api.call("GET", "/faultline/regions", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!([
            {"name": "ap", "outbound": ["ap->us-east:feed"], "inbound": []},
            {"name": "eu-west", "outbound": ["eu-west->us-east:kv"], "inbound": ["us-east->eu-west:kv"]},
            {"name": "us-east", "outbound": ["us-east->eu-west:kv"], "inbound": ["ap->us-east:feed", "eu-west->us-east:kv"]},
        ])
    );
}

#[tokio::test]
async fn a_partition_is_applied_to_the_links_it_cuts_and_healed_when_the_schedule_ends() {
    let api = start_api().await;
    proxies(&api, &ABC).await;
    let created = start_schedule(&api, partition("2s")).await;
    let id = created["id"].as_str().expect("an id").to_owned();

    // The plan: both streams of both links between a and b, cut at 0 and healed at 2 s.
    let plan = created["plan"].as_array().expect("a plan");
    let rows: Vec<(f64, &str, &str, &str)> = plan
        .iter()
        .map(|row| {
            (
                row["at_ms"].as_f64().expect("at_ms"),
                row["action"].as_str().expect("action"),
                row["link"].as_str().expect("link"),
                row["op"].as_str().expect("op"),
            )
        })
        .collect();
    assert_eq!(rows.len(), 8, "{plan:?}");
    assert!(
        rows[..4]
            .iter()
            .all(|r| r.0 == 0.0 && r.1 == "start" && r.3 == "add"),
        "{rows:?}"
    );
    assert!(
        rows[4..]
            .iter()
            .all(|r| r.0 == 2000.0 && r.1 == "end" && r.3 == "remove"),
        "{rows:?}"
    );
    assert!(
        rows.iter().all(|r| r.2 == "a->b:kv" || r.2 == "b->a:kv"),
        "{rows:?}"
    );
    assert!(
        plan.iter().all(|row| row["fault"]["type"] == "blackhole"),
        "{plan:?}"
    );

    // While it runs, the links between a and b are cut, the others not.
    let seen = tokio::time::timeout(PATIENCE, async {
        loop {
            let now = faults(&api).await;
            if !faults_of(&now, "a->b:kv").is_empty() {
                return Some(now);
            }
            if schedule(&api, &id).await["state"] != "running" {
                return None;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the schedule ends")
    .expect("the partition was seen while the schedule ran");
    assert_eq!(faults_of(&seen, "a->b:kv").len(), 2, "{seen:?}");
    assert_eq!(faults_of(&seen, "b->a:kv").len(), 2, "{seen:?}");
    assert!(faults_of(&seen, "a->c:kv").is_empty(), "{seen:?}");
    assert!(faults_of(&seen, "c->a:kv").is_empty(), "{seen:?}");

    // At its end it is healed and says when each change was due and done.
    let ended = wait_until_ended(&api, &id).await;
    assert_eq!(ended["state"], "finished", "{ended}");
    assert!(ended.get("error").is_none(), "{ended}");
    assert!(no_faults(&faults(&api).await));
    let changes = ended["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 2, "{ended}");
    for (change, (action, planned)) in changes.iter().zip([("start", 0.0), ("end", 2000.0)]) {
        assert_eq!(change["step"], 0);
        assert_eq!(change["action"], action);
        assert_eq!(change["links"], json!(["a->b:kv", "b->a:kv"]));
        assert_eq!(change["planned_ms"].as_f64(), Some(planned));
        let actual = change["actual_ms"].as_f64().expect("actual_ms");
        assert!(actual >= planned, "applied before it was due: {change}");
    }
    let listed = api.call("GET", "/faultline/schedules", None).await.json();
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["state"], "finished");
}

#[tokio::test]
async fn deleting_a_running_schedule_heals_it_and_marks_it_cancelled() {
    let api = start_api().await;
    proxies(&api, &ABC).await;
    let id = start_schedule(&api, partition("10m")).await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    wait_for_faults(&api, "the partition", |now| {
        faults_of(now, "a->b:kv").len() == 2 && faults_of(now, "b->a:kv").len() == 2
    })
    .await;
    assert!(faults_of(&faults(&api).await, "a->c:kv").is_empty());
    assert_eq!(schedule(&api, &id).await["state"], "running");

    let path = format!("/faultline/schedules/{id}");
    let reply = api.call("DELETE", &path, None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    // The 204 comes once every fault it applied is gone.
    assert!(no_faults(&faults(&api).await), "{:?}", faults(&api).await);
    let cancelled = schedule(&api, &id).await;
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
    assert_eq!(
        cancelled["changes"].as_array().map(Vec::len),
        Some(1),
        "{cancelled}"
    );

    // Cancelling again changes nothing.
    assert_eq!(
        api.call("DELETE", &path, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(schedule(&api, &id).await["state"], "cancelled");
}

#[tokio::test]
async fn two_schedules_on_one_link_keep_their_own_faults() {
    let api = start_api().await;
    proxies(&api, &ABC).await;
    let first = start_schedule(&api, partition("10m")).await;
    let second = start_schedule(&api, partition("10m")).await;
    assert_ne!(first["id"], second["id"]);
    wait_for_faults(&api, "both partitions", |now| {
        faults_of(now, "a->b:kv").len() == 4
    })
    .await;
    let path = format!("/faultline/schedules/{}", first["id"].as_str().expect("id"));
    assert_eq!(
        api.call("DELETE", &path, None).await.status,
        StatusCode::NO_CONTENT
    );
    let left = faults(&api).await;
    let prefix = format!("{}.", second["id"].as_str().expect("id"));
    assert_eq!(faults_of(&left, "a->b:kv").len(), 2, "{left:?}");
    assert!(
        faults_of(&left, "a->b:kv")
            .iter()
            .all(|name| name.starts_with(&prefix)),
        "{left:?}"
    );
}

#[tokio::test]
async fn stopping_the_api_cancels_and_heals_running_schedules() {
    let api = start_api().await;
    proxies(&api, &ABC).await;
    start_schedule(&api, partition("10m")).await;
    wait_for_faults(&api, "the partition", |now| {
        !faults_of(now, "a->b:kv").is_empty()
    })
    .await;
    let registry = api.registry.clone();
    api.stop().await;
    let left: Vec<_> = registry
        .list()
        .await
        .into_iter()
        .flat_map(|p| p.faults)
        .collect();
    assert!(left.is_empty(), "{left:?}");
    registry.shutdown().await;
}

/// Posts `body` and expects a 400 whose error contains every one of `named`.
async fn rejected(api: &Api, body: &str, named: &[&str]) -> Reply {
    let reply = api.call("POST", "/faultline/schedules", Some(body)).await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "{body}: {}",
        reply.body
    );
    let error = reply.error();
    for name in named {
        assert!(
            error.contains(name),
            "{body}: {error:?} does not name {name:?}"
        );
    }
    reply
}

#[tokio::test]
async fn bad_schedule_bodies_are_400_naming_the_field_or_region() {
    let api = start_api().await;
    proxies(&api, &ABC).await;
    let step = r#"{"at": "0s", "for": "1s", "fault": {"partition": [["a"], ["b"]]}}"#;
    let with_step = |rest: &str| format!(r#"{{"schedule": [{step}]{rest}}}"#);
    let cases: Vec<(String, &[&str])> = vec![
        (with_step(r#", "sead": 1"#), &["sead"]),
        (
            r#"{"schedule": [{"at": "0s", "forr": "1s", "fault": {"partition": [["a"], ["b"]]}}]}"#.into(),
            &["schedule[0]", "forr"],
        ),
        (with_step(r#", "duration": "20""#), &["duration", "unit"]),
        (with_step(r#", "duration": "2 parsecs""#), &["duration"]),
        (
            r#"{"schedule": [{"at": "soon", "fault": {"partition": [["a"], ["b"]]}}]}"#.into(),
            &["schedule[0].at"],
        ),
        (
            r#"{"schedule": [{"at": "0s", "for": "1s", "fault": {"partition": [["a"], ["mars"]]}}]}"#.into(),
            &["schedule[0].fault.partition[1][0]", "\"mars\""],
        ),
        (
            r#"{"schedule": [{"at": "0s", "for": "1s", "fault": {"degrade": {"region": "venus", "latency": "5ms"}}}]}"#.into(),
            &["schedule[0].fault.degrade.region", "\"venus\""],
        ),
        (
            r#"{"schedule": [{"at": "0s", "for": "1s", "fault": {"partition": [["b"], ["c"]]}}]}"#.into(),
            &["schedule[0].fault.partition", "cuts no declared link"],
        ),
        (
            r#"{"schedule": [{"at": "0s", "fault": {"partition": [["a"], ["b"]]}}]}"#.into(),
            &["schedule[0].for", "duration"],
        ),
        (with_step(r#", "duration": "1s", "seed": -1"#), &["seed"]),
        (with_step(r#", "duration": "1s""#).replace(r#""at": "0s""#, r#""at": "1s""#), &["schedule[0].at"]),
        (r#"{"schedule": []}"#.into(), &["schedule"]),
        ("[]".into(), &["object"]),
    ];
    for (body, named) in &cases {
        rejected(&api, body, named).await;
    }
    // None of them started anything.
    assert_eq!(
        api.call("GET", "/faultline/schedules", None).await.json(),
        json!([])
    );
    assert!(no_faults(&faults(&api).await));
}

#[tokio::test]
async fn an_agent_without_the_region_refuses_the_schedule_naming_it() {
    let api = start_api().await;
    proxies(&api, &["a->b:kv", "redis"]).await;
    rejected(
        &api,
        r#"{"schedule": [{"at": "0s", "for": "1s", "fault": {"partition": {"isolate": "c"}}}]}"#,
        &["schedule[0].fault.partition.isolate", "\"c\""],
    )
    .await;
}

#[tokio::test]
async fn unknown_schedules_are_404_and_wrong_methods_405_with_allow() {
    let api = start_api().await;
    for method in ["GET", "DELETE"] {
        let reply = api
            .call(method, "/faultline/schedules/sched-404", None)
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method}");
        assert!(reply.error().contains("sched-404"), "{}", reply.body);
    }
    for (method, path, allow) in [
        ("POST", "/faultline/links", "GET"),
        ("DELETE", "/faultline/regions", "GET"),
        ("DELETE", "/faultline/schedules", "GET, POST"),
        ("POST", "/faultline/schedules/sched-1", "GET, DELETE"),
        ("PATCH", "/faultline/schedules/sched-1", "GET, DELETE"),
    ] {
        let reply = api.call(method, path, Some("{}")).await;
        assert_eq!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(reply.allow.as_deref(), Some(allow), "{method} {path}");
        reply.error();
    }
    for path in [
        "/faultline",
        "/faultline/proxies",
        "/faultline/links/a",
        "/faultline/schedules/a/b",
    ] {
        assert_eq!(
            api.call("GET", path, None).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_token_is_needed_to_start_or_cancel_a_schedule_but_not_to_read() {
    let api = start_api_with(|state| state.with_token("s3cret")).await;
    let right = [("authorization", "Bearer s3cret")];
    let upstream = closed_port().await;
    for name in ABC {
        let body = json!({"name": name, "upstream": upstream.to_string()}).to_string();
        let reply = api.call_with("POST", "/proxies", Some(&body), &right).await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let body = partition("10m").to_string();
    let reply = api.call("POST", "/faultline/schedules", Some(&body)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.call("GET", "/faultline/schedules", None).await.json(),
        json!([])
    );
    for path in [
        "/faultline/links",
        "/faultline/regions",
        "/faultline/schedules",
    ] {
        assert_eq!(
            api.call("GET", path, None).await.status,
            StatusCode::OK,
            "{path}"
        );
    }

    let reply = api
        .call_with("POST", "/faultline/schedules", Some(&body), &right)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let path = format!(
        "/faultline/schedules/{}",
        reply.json()["id"].as_str().expect("id")
    );
    let reply = api
        .call_with("DELETE", &path, None, &[("authorization", "Bearer guess")])
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.call("GET", &path, None).await.json()["state"],
        "running"
    );
    let reply = api.call_with("DELETE", &path, None, &right).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.call("GET", &path, None).await.json()["state"],
        "cancelled"
    );
}

#[tokio::test]
async fn browsers_may_not_read_links_or_schedules() {
    let api = start_api().await;
    let browser = [("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")];
    for path in [
        "/faultline/links",
        "/faultline/regions",
        "/faultline/schedules",
    ] {
        let reply = api.call_with("GET", path, None, &browser).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
    }
}
