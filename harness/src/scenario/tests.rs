//! Whole-scenario tests: parsing, validation, positions, overrides.

use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::schedule::{PartitionConfig, StepConfig};

/// DESIGN §6's example, with addresses instead of commands.
fn example() -> Value {
    json!({
        "name": "split-brain-oversell",
        "seed": 7,
        "regions": ["us-east", "eu-west"],
        "services": {
            "inventory": {
                "us-east": {"command": ["fixture", "inventory", "--region", "us-east", "--listen", "{listen}",
                                        "--peer", "eu-west={link:us-east->eu-west:inventory}"]},
                "eu-west": {"command": ["fixture", "inventory", "--region", "eu-west", "--listen", "{listen}",
                                        "--peer", "us-east={link:eu-west->us-east:inventory}"]}
            }
        },
        "links": [{"between": ["us-east", "eu-west"], "service": "inventory", "latency": "40ms"}],
        "workload": [
            {"name": "order", "regions": ["us-east", "eu-west"], "rate": 50, "concurrency": 8,
             "request": {"method": "POST", "path": "/order", "body": {"sku": "WIDGET-001", "qty": 1}},
             "ok_when": {"status": 200}, "key": "WIDGET-001", "value": 1}
        ],
        "schedule": [
            {"at": "5s", "fault": {"partition": [["us-east"], ["eu-west"]]}, "for": "20s"}
        ],
        "duration": "40s",
        "invariants": [{"no_oversell": {"op": "order", "key": "WIDGET-001", "stock": 600}}]
    })
}

fn parse(value: &Value) -> Result<Scenario, ScenarioError> {
    Scenario::parse(
        &serde_json::to_string_pretty(value).unwrap(),
        Some("s.json"),
    )
}

fn messages(value: &Value) -> Vec<String> {
    parse(value)
        .unwrap_err()
        .problems()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn the_design_example_validates() {
    let scenario = parse(&example()).unwrap();
    assert_eq!(scenario.seed, 7);
    assert_eq!(scenario.links.len(), 2);
    assert_eq!(
        scenario.links[0].id.to_string(),
        "us-east->eu-west:inventory"
    );
    assert_eq!(
        scenario.links[0].baseline.latency,
        Some((Duration::from_millis(40), Duration::ZERO))
    );
    assert_eq!(scenario.workloads[0].service, "inventory");
    assert_eq!(scenario.invariants.len(), 1);
    assert_eq!(scenario.max_duration, Duration::from_secs(140));
}

#[test]
fn a_semantic_error_names_the_file_line_column_and_field() {
    let text = r#"{
  "name": "x",
  "regions": ["us-east", "eu-west"],
  "services": {"kv": {"us-east": {"address": "127.0.0.1:7000"}, "eu-west": {"address": "127.0.0.1:7001"}}},
  "links": [{"between": ["us-east", "eu-west"], "service": "kv"}],
  "schedule": [
    {"at": "5s", "fault": {"partition": [["us-east"], ["eu-wets"]]}}
  ],
  "duration": "40s"
}"#;
    let err = Scenario::parse(text, Some("scenario.json")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "scenario.json:7:56: schedule[0].fault.partition[1][0]: unknown region \"eu-wets\" (regions: us-east, eu-west)"
    );
}

#[test]
fn a_shape_error_names_the_field_path_and_position() {
    let text = "{\n  \"name\": \"x\",\n  \"regions\": [\"a\"],\n  \"services\": {},\n  \"duration\": 40\n}";
    let err = Scenario::parse(text, Some("s.json")).unwrap_err();
    let problem = &err.problems()[0];
    assert_eq!(problem.path, "duration");
    assert_eq!(problem.stage, Stage::Shape);
    assert_eq!(
        problem.position,
        Some(Position {
            line: 5,
            column: 15
        })
    );
    assert!(
        err.to_string()
            .starts_with("s.json:5:15: duration: invalid duration 40"),
        "{err}"
    );
}

#[test]
fn a_syntax_error_names_its_position() {
    let err = Scenario::parse("{\n  \"name\": \"x\",,\n}", Some("s.json")).unwrap_err();
    assert_eq!(err.problems()[0].stage, Stage::Syntax);
    assert!(err.to_string().starts_with("s.json:2:15: "), "{err}");
    let err = Scenario::parse(&format!("{} {{}}", example()), None).unwrap_err();
    assert!(err.to_string().contains("trailing characters"), "{err}");
}

#[test]
fn an_unknown_field_is_refused_where_it_stands() {
    let mut value = example();
    value["schedule"][0]["fault"]["partition"] = json!({"isolate": "us-east", "oneway": true});
    let err = parse(&value).unwrap_err().to_string();
    assert!(
        err.contains("schedule[0].fault.partition.oneway: unknown field `oneway`"),
        "{err}"
    );
}

#[test]
fn every_semantic_problem_is_reported_in_document_order() {
    let mut value = example();
    value["regions"] = json!(["us-east", "eu-west", "us-east"]);
    value["seed"] = json!(1u64 << 60);
    value["time_scale"] = json!(0);
    value["links"][0]["between"] = json!(["us-east", "us-east"]);
    value["schedule"][0]["at"] = json!("45s");
    value["invariants"][0]["no_oversell"]["stock"] = json!(0);
    let fields: Vec<String> = messages(&value)
        .iter()
        .map(|m| m.split(": ").nth(1).unwrap().to_owned())
        .collect();
    // json! sorts keys, so the document's order is alphabetical here.
    assert_eq!(
        fields,
        [
            "invariants[0].no_oversell.stock",
            "links[0].between",
            "regions[2]",
            "schedule[0].at",
            "seed",
            "time_scale",
        ]
    );
}

#[test]
fn an_invariant_must_refer_to_known_names() {
    let mut value = example();
    value["invariants"] = json!([
        {"no_oversell": {"op": "orders", "key": "WIDGET-001", "stock": 600}},
        {"availability": {"region": "eu-wets", "min": 0.9}},
        {"convergence": {"within": "10s"}},
        {"replication_lag": {"max": "2s"}}
    ]);
    let problems: Vec<String> = messages(&value)
        .iter()
        .map(|m| m.split_once(": ").unwrap().1.to_owned())
        .collect();
    assert_eq!(
        problems,
        [
            "invariants[0].no_oversell.op: \"orders\" names no workload (workloads: order)",
            "invariants[1].availability.region: unknown region \"eu-wets\" (regions: us-east, eu-west)",
            "invariants[2].convergence: needs the final state of a service: add `final_reads`",
            "invariants[3].replication_lag: needs a replication probe to measure lag: add one to `probes`",
        ]
    );
}

#[test]
fn a_link_to_a_region_without_the_service_is_refused() {
    let mut value = example();
    value["regions"] = json!(["us-east", "eu-west", "ap-northeast"]);
    value["links"] = json!([{"between": ["us-east", "ap-northeast"], "service": "inventory"},
                            {"between": ["us-east", "eu-west"], "service": "inventory"}]);
    let problems = messages(&value);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("links[0].between[1]: \"inventory\" does not run in \"ap-northeast\""),
        "{problems:?}"
    );
}

#[test]
fn a_mesh_declares_every_link_to_a_region_running_the_service() {
    let scenario = ScenarioConfig::new("mesh")
        .regions(["a", "b", "c"])
        .service("limiter", "a", ServiceConfig::address("127.0.0.1:9000"))
        .link(LinkConfig::mesh("limiter"))
        .validate()
        .unwrap();
    let links: Vec<String> = scenario.links.iter().map(|l| l.id.to_string()).collect();
    assert_eq!(links, ["b->a:limiter", "c->a:limiter"]);
}

#[test]
fn a_link_declared_twice_is_refused() {
    let err = ScenarioConfig::new("twice")
        .regions(["a", "b"])
        .service("kv", "a", ServiceConfig::address("127.0.0.1:9000"))
        .service("kv", "b", ServiceConfig::address("127.0.0.1:9001"))
        .link(LinkConfig::between("a", "b", "kv"))
        .link(LinkConfig::directed("b", "a", "kv"))
        .validate()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "links[1]: declares b->a:kv again (first declared by links[0])"
    );
}

#[test]
fn baselines_are_scaled_and_agents_attach_to_links_into_their_region() {
    let scenario = ScenarioConfig::new("scaled")
        .regions(["us-east", "eu-west"])
        .service("kv", "us-east", ServiceConfig::address("127.0.0.1:9000"))
        .service("kv", "eu-west", ServiceConfig::address("10.0.0.2:9000"))
        .link(
            LinkConfig::between("us-east", "eu-west", "kv")
                .latency(Duration::from_millis(40))
                .rate_kb(100),
        )
        .baseline_scale(0.5)
        .agent("eu-west", "http://10.0.0.2:8474")
        .validate()
        .unwrap();
    let link = scenario
        .link(&"us-east->eu-west:kv".parse().unwrap())
        .unwrap();
    assert_eq!(
        link.baseline.latency,
        Some((Duration::from_millis(20), Duration::ZERO))
    );
    assert_eq!(link.baseline.rate_kb, Some(100));
    assert_eq!(link.agent.as_deref(), Some("http://10.0.0.2:8474"));
    assert_eq!(
        scenario
            .link(&"eu-west->us-east:kv".parse().unwrap())
            .unwrap()
            .agent,
        None
    );
}

#[test]
fn a_scenario_built_in_rust_reads_back_from_its_json() {
    let config = ScenarioConfig::new("round-trip")
        .seed(3)
        .regions(["a", "b"])
        .service(
            "kv",
            "a",
            ServiceConfig::command(["fixture", "kv", "--listen", "{listen}"]).ready_http("/health"),
        )
        .service("kv", "b", ServiceConfig::address("127.0.0.1:9001"))
        .link(
            LinkConfig::between("a", "b", "kv")
                .latency(Duration::from_millis(5))
                .loss(0.01),
        )
        .step(
            StepConfig::at(
                Duration::from_secs(1),
                PartitionConfig::isolate("a").reject(),
            )
            .lasting(Duration::from_secs(2)),
        )
        .duration(Duration::from_secs(10));
    let text = serde_json::to_string(&config).unwrap();
    let back = ScenarioConfig::parse(&text, None).unwrap();
    assert_eq!(back, config);
    assert_eq!(
        back.validate().unwrap().timeline(),
        config.validate().unwrap().timeline()
    );
}

#[test]
fn overrides_replace_the_seed_and_the_time_scale() {
    let scenario = parse(&example()).unwrap().with_seed(99);
    assert_eq!(scenario.seed, 99);
    assert_eq!(scenario.timeline().seed, 99);
    let fast = scenario.clone().with_time_scale(0.5).unwrap();
    assert_eq!(fast.scaled_duration(), Duration::from_secs(20));
    assert_eq!(fast.seed, 99);
    let err = scenario.with_time_scale(0.0).unwrap_err();
    assert_eq!(err.to_string(), "time_scale: 0 must be within 0.001..=1000");
}

#[test]
fn a_max_duration_shorter_than_the_drill_is_refused() {
    let mut value = example();
    value["max_duration"] = json!("30s");
    let problems = messages(&value);
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].ends_with(
            ": max_duration: 30s is shorter than the drill itself (duration × time_scale = 40s)"
        ),
        "{problems:?}"
    );
}

#[test]
fn an_out_of_range_baseline_scale_is_refused_without_scaling_by_it() {
    let mut value = example();
    value["baseline_scale"] = json!(-1.5);
    let problems = messages(&value);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].ends_with("baseline_scale: -1.5 must be within 0..=100"),
        "{problems:?}"
    );
}

#[test]
fn an_agent_entry_may_name_its_token_variable_and_its_mistakes_are_placed() {
    let mut value = example();
    value["agents"] = json!({
        "us-east": "http://10.0.0.1:8474",
        "eu-west": {"url": "http://10.0.0.2:8474", "token_env": "FAULTLINE_TOKEN_EU_WEST"}
    });
    let scenario = parse(&value).unwrap();
    let link = scenario
        .link(&"us-east->eu-west:inventory".parse().unwrap())
        .unwrap();
    assert_eq!(link.agent.as_deref(), Some("http://10.0.0.2:8474"));
    assert_eq!(
        scenario.config.agents["eu-west"].token_env(),
        Some("FAULTLINE_TOKEN_EU_WEST")
    );

    value["agents"]["eu-west"] = json!({"url": "ftp://x", "token_env": "NOT-A-NAME"});
    let err = parse(&value).unwrap_err().to_string();
    assert!(
        err.contains("agents.eu-west.url: \"ftp://x\" is not an http://"),
        "{err}"
    );
    assert!(
        err.contains(
            "agents.eu-west.token_env: \"NOT-A-NAME\" is not an environment variable name"
        ),
        "{err}"
    );

    value["agents"]["eu-west"] = json!({"url": "http://10.0.0.2:8474", "token": "s3cret"});
    let err = parse(&value).unwrap_err().to_string();
    assert!(err.contains("agents.eu-west"), "{err}");
    assert!(err.contains("unknown field `token`"), "{err}");
}

#[test]
fn a_link_port_is_kept_and_two_proxies_on_one_port_of_one_plane_are_refused() {
    let mut value = example();
    value["links"][0]["port"] = json!(9001);
    // Both directions in-process on one port: refused.
    let err = parse(&value).unwrap_err().to_string();
    assert!(
        err.contains("links[0].port: us-east->eu-west:inventory and eu-west->us-east:inventory would both listen on port 9001 (in-process)")
            || err.contains("links[0].port: eu-west->us-east:inventory and us-east->eu-west:inventory would both listen on port 9001 (in-process)"),
        "{err}"
    );
    // Each direction on its own agent: fine.
    value["agents"] = json!({"us-east": "http://10.0.0.1:8474", "eu-west": "http://10.0.0.2:8474"});
    let scenario = parse(&value).unwrap();
    assert!(scenario.links.iter().all(|l| l.port == Some(9001)));
}
