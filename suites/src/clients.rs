//! What the client-process suites share: scenario files name their clients
//! by paths relative to the repository root (where `faultline drill` runs),
//! cargo tests run in `suites/`; and the Redis suites need programs the
//! project's scripts install, so they say loudly when one is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use faultline_harness::scenario::{ClientConfig, Scenario};

use crate::edit;

/// The repository root.
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("suites/ has a parent")
        .to_path_buf()
}

/// Every client config of the scenario (workloads, probes, final reads).
pub fn client_configs(
    config: &mut faultline_harness::scenario::ScenarioConfig,
) -> Vec<&mut ClientConfig> {
    let mut clients: Vec<&mut ClientConfig> = Vec::new();
    clients.extend(config.workload.iter_mut().filter_map(|w| w.client.as_mut()));
    for probe in &mut config.probes {
        let faultline_harness::scenario::ProbeConfig::Replication(probe) = probe;
        clients.extend(probe.client.as_mut());
    }
    clients.extend(
        config
            .final_reads
            .values_mut()
            .filter_map(|r| r.client.as_mut()),
    );
    clients
}

/// `scenario` with every client argument that names a file relative to the
/// repository root (`suites/clients/kv_client.py`, `.venv/bin/python`) made
/// absolute, so it runs from any folder.
///
/// # Panics
/// If the changed scenario is invalid.
pub fn rooted(scenario: Scenario) -> Scenario {
    let root = repository_root();
    edit(scenario, |config| {
        for client in client_configs(config) {
            for arg in &mut client.command {
                let path = root.join(&*arg);
                if !arg.starts_with('/') && !arg.contains('{') && arg.contains('/') && path.exists()
                {
                    *arg = path.display().to_string();
                }
            }
        }
    })
}

/// `Ok` when `redis-server` runs and the project's venv has the `redis`
/// package; otherwise what is missing and which script installs it.
///
/// # Errors
/// The missing piece, as a sentence.
pub fn redis_ready() -> Result<(), String> {
    let server = Command::new("redis-server").arg("--version").output();
    if !server.is_ok_and(|out| out.status.success()) {
        return Err("redis-server is not installed (scripts/deps installs it with apt-get; scripts/test runs it)".into());
    }
    let python = repository_root().join(".venv/bin/python");
    let package = Command::new(&python).args(["-c", "import redis"]).output();
    if !package.is_ok_and(|out| out.status.success()) {
        return Err(format!(
            "{} cannot import the `redis` package (scripts/python-env installs it; scripts/test runs it)",
            python.display()
        ));
    }
    Ok(())
}

/// Runs the test body unless Redis is missing, in which case it says so on
/// stderr, loudly, and returns (cargo has no "skipped" outcome).
#[macro_export]
macro_rules! require_redis {
    () => {
        if let Err(missing) = $crate::clients::redis_ready() {
            eprintln!(
                "\n==================== SKIPPED ====================\n\
                 {}: {missing}\n\
                 =================================================\n",
                module_path!()
            );
            return;
        }
    };
}
