//! A small regional service the `faultline` binary carries, so the default
//! drill needs nothing but a fresh clone: a key-value store per region that
//! accepts writes locally and pushes them to the other regions asynchronously,
//! retrying until they arrive. A partition delays replication; nothing is lost,
//! and the regions converge after the heal. (The richer systems under test,
//! each with a known-bad variant, are in the fixtures crate.)

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::workload::client::HttpClient;

/// A demo instance's configuration.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Its region.
    pub region: String,
    /// `(region, address)` of every other region's instance (through its link).
    pub peers: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct Outbox {
    queue: Mutex<VecDeque<Value>>,
    ready: Notify,
}

#[derive(Debug)]
struct Demo {
    region: String,
    data: Mutex<BTreeMap<String, Value>>,
    outboxes: Vec<(String, String, Arc<Outbox>)>,
}

/// Serves until `stop`; replication runs alongside.
///
/// # Errors
/// Never after the listener is bound; the `Result` is for symmetry with other services.
pub async fn serve(
    config: DemoConfig,
    listener: TcpListener,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let demo = Arc::new(Demo {
        region: config.region,
        data: Mutex::new(BTreeMap::new()),
        outboxes: config
            .peers
            .into_iter()
            .map(|(r, a)| (r, a, Arc::new(Outbox::default())))
            .collect(),
    });
    let tasks = TaskTracker::new();
    for (_, address, outbox) in &demo.outboxes {
        tasks.spawn(replicate(address.clone(), outbox.clone(), stop.clone()));
    }
    loop {
        let (stream, _) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => continue,
            },
        };
        let demo = demo.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            let service = service_fn(move |request| {
                let demo = demo.clone();
                async move { Ok::<_, Infallible>(handle(&demo, request).await) }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    tasks.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), tasks.wait()).await;
    Ok(())
}

/// Writes sent to a peer in one request at most.
const BATCH: usize = 512;

/// Pushes queued writes to one peer in order, a batch per round trip (so a
/// cross-region round trip does not cap the write rate), retrying a batch
/// until it lands.
async fn replicate(address: String, outbox: Arc<Outbox>, stop: CancellationToken) {
    let client = HttpClient::new();
    let mut backoff = Duration::from_millis(50);
    loop {
        let batch: Vec<Value> = outbox
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .take(BATCH)
            .cloned()
            .collect();
        if batch.is_empty() {
            tokio::select! {
                () = stop.cancelled() => return,
                () = outbox.ready.notified() => continue,
            }
        }
        let body = json!({ "writes": batch });
        let reply = client
            .send(
                &address,
                "POST",
                "/replicate",
                Some(&body),
                &BTreeMap::new(),
                Duration::from_secs(1),
            )
            .await;
        if reply.status == Some(200) {
            outbox
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain(..batch.len());
            backoff = Duration::from_millis(50);
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_millis(500));
    }
}

async fn handle(demo: &Demo, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match (&method, path.as_str()) {
        (&Method::GET, "/health") => reply(
            StatusCode::OK,
            json!({"status": "ok", "region": demo.region}),
        ),
        (&Method::GET, "/state") => {
            let data = demo.data.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let canonical = serde_json::to_string(&data).unwrap_or_default();
            reply(
                StatusCode::OK,
                json!({"region": demo.region, "service": "demo", "digest": fnv_hex(&canonical), "data": data}),
            )
        }
        (&Method::POST, "/write") => {
            let write = match read_json(request).await.and_then(valid_write) {
                Ok(write) => write,
                Err(message) => {
                    return reply(
                        StatusCode::BAD_REQUEST,
                        json!({"error": message, "status": 400}),
                    )
                }
            };
            let (key, value) = (
                write["key"].as_str().unwrap_or_default().to_owned(),
                write["value"].clone(),
            );
            demo.data
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key.clone(), value.clone());
            for (_, _, outbox) in &demo.outboxes {
                outbox
                    .queue
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_back(write.clone());
                outbox.ready.notify_one();
            }
            reply(
                StatusCode::OK,
                json!({"key": key, "value": value, "region": demo.region}),
            )
        }
        (&Method::POST, "/replicate") => {
            let writes = match read_json(request).await {
                Ok(Value::Object(mut body)) => match body.remove("writes") {
                    Some(Value::Array(writes)) => writes,
                    _ => {
                        return reply(
                            StatusCode::BAD_REQUEST,
                            json!({"error": "body needs an array \"writes\"", "status": 400}),
                        )
                    }
                },
                Ok(_) => {
                    return reply(
                        StatusCode::BAD_REQUEST,
                        json!({"error": "body must be an object", "status": 400}),
                    )
                }
                Err(message) => {
                    return reply(
                        StatusCode::BAD_REQUEST,
                        json!({"error": message, "status": 400}),
                    )
                }
            };
            let writes: Vec<Value> = match writes.into_iter().map(valid_write).collect() {
                Ok(writes) => writes,
                Err(message) => {
                    return reply(
                        StatusCode::BAD_REQUEST,
                        json!({"error": message, "status": 400}),
                    )
                }
            };
            let mut data = demo.data.lock().unwrap_or_else(|p| p.into_inner());
            for write in &writes {
                data.insert(
                    write["key"].as_str().unwrap_or_default().to_owned(),
                    write["value"].clone(),
                );
            }
            reply(
                StatusCode::OK,
                json!({"applied": writes.len(), "region": demo.region}),
            )
        }
        (&Method::GET, p) if p.starts_with("/kv/") => {
            let key = &p["/kv/".len()..];
            match demo.data.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
                Some(value) => reply(
                    StatusCode::OK,
                    json!({"key": key, "value": value, "region": demo.region}),
                ),
                None => reply(
                    StatusCode::NOT_FOUND,
                    json!({"error": format!("no key {key:?}"), "status": 404}),
                ),
            }
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no route {method} {path}"), "status": 404}),
        ),
    }
}

async fn read_json(request: Request<Incoming>) -> Result<Value, String> {
    let body = Limited::new(request.into_body(), 4 << 20)
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| format!("body is not JSON: {e}"))
}

fn valid_write(write: Value) -> Result<Value, String> {
    match write.get("key") {
        Some(Value::String(key)) if !key.is_empty() => Ok(write),
        _ => Err("body needs a non-empty string \"key\"".into()),
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// FNV-1a, hex: equal data gives equal digests (the data is a sorted map).
fn fnv_hex(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_in_one_region_reaches_the_other() {
        let stop = CancellationToken::new();
        let east = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let west = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (east_addr, west_addr) = (
            east.local_addr().unwrap().to_string(),
            west.local_addr().unwrap().to_string(),
        );
        let east_config = DemoConfig {
            region: "us-east".into(),
            peers: vec![("eu-west".into(), west_addr.clone())],
        };
        let west_config = DemoConfig {
            region: "eu-west".into(),
            peers: vec![("us-east".into(), east_addr.clone())],
        };
        tokio::spawn(serve(east_config, east, stop.clone()));
        tokio::spawn(serve(west_config, west, stop.clone()));
        let client = HttpClient::new();
        let write = json!({"key": "k1", "value": "v1"});
        let reply = client
            .send(
                &east_addr,
                "POST",
                "/write",
                Some(&write),
                &BTreeMap::new(),
                Duration::from_secs(5),
            )
            .await;
        assert_eq!(reply.status, Some(200));
        let seen = loop {
            let reply = client
                .send(
                    &west_addr,
                    "GET",
                    "/kv/k1",
                    None,
                    &BTreeMap::new(),
                    Duration::from_secs(5),
                )
                .await;
            if reply.status == Some(200) {
                break reply.body;
            }
            tokio::task::yield_now().await;
        };
        assert_eq!(seen["value"], "v1");
        let east_state = client
            .send(
                &east_addr,
                "GET",
                "/state",
                None,
                &BTreeMap::new(),
                Duration::from_secs(5),
            )
            .await;
        let west_state = client
            .send(
                &west_addr,
                "GET",
                "/state",
                None,
                &BTreeMap::new(),
                Duration::from_secs(5),
            )
            .await;
        assert_eq!(east_state.body["digest"], west_state.body["digest"]);
        let bad = client
            .send(
                &east_addr,
                "POST",
                "/write",
                Some(&json!({"value": 1})),
                &BTreeMap::new(),
                Duration::from_secs(5),
            )
            .await;
        assert_eq!(bad.status, Some(400));
        stop.cancel();
    }
}
