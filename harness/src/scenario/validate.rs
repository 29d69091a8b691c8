//! Semantic checks: a parsed [`ScenarioConfig`] → a [`Scenario`], or every
//! problem found, each with its field path.
//!
//! The checks run in the order of the fields they need: regions, services,
//! links (they need services), service commands (they need links), workloads,
//! probes, final reads, the schedule (it needs links), stop conditions and
//! invariants (they need workloads and probes).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::agent::{is_env_name, AgentConfig};
use super::config::ScenarioConfig;
use super::link::{Link, LinkConfig, LinkId};
use super::stop::list_or_none;
use super::{Region, Scenario};
use crate::base::duration;
use crate::base::effects::Effects;
use crate::base::{FieldPath, Problem, Problems};
use crate::check::{InvariantConfig, InvariantError};
use crate::schedule::{self, Network};

/// The largest seed accepted: 2^53 − 1, so every JSON tool reads it exactly.
pub const MAX_SEED: u64 = (1 << 53) - 1;

/// The range of `time_scale`.
pub const TIME_SCALE_RANGE: (f64, f64) = (0.001, 1000.0);

/// The range of `baseline_scale`.
pub const BASELINE_SCALE_RANGE: (f64, f64) = (0.0, 100.0);

/// The headroom `max_duration` gets by default beyond twice the scaled duration.
pub const MAX_DURATION_HEADROOM: Duration = Duration::from_secs(60);

/// Checks a region or service name: letters, digits, `-` and `_`, starting
/// with a letter or digit, at most 63 characters (they appear in link ids,
/// placeholders and fault names).
fn check_name(kind: &str, name: &str, path: &FieldPath, problems: &mut Problems) -> bool {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        problems.push(
            path,
            format!("{name:?} is not a valid {kind} name (letters, digits, '-' and '_', starting with a letter or digit)"),
        );
    }
    valid
}

fn in_range(value: f64, (low, high): (f64, f64)) -> bool {
    value.is_finite() && value >= low && value <= high
}

/// Validates `config` into a [`Scenario`].
pub(crate) fn validate(config: &ScenarioConfig) -> Result<Scenario, Vec<Problem>> {
    let root = FieldPath::root();
    let mut problems = Problems::new();
    let p = &mut problems;

    if config.name.trim().is_empty() {
        p.push(&root.key("name"), "must not be empty");
    }
    if config.seed > MAX_SEED {
        p.push(
            &root.key("seed"),
            format!(
                "{} is above the largest seed, 2^53 - 1 = {MAX_SEED}",
                config.seed
            ),
        );
    }
    if !in_range(config.time_scale, TIME_SCALE_RANGE) {
        p.push(
            &root.key("time_scale"),
            format!(
                "{} must be within {}..={}",
                config.time_scale, TIME_SCALE_RANGE.0, TIME_SCALE_RANGE.1
            ),
        );
    }
    if !in_range(config.baseline_scale, BASELINE_SCALE_RANGE) {
        p.push(
            &root.key("baseline_scale"),
            format!(
                "{} must be within {}..={}",
                config.baseline_scale, BASELINE_SCALE_RANGE.0, BASELINE_SCALE_RANGE.1
            ),
        );
    }
    if config.duration.is_zero() {
        p.push(&root.key("duration"), "must be greater than zero");
    }

    // Regions.
    let mut regions: Vec<String> = Vec::new();
    if config.regions.is_empty() {
        p.push(&root.key("regions"), "must name at least one region");
    }
    for (index, region) in config.regions.iter().enumerate() {
        let at = root.key("regions").index(index);
        if check_name("region", region, &at, p) {
            if regions.contains(region) {
                p.push(&at, format!("region {region:?} is listed twice"));
            } else {
                regions.push(region.clone());
            }
        }
    }
    let known_region = |region: &str| regions.iter().any(|r| r == region);
    let region_list = regions.join(", ");

    // Services (names and regions; endpoints after the links).
    if config.services.is_empty() {
        p.push(&root.key("services"), "must name at least one service");
    }
    let mut service_regions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (service, instances) in &config.services {
        let at = root.key("services").key(service);
        check_name("service", service, &at, p);
        if instances.is_empty() {
            p.push(&at, "must run in at least one region");
        }
        for region in instances.keys() {
            if !known_region(region) {
                p.push(
                    &at.key(region),
                    format!("unknown region {region:?} (regions: {region_list})"),
                );
            }
        }
        // In scenario order, for plans and defaults.
        let running = regions
            .iter()
            .filter(|r| instances.contains_key(*r))
            .cloned()
            .collect();
        service_regions.insert(service.clone(), running);
    }
    let service_names: Vec<String> = service_regions.keys().cloned().collect();

    // Links. An out-of-range scale was reported above; scaling by it could panic.
    let baseline_scale = if in_range(config.baseline_scale, BASELINE_SCALE_RANGE) {
        config.baseline_scale
    } else {
        1.0
    };
    let mut links: Vec<Link> = Vec::new();
    let mut first_declared: BTreeMap<LinkId, usize> = BTreeMap::new();
    let mut ports_taken: BTreeMap<(String, u16), LinkId> = BTreeMap::new();
    let before_links = p.len();
    for (index, entry) in config.links.iter().enumerate() {
        let at = root.key("links").index(index);
        let ids = link_ids(entry, &at, &regions, &service_regions, p);
        let baseline = Effects::check(entry.effect_fields(), &at, p).scale_latency(baseline_scale);
        for id in ids {
            if let Some(first) = first_declared.get(&id) {
                p.push(
                    &at,
                    format!("declares {id} again (first declared by links[{first}])"),
                );
                continue;
            }
            first_declared.insert(id.clone(), index);
            let agent = config.agents.get(&id.to).map(|a| a.url().to_owned());
            if let Some(port) = entry.port.filter(|port| *port != 0) {
                let place = agent.clone().unwrap_or_else(|| "in-process".to_owned());
                match ports_taken.get(&(place.clone(), port)) {
                    Some(other) => p.push(
                        &at.key("port"),
                        format!("{id} and {other} would both listen on port {port} ({place})"),
                    ),
                    None => {
                        ports_taken.insert((place, port), id.clone());
                    }
                }
            }
            links.push(Link {
                id,
                agent,
                port: entry.port.filter(|port| *port != 0),
                baseline,
            });
        }
    }
    let links_incomplete = p.len() != before_links;
    let mut network = Network::new(
        regions.clone(),
        links.iter().map(|l| l.id.clone()).collect(),
        service_names.clone(),
    );
    network.links_incomplete = links_incomplete;

    // Service endpoints (their placeholders name links).
    let mut services = BTreeMap::new();
    for (service, instances) in &config.services {
        let mut endpoints = BTreeMap::new();
        for (region, instance) in instances {
            let at = root.key("services").key(service).key(region);
            // With a broken `links` entry, a missing link may be its fault: say nothing.
            let exists = |id: &LinkId| links_incomplete || first_declared.contains_key(id);
            if let Some(endpoint) = instance.check(service, region, &at, &exists, p) {
                endpoints.insert(region.clone(), endpoint);
            }
        }
        services.insert(service.clone(), endpoints);
    }

    // Agents.
    let mut token_envs: BTreeMap<&str, (&str, Option<&str>)> = BTreeMap::new();
    for (region, agent) in &config.agents {
        let at = root.key("agents").key(region);
        let url = agent.url();
        let url_at = match agent {
            AgentConfig::Url(_) => at.clone(),
            AgentConfig::Entry(_) => at.key("url"),
        };
        if let Some(variable) = agent.token_env() {
            if !is_env_name(variable) {
                p.push(
                    &at.key("token_env"),
                    format!("{variable:?} is not an environment variable name (letters, digits and _, not starting with a digit)"),
                );
            }
        }
        match token_envs.get(url) {
            Some((other, env)) if *env != agent.token_env() => p.push(
                &at.key("token_env"),
                format!("agents.{other} names the same agent {url:?} with another token_env"),
            ),
            Some(_) => {}
            None => {
                token_envs.insert(url, (region.as_str(), agent.token_env()));
            }
        }
        if !known_region(region) {
            p.push(
                &at,
                format!("unknown region {region:?} (regions: {region_list})"),
            );
        }
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        let host = rest.map(|r| r.split('/').next().unwrap_or_default());
        if host.is_none_or(str::is_empty) {
            p.push(
                &url_at,
                format!("{url:?} is not an http:// or https:// URL of a `faultline serve` agent"),
            );
        }
    }

    // Client commands (of workloads, probes, final reads) name links too.
    let link_declared = |id: &LinkId| links_incomplete || first_declared.contains_key(id);

    // Workloads.
    let only_service = (service_names.len() == 1).then(|| service_names[0].as_str());
    let running = |service: &str| service_regions.get(service).cloned();
    let mut workloads = Vec::new();
    let mut workload_names: Vec<String> = Vec::new();
    for (index, entry) in config.workload.iter().enumerate() {
        let at = root.key("workload").index(index);
        if workload_names.contains(&entry.name) {
            p.push(
                &at.key("name"),
                format!("workload {:?} is named twice", entry.name),
            );
        }
        workload_names.push(entry.name.clone());
        if let Some(workload) = entry.check(&at, only_service, &running, &link_declared, p) {
            workloads.push(workload);
        }
    }

    // Probes.
    let mut probes = Vec::new();
    for (index, entry) in config.probes.iter().enumerate() {
        if let Some(probe) = entry.check(
            &root.key("probes").index(index),
            &running,
            &link_declared,
            p,
        ) {
            probes.push(probe);
        }
    }

    // Final reads.
    let mut final_reads = Vec::new();
    for (service, entry) in &config.final_reads {
        let at = root.key("final_reads").key(service);
        if let Some(read) = entry.check(
            service,
            &at,
            service_regions.contains_key(service),
            &link_declared,
            p,
        ) {
            final_reads.push(read);
        }
    }

    // Schedule.
    let mut schedule = Vec::new();
    if config.duration > duration::MAX {
        p.push(&root.key("duration"), "must be at most a week");
    }
    for (index, entry) in config.schedule.iter().enumerate() {
        let at = root.key("schedule").index(index);
        let Ok(number) = u32::try_from(index) else {
            p.push(&at, "too many steps");
            break;
        };
        if let Some(step) = entry.check(number, &at, &network, config.duration, p) {
            schedule.push(step);
        }
    }

    // Time limits.
    let scaled = schedule::scale(
        config.duration,
        config
            .time_scale
            .clamp(TIME_SCALE_RANGE.0, TIME_SCALE_RANGE.1),
    );
    let max_duration = config
        .max_duration
        .unwrap_or(scaled * 2 + MAX_DURATION_HEADROOM);
    if max_duration < scaled {
        p.push(
            &root.key("max_duration"),
            format!(
                "{} is shorter than the drill itself (duration × time_scale = {})",
                duration::human(max_duration),
                duration::human(scaled)
            ),
        );
    }

    // Stop conditions.
    let mut stop_when = Vec::new();
    for (index, entry) in config.stop_when.iter().enumerate() {
        if let Some(condition) = entry.check(
            &root.key("stop_when").index(index),
            &regions,
            &workload_names,
            p,
        ) {
            stop_when.push(condition);
        }
    }

    // Invariants.
    let facts = Facts {
        regions: &regions,
        services: &service_names,
        workloads: &workload_names,
        final_reads: &config.final_reads.keys().cloned().collect(),
        has_replication_probe: !config.probes.is_empty(),
    };
    let mut invariants = Vec::new();
    for (index, entry) in config.invariants.iter().enumerate() {
        let at = root
            .key("invariants")
            .index(index)
            .key(invariant_name(entry));
        match entry.validate() {
            Ok(invariant) => {
                if check_invariant_references(entry, &at, &facts, p) {
                    invariants.push(invariant);
                }
            }
            Err(InvariantError::Invalid { field, rule, .. }) => {
                p.push(
                    &field.split('.').fold(at, |path, key| path.key(key)),
                    format!("must be {rule}"),
                );
            }
        }
    }

    if !problems.is_empty() {
        return Err(problems.into_vec());
    }
    Ok(Scenario {
        name: config.name.clone(),
        description: config.description.clone(),
        seed: config.seed,
        regions: regions
            .iter()
            .map(|name| Region {
                name: name.clone(),
                agent: config.agents.get(name).map(|a| a.url().to_owned()),
            })
            .collect(),
        services,
        links,
        workloads,
        probes,
        final_reads,
        schedule,
        duration: config.duration,
        max_duration,
        time_scale: config.time_scale,
        baseline_scale: config.baseline_scale,
        stop_when,
        invariants,
        baseline: config.baseline,
        config: config.clone(),
    })
}

/// The links a `links` entry declares, in order.
fn link_ids(
    entry: &LinkConfig,
    at: &FieldPath,
    regions: &[String],
    service_regions: &BTreeMap<String, Vec<String>>,
    p: &mut Problems,
) -> Vec<LinkId> {
    let service = &entry.service;
    let Some(running) = service_regions.get(service) else {
        p.push(
            &at.key("service"),
            format!(
                "unknown service {service:?} (services: {})",
                list_or_none(&service_regions.keys().cloned().collect::<Vec<_>>())
            ),
        );
        return Vec::new();
    };
    let known = |region: &String, field: FieldPath, p: &mut Problems| {
        let ok = regions.contains(region);
        if !ok {
            p.push(
                &field,
                format!(
                    "unknown region {region:?} (regions: {})",
                    regions.join(", ")
                ),
            );
        }
        ok
    };
    let forms = [
        entry.between.is_some(),
        entry.from.is_some() || entry.to.is_some(),
        entry.mesh,
    ];
    if forms.iter().filter(|set| **set).count() != 1 {
        p.push(at, "needs exactly one of `between` (both directions), `from` + `to` (one direction) or `mesh: true`");
        return Vec::new();
    }
    let mut pairs = Vec::new();
    if let Some(between) = &entry.between {
        if between.len() != 2 {
            p.push(
                &at.key("between"),
                format!("must name two regions, not {}", between.len()),
            );
            return Vec::new();
        }
        let (a, b) = (&between[0], &between[1]);
        let ok = known(a, at.key("between").index(0), p) & known(b, at.key("between").index(1), p);
        if a == b {
            p.push(
                &at.key("between"),
                format!("names region {a:?} twice: a link joins two different regions"),
            );
            return Vec::new();
        }
        if ok {
            pairs.push((a.clone(), b.clone(), at.key("between").index(1)));
            pairs.push((b.clone(), a.clone(), at.key("between").index(0)));
        }
    } else if entry.mesh {
        for from in regions {
            for to in running {
                if from != to {
                    pairs.push((from.clone(), to.clone(), at.key("mesh")));
                }
            }
        }
        if pairs.is_empty() {
            p.push(
                &at.key("mesh"),
                format!("makes no link: {service:?} runs in no region another region could call"),
            );
        }
    } else {
        let (Some(from), Some(to)) = (&entry.from, &entry.to) else {
            p.push(at, "`from` and `to` go together");
            return Vec::new();
        };
        let ok = known(from, at.key("from"), p) & known(to, at.key("to"), p);
        if from == to {
            p.push(
                &at.key("to"),
                format!(
                    "is the same region as `from` ({from:?}): a link joins two different regions"
                ),
            );
            return Vec::new();
        }
        if ok {
            pairs.push((from.clone(), to.clone(), at.key("to")));
        }
    }
    let mut ids = Vec::new();
    for (from, to, target_path) in pairs {
        if running.contains(&to) {
            ids.push(LinkId::new(from, to, service.clone()));
        } else {
            p.push(
                &target_path,
                format!(
                    "{service:?} does not run in {to:?}, so {from}->{to}:{service} would reach nothing (it runs in: {}); use `from`/`to` for one direction",
                    list_or_none(running)
                ),
            );
        }
    }
    ids
}

fn invariant_name(config: &InvariantConfig) -> &'static str {
    match config {
        InvariantConfig::NoOversell(_) => "no_oversell",
        InvariantConfig::ReplicationLag(_) => "replication_lag",
        InvariantConfig::BlastRadius(_) => "blast_radius",
        InvariantConfig::Convergence(_) => "convergence",
        InvariantConfig::NoLostWrites(_) => "no_lost_writes",
        InvariantConfig::Availability(_) => "availability",
        InvariantConfig::Linearizable(_) => "linearizable",
    }
}

/// What invariants may refer to.
struct Facts<'a> {
    regions: &'a [String],
    services: &'a [String],
    workloads: &'a [String],
    final_reads: &'a BTreeSet<String>,
    has_replication_probe: bool,
}

/// Checks the names an invariant refers to; true when all are known.
fn check_invariant_references(
    config: &InvariantConfig,
    at: &FieldPath,
    facts: &Facts<'_>,
    p: &mut Problems,
) -> bool {
    let before = p.len();
    let region = |region: &str, field: FieldPath, p: &mut Problems| {
        if !facts.regions.iter().any(|r| r == region) {
            p.push(
                &field,
                format!(
                    "unknown region {region:?} (regions: {})",
                    facts.regions.join(", ")
                ),
            );
        }
    };
    // Rust users may drive their own closures as workloads, so an `op` is
    // only checked when the scenario declares workloads.
    let op_in = |field: &str, op: &str, p: &mut Problems| {
        if !facts.workloads.is_empty() && !facts.workloads.iter().any(|w| w == op) {
            p.push(
                &at.key(field),
                format!(
                    "{op:?} names no workload (workloads: {})",
                    facts.workloads.join(", ")
                ),
            );
        }
    };
    let op = |op: &str, p: &mut Problems| op_in("op", op, p);
    let final_read = |service: &Option<String>, p: &mut Problems| match service {
        Some(service) if !facts.services.contains(service) => {
            p.push(
                &at.key("service"),
                format!(
                    "unknown service {service:?} (services: {})",
                    facts.services.join(", ")
                ),
            );
        }
        Some(service) if !facts.final_reads.contains(service) => p.push(
            &at.key("service"),
            format!("needs the final state of {service:?}: add it to `final_reads`"),
        ),
        None if facts.final_reads.is_empty() => {
            p.push(at, "needs the final state of a service: add `final_reads`")
        }
        _ => {}
    };
    match config {
        InvariantConfig::NoOversell(c) => op(&c.op, p),
        InvariantConfig::ReplicationLag(c) => {
            if !facts.has_replication_probe {
                p.push(
                    at,
                    "needs a replication probe to measure lag: add one to `probes`",
                );
            }
            for (index, pair) in c.pairs.iter().flatten().enumerate() {
                region(&pair.from, at.key("pairs").index(index).key("from"), p);
                region(&pair.to, at.key("pairs").index(index).key("to"), p);
            }
        }
        InvariantConfig::BlastRadius(c) => {
            if let Some(name) = &c.op {
                op(name, p);
            }
        }
        InvariantConfig::Convergence(c) => final_read(&c.service, p),
        InvariantConfig::NoLostWrites(c) => {
            op(&c.op, p);
            final_read(&c.service, p);
        }
        InvariantConfig::Availability(c) => {
            if let Some(name) = &c.region {
                region(name, at.key("region"), p);
            }
            if let Some(name) = &c.op {
                op(name, p);
            }
        }
        InvariantConfig::Linearizable(c) => {
            op_in("read", &c.read, p);
            op_in("write", &c.write, p);
            if let Some(cas) = &c.cas {
                op_in("cas", cas, p);
            }
        }
    }
    p.len() == before
}
