//! The client processes of one drill: one per region of each workload,
//! replication probe and final read that names a `client`, started (in
//! parallel) before the drill's clock starts, so a slow start-up (a Python
//! import) does not eat into the open-loop schedule, and stopped after the
//! final reads.
//!
//! One process per region, not per concurrency slot: the protocol lets a
//! client answer in any order, so one process can keep `concurrency`
//! operations in flight (an async or threaded client), and a thousand slots
//! do not cost a thousand interpreters. A client that handles one operation
//! at a time still works; its operations then queue in its stdin, and their
//! latency, counted from when they were due, shows it.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::scenario::{ClientCommand, Probe, Scenario};
use crate::topology::{resolve, SpawnOptions, Topology};
use crate::workload::process::{ClientError, ClientProblems, ClientProcess, ClientSpec};

/// Which part of the scenario a client serves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientRole {
    /// The workload of that index.
    Workload(usize),
    /// The probe of that index.
    Probe(usize),
    /// The final read of that service.
    FinalRead(String),
}

/// Why the drill's clients could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    /// One client failed to start (the others were stopped).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The drill was cancelled while they started.
    #[error("cancelled while starting client processes")]
    Cancelled,
}

/// The running client processes of a drill.
#[derive(Debug, Default)]
pub struct DrillClients {
    processes: BTreeMap<ClientRole, BTreeMap<String, Arc<ClientProcess>>>,
    /// What went wrong with them while they ran.
    pub problems: Arc<ClientProblems>,
}

impl DrillClients {
    /// Starts every client the scenario names and waits for their hellos.
    ///
    /// # Errors
    /// The first client that cannot start or says no valid hello; every
    /// client started is stopped before this returns.
    pub async fn start(
        scenario: &Scenario,
        topology: &Topology,
        options: &SpawnOptions,
        stop: &CancellationToken,
    ) -> Result<Self, ClientsError> {
        let mut wanted: Vec<(ClientRole, String, &str, &ClientCommand, Vec<String>)> = Vec::new();
        for (index, workload) in scenario.workloads.iter().enumerate() {
            if let Some(client) = &workload.client {
                let regions = workload.regions.clone();
                wanted.push((
                    ClientRole::Workload(index),
                    workload.name.clone(),
                    &workload.service,
                    client,
                    regions,
                ));
            }
        }
        for (index, probe) in scenario.probes.iter().enumerate() {
            let Probe::Replication(probe) = probe;
            if let Some(client) = &probe.client {
                let mut regions = probe.from.clone();
                regions.extend(probe.to.iter().filter(|r| !probe.from.contains(r)).cloned());
                wanted.push((
                    ClientRole::Probe(index),
                    probe.name.clone(),
                    &probe.service,
                    client,
                    regions,
                ));
            }
        }
        for read in &scenario.final_reads {
            if let Some(client) = &read.client {
                let regions = topology.addresses_of(&read.service).into_keys().collect();
                wanted.push((
                    ClientRole::FinalRead(read.service.clone()),
                    format!("final-read-{}", read.service),
                    &read.service,
                    client,
                    regions,
                ));
            }
        }
        let mut clients = DrillClients::default();
        let mut starting = JoinSet::new();
        for (role, name, service, command, regions) in wanted {
            for region in regions {
                let Some(addr) = topology.address(service, &region) else {
                    continue;
                };
                let rendered = command.render(service, &region, addr, |id| {
                    topology
                        .proxies
                        .get(id)
                        .map(|p| p.listen.clone())
                        .unwrap_or_default()
                });
                let name = format!("{name}-{region}");
                let log = options
                    .log_dir
                    .as_ref()
                    .map(|dir| dir.join("logs").join(format!("client-{name}.log")));
                let spec = ClientSpec {
                    program: resolve(&rendered.program, &options.search),
                    name,
                    region: region.clone(),
                    addr: addr.to_owned(),
                    command: rendered,
                    ready_timeout: command.ready_timeout,
                    log,
                };
                let problems = clients.problems.clone();
                let role = role.clone();
                starting.spawn(async move {
                    (role, region, ClientProcess::start(spec, problems).await)
                });
            }
        }
        loop {
            let next = tokio::select! {
                () = stop.cancelled() => {
                    starting.abort_all();
                    clients.stop().await;
                    return Err(ClientsError::Cancelled);
                }
                next = starting.join_next() => next,
            };
            let Some(joined) = next else { break };
            match joined {
                Ok((role, region, Ok(process))) => {
                    clients
                        .processes
                        .entry(role)
                        .or_default()
                        .insert(region, Arc::new(process));
                }
                Ok((_, _, Err(err))) => {
                    starting.abort_all();
                    while starting.join_next().await.is_some() {}
                    clients.stop().await;
                    return Err(err.into());
                }
                Err(join) => {
                    tracing::warn!(%join, "a client start task failed");
                }
            }
        }
        Ok(clients)
    }

    /// Region → client of one role (empty when it has none).
    pub fn of(&self, role: &ClientRole) -> BTreeMap<String, Arc<ClientProcess>> {
        self.processes.get(role).cloned().unwrap_or_default()
    }

    /// The client of one role in one region.
    pub fn get(&self, role: &ClientRole, region: &str) -> Option<Arc<ClientProcess>> {
        self.processes.get(role)?.get(region).cloned()
    }

    /// Stops every client (stdin closed, then SIGTERM, then SIGKILL).
    pub async fn stop(&self) {
        let mut stopping = JoinSet::new();
        for process in self.processes.values().flat_map(BTreeMap::values) {
            let process = process.clone();
            stopping.spawn(async move { process.stop().await });
        }
        while stopping.join_next().await.is_some() {}
    }
}
