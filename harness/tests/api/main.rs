//! The Toxiproxy-compatible HTTP API, `faultline serve` and `faultline fault`,
//! driven in-process: every test starts its own API on `127.0.0.1:0` over a
//! fresh registry, so tests run in parallel.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use faultline_harness::api::{self, ApiState};
use faultline_harness::cli::fault::{self, FaultCommand};
use faultline_harness::cli::serve::{self, ServeArgs, ServeError};
use faultline_harness::cli::{Cli, Command, ExitCode};
use faultline_proxies::{Limits, Registry};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod cli_schedules;
mod errors;
mod faultline;
mod leases;

/// One API server over a fresh registry; stopped when dropped.
struct Api {
    url: String,
    registry: Arc<Registry>,
    http: Client<HttpConnector, Full<Bytes>>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// An answer: status, `Allow` header, and body.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    allow: Option<String>,
    content_type: Option<String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }

    /// The `error` of an error body, checking the body's shape on the way.
    fn error(&self) -> String {
        let body = self.json();
        assert_eq!(body["status"], json!(self.status.as_u16()), "{body}");
        body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {body}"))
            .to_owned()
    }

    /// The `detail` of an error body: faultline's full message.
    fn detail(&self) -> String {
        let body = self.json();
        body["detail"]
            .as_str()
            .unwrap_or_else(|| panic!("no detail in {body}"))
            .to_owned()
    }
}

async fn start_api() -> Api {
    start_api_with(|state| state).await
}

async fn start_api_with(configure: impl FnOnce(ApiState) -> ApiState) -> Api {
    let registry = Arc::new(Registry::new(
        7,
        Limits::default(),
        CancellationToken::new(),
    ));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the API");
    let url = format!("http://{}", listener.local_addr().expect("API address"));
    let stop = CancellationToken::new();
    let state = configure(ApiState::new(registry.clone()));
    let task = tokio::spawn(api::serve(listener, state, stop.clone()));
    let http = Client::builder(TokioExecutor::new()).build_http();
    Api {
        url,
        registry,
        http,
        stop,
        task: Some(task),
    }
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        self.call_with(method, path, body, &[]).await
    }

    async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.send(
            method,
            path,
            Bytes::from(body.unwrap_or_default().to_owned()),
            headers,
        )
        .await
    }

    async fn send(&self, method: &str, path: &str, body: Bytes, headers: &[(&str, &str)]) -> Reply {
        let mut request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(format!("{}{path}", self.url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body)).expect("request");
        let response = self.http.request(request).await.expect("the API answers");
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &hyper::header::HeaderValue| v.to_str().unwrap_or_default().to_owned())
        };
        let allow = header(hyper::header::ALLOW);
        let content_type = header(hyper::header::CONTENT_TYPE);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Reply {
            status,
            allow,
            content_type,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// Creates a proxy to `upstream` on a free port; its JSON.
    async fn proxy(&self, name: &str, upstream: SocketAddr) -> Value {
        let body = json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream.to_string()})
            .to_string();
        let reply = self.call("POST", "/proxies", Some(&body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.json()
    }

    async fn toxic(&self, proxy: &str, toxic: Value) -> Reply {
        self.call(
            "POST",
            &format!("/proxies/{proxy}/toxics"),
            Some(&toxic.to_string()),
        )
        .await
    }

    /// Stops the API and waits for it to finish.
    async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("the API task ends cleanly");
        }
    }
}

/// A TCP echo server on a free port.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let address = listener.local_addr().expect("echo address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut reader, mut writer) = stream.split();
                let _ = tokio::io::copy(&mut reader, &mut writer).await;
                let _ = writer.shutdown().await;
            });
        }
    });
    address
}

fn address_of(proxy: &Value) -> SocketAddr {
    proxy["listen"]
        .as_str()
        .expect("listen")
        .parse()
        .expect("listen is an address")
}

/// Sends `payload` through `address` and reads it back; the time it took.
async fn echo_round_trip(address: SocketAddr, payload: &[u8]) -> Duration {
    let mut stream = TcpStream::connect(address)
        .await
        .expect("connect to the proxy");
    let started = Instant::now();
    stream.write_all(payload).await.expect("write");
    let mut back = vec![0; payload.len()];
    stream.read_exact(&mut back).await.expect("read the echo");
    assert_eq!(back, payload);
    started.elapsed()
}

/// A port with nothing listening on it.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("address")
}

// ---------------------------------------------------------------- /version

#[tokio::test]
async fn version_is_json_with_a_version_toxiproxy_clients_accept() {
    let api = start_api().await;
    let reply = api.call("GET", "/version", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply
        .content_type
        .as_deref()
        .unwrap_or_default()
        .starts_with("application/json"));
    let body = reply.json();
    let version = body["version"].as_str().expect("version");
    // toxiproxy-netcore parses it with System.Version: digits and dots only.
    let parts: Vec<u64> = version
        .split('.')
        .map(|p| p.parse().expect("numeric part"))
        .collect();
    assert!(
        parts.len() == 3 && (parts[0], parts[1]) >= (2, 6),
        "{version}"
    );
    assert_eq!(body["faultline"], json!(env!("CARGO_PKG_VERSION")));
}

// ---------------------------------------------------------------- /proxies

#[tokio::test]
async fn creating_a_proxy_answers_201_with_the_real_port_and_toxiproxys_fields() {
    let api = start_api().await;
    let upstream = echo_server().await;
    let proxy = api.proxy("web", upstream).await;
    assert_eq!(proxy["name"], "web");
    assert_eq!(proxy["upstream"], upstream.to_string());
    assert_eq!(proxy["enabled"], true);
    assert_eq!(proxy["toxics"], json!([]));
    let listen = address_of(&proxy);
    assert_ne!(listen.port(), 0, "port 0 must come back as the real port");
    echo_round_trip(listen, b"through the proxy").await;
    let keys: Vec<&String> = proxy.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["enabled", "listen", "name", "toxics", "upstream"]);
}

#[tokio::test]
async fn a_proxy_created_without_listen_or_enabled_listens_on_loopback() {
    let api = start_api().await;
    let reply = api
        .call(
            "POST",
            "/proxies",
            Some(r#"{"name": "bare", "upstream": "127.0.0.1:9"}"#),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let proxy = reply.json();
    assert_eq!(proxy["enabled"], true);
    assert!(address_of(&proxy).ip().is_loopback());

    let reply = api
        .call(
            "POST",
            "/proxies",
            Some(r#"{"name": "off", "upstream": "127.0.0.1:9", "enabled": false}"#),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.json()["enabled"], false);
}

#[tokio::test]
async fn a_duplicate_proxy_is_a_409() {
    let api = start_api().await;
    api.proxy("web", echo_server().await).await;
    let reply = api
        .call(
            "POST",
            "/proxies",
            Some(r#"{"name": "web", "upstream": "127.0.0.1:9"}"#),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    insta::assert_json_snapshot!("duplicate_proxy", reply.json());
}

#[tokio::test]
async fn listing_proxies_gives_a_map_by_name_with_their_toxics() {
    let api = start_api().await;
    assert_eq!(api.call("GET", "/proxies", None).await.json(), json!({}));
    let upstream = echo_server().await;
    api.proxy("a", upstream).await;
    api.proxy("b", upstream).await;
    api.toxic(
        "b",
        json!({"type": "latency", "attributes": {"latency": 5}}),
    )
    .await;
    let reply = api.call("GET", "/proxies", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let proxies = reply.json();
    assert_eq!(proxies["a"]["name"], "a");
    assert_eq!(proxies["a"]["toxics"], json!([]));
    assert_eq!(proxies["b"]["toxics"][0]["name"], "latency_downstream");
}

#[tokio::test]
async fn showing_a_proxy_gives_its_fields_and_toxics() {
    let api = start_api().await;
    let created = api.proxy("web", echo_server().await).await;
    let reply = api.call("GET", "/proxies/web", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), created);
}

#[tokio::test]
async fn missing_proxies_and_toxics_are_404_on_every_route() {
    let api = start_api().await;
    api.proxy("web", echo_server().await).await;
    let mut errors = Vec::new();
    for (method, path, body) in [
        ("GET", "/proxies/nope", None),
        ("POST", "/proxies/nope", Some("{}")),
        ("PATCH", "/proxies/nope", Some("{}")),
        ("DELETE", "/proxies/nope", None),
        ("GET", "/proxies/nope/toxics", None),
        (
            "POST",
            "/proxies/nope/toxics",
            Some(r#"{"type": "latency"}"#),
        ),
        ("GET", "/proxies/nope/toxics/x", None),
        ("DELETE", "/proxies/nope/toxics/x", None),
        ("GET", "/proxies/web/toxics/nope", None),
        (
            "POST",
            "/proxies/web/toxics/nope",
            Some(r#"{"toxicity": 0.5}"#),
        ),
        (
            "PATCH",
            "/proxies/web/toxics/nope",
            Some(r#"{"toxicity": 0.5}"#),
        ),
        ("DELETE", "/proxies/web/toxics/nope", None),
    ] {
        let reply = api.call(method, path, body).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            reply.body
        );
        errors.push(format!(
            "{method} {path} → {} ({})",
            reply.error(),
            reply.detail()
        ));
    }
    insta::assert_json_snapshot!("not_found", errors);
}

#[tokio::test]
async fn partial_proxy_updates_keep_unspecified_fields_and_the_port() {
    let api = start_api().await;
    let upstream = echo_server().await;
    let created = api.proxy("web", upstream).await;
    let listen = created["listen"].clone();

    let reply = api
        .call("PATCH", "/proxies/web", Some(r#"{"enabled": false}"#))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let disabled = reply.json();
    assert_eq!(disabled["enabled"], false);
    assert_eq!(disabled["upstream"], upstream.to_string());
    assert_eq!(disabled["listen"], listen, "disabling keeps the real port");
    assert_eq!(
        TcpStream::connect(address_of(&created))
            .await
            .map_err(|e| e.kind())
            .err(),
        Some(ErrorKind::ConnectionRefused)
    );

    // POST is Toxiproxy's older spelling of the same update.
    let other = echo_server().await;
    let reply = api
        .call(
            "POST",
            "/proxies/web",
            Some(&json!({"upstream": other.to_string()}).to_string()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["enabled"], false, "enabled is kept");
    assert_eq!(reply.json()["listen"], listen);

    let reply = api
        .call("PATCH", "/proxies/web", Some(r#"{"enabled": true}"#))
        .await;
    let enabled = reply.json();
    assert_eq!(enabled["enabled"], true);
    assert_eq!(enabled["listen"], listen, "enabled again on the same port");
    assert_eq!(enabled["upstream"], other.to_string(), "upstream is kept");
    echo_round_trip(address_of(&enabled), b"after the update").await;

    let reply = api
        .call("PATCH", "/proxies/web", Some(r#"{"name": "renamed"}"#))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.detail().starts_with("name:"), "{}", reply.body);
}

#[tokio::test]
async fn a_client_that_sends_the_whole_proxy_back_keeps_its_port_across_disable_and_enable() {
    // Toxiproxy's Go client saves by POSTing the proxy it last read, toxics included.
    let api = start_api().await;
    api.proxy("web", echo_server().await).await;
    api.toxic("web", json!({"type": "latency"})).await;
    let mut proxy = api.call("GET", "/proxies/web", None).await.json();
    let listen = proxy["listen"].clone();
    for enabled in [false, true] {
        proxy["enabled"] = json!(enabled);
        let reply = api
            .call("POST", "/proxies/web", Some(&proxy.to_string()))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        proxy = reply.json();
        assert_eq!(proxy["listen"], listen, "enabled: {enabled}");
        assert_eq!(
            proxy["toxics"].as_array().map(Vec::len),
            Some(1),
            "toxics in an update are ignored"
        );
    }
    echo_round_trip(address_of(&proxy), b"same port").await;
}

#[tokio::test]
async fn moving_a_proxy_to_another_port_answers_the_new_port() {
    let api = start_api().await;
    api.proxy("web", echo_server().await).await;
    let target = closed_port().await;
    let reply = api
        .call(
            "PATCH",
            "/proxies/web",
            Some(&json!({"listen": target.to_string()}).to_string()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(address_of(&reply.json()), target);
    echo_round_trip(target, b"moved").await;
}

#[tokio::test]
async fn deleting_a_proxy_answers_204_and_closes_its_port() {
    let api = start_api().await;
    let proxy = api.proxy("web", echo_server().await).await;
    let reply = api.call("DELETE", "/proxies/web", None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.body, "");
    assert_eq!(
        api.call("GET", "/proxies/web", None).await.status,
        StatusCode::NOT_FOUND
    );
    let refused = TcpStream::connect(address_of(&proxy))
        .await
        .map_err(|e| e.kind())
        .err();
    assert_eq!(refused, Some(ErrorKind::ConnectionRefused));
}

#[tokio::test]
async fn an_address_in_use_is_a_409_naming_it_and_the_server_keeps_serving() {
    let api = start_api().await;
    let taken = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = taken.local_addr().expect("address").to_string();

    let body = json!({"name": "clash", "listen": address, "upstream": "127.0.0.1:9"}).to_string();
    let reply = api.call("POST", "/proxies", Some(&body)).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(
        reply.error(),
        format!("listen tcp {address}: bind: address already in use"),
        "Go's own bind error, as Toxiproxy passes it on"
    );
    let detail = reply.detail();
    assert!(
        detail.contains(&address) && detail.contains("in use") && detail.starts_with("listen:"),
        "{detail}"
    );
    assert_eq!(
        api.call("GET", "/proxies/clash", None).await.status,
        StatusCode::NOT_FOUND
    );

    // Moving an existing proxy onto it fails the same way and leaves it where it was.
    let proxy = api.proxy("web", echo_server().await).await;
    let reply = api
        .call(
            "PATCH",
            "/proxies/web",
            Some(&json!({"listen": address}).to_string()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(
        api.call("GET", "/proxies/web", None).await.json()["listen"],
        proxy["listen"]
    );
    echo_round_trip(address_of(&proxy), b"still here").await;
}

// ---------------------------------------------------------------- toxics

#[tokio::test]
async fn a_toxic_gets_the_default_name_stream_and_toxicity_and_answers_200() {
    let api = start_api().await;
    api.proxy("web", echo_server().await).await;
    let reply = api
        .toxic(
            "web",
            json!({"type": "latency", "attributes": {"latency": 250, "jitter": 10}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    insta::assert_json_snapshot!("default_toxic", reply.json());
    let shown = api
        .call("GET", "/proxies/web/toxics/latency_downstream", None)
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.json(), reply.json());
}

#[tokio::test]
async fn every_kind_is_added_through_the_toxics_endpoint_with_its_attributes() {
    let api = start_api().await;
    api.proxy("web", echo_server().await).await;
    let mut shown = Vec::new();
    for toxic in [
        json!({"type": "latency", "attributes": {"latency": 100, "jitter": 0.5}}),
        json!({"type": "bandwidth", "stream": "upstream", "attributes": {"rate": 64}}),
        json!({"type": "slow_close", "attributes": {"delay": 20}}),
        json!({"type": "timeout", "stream": "upstream", "attributes": {"timeout": 1000}}),
        json!({"type": "reset_peer", "name": "rst", "attributes": {"timeout": 10}}),
        json!({"type": "slicer", "attributes": {"average_size": 64, "size_variation": 16, "delay": 100}}),
        json!({"type": "limit_data", "stream": "upstream", "attributes": {"bytes": 1024}}),
        json!({"type": "loss", "attributes": {"probability": 0.1, "correlation": 0.25, "rto": 300}}),
        json!({"type": "blackhole", "stream": "upstream", "toxicity": 0.5, "attributes": {"on_heal": "deliver_now"}}),
        json!({"type": "reject", "name": "refuse"}),
    ] {
        let reply = api.toxic("web", toxic.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "{toxic}: {}", reply.body);
        shown.push(reply.json());
    }
    let listed = api.call("GET", "/proxies/web/toxics", None).await;
    assert_eq!(listed.status, StatusCode::OK);
    let listed = listed.json();
    let streams: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|t| t["stream"].as_str().unwrap_or(""))
        .collect();
    let first_downstream = streams
        .iter()
        .position(|s| *s == "downstream")
        .unwrap_or(streams.len());
    assert!(
        streams[first_downstream..]
            .iter()
            .all(|s| *s == "downstream"),
        "upstream toxics come first: {streams:?}"
    );
    insta::assert_json_snapshot!("every_kind", listed);
}

#[tokio::test]
async fn a_duplicate_toxic_is_a_409() {
    let api = start_api().await;
    api.proxy("web", echo_server().await).await;
    assert_eq!(
        api.toxic("web", json!({"type": "latency"})).await.status,
        StatusCode::OK
    );
    let reply = api
        .toxic(
            "web",
            json!({"type": "latency", "attributes": {"latency": 1}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    insta::assert_json_snapshot!("duplicate_toxic", reply.json());
    // Names are unique per proxy across both streams.
    let reply = api
        .toxic(
            "web",
            json!({"type": "bandwidth", "name": "latency_downstream", "stream": "upstream"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn partial_toxic_updates_merge_attributes_and_keep_toxicity() {
    let api = start_api().await;
    api.proxy("web", echo_server().await).await;
    api.toxic(
        "web",
        json!({"type": "latency", "toxicity": 0.5, "attributes": {"latency": 100, "jitter": 10}}),
    )
    .await;

    let reply = api
        .call(
            "PATCH",
            "/proxies/web/toxics/latency_downstream",
            Some(r#"{"attributes": {"latency": 500}}"#),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let toxic = reply.json();
    assert_eq!(toxic["attributes"], json!({"latency": 500, "jitter": 10}));
    assert_eq!(toxic["toxicity"], json!(0.5));

    let reply = api
        .call(
            "POST",
            "/proxies/web/toxics/latency_downstream",
            Some(r#"{"toxicity": 1}"#),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.json()["attributes"],
        json!({"latency": 500, "jitter": 10})
    );
    assert_eq!(reply.json()["toxicity"], json!(1.0));

    let reply = api
        .call(
            "PATCH",
            "/proxies/web/toxics/latency_downstream",
            Some(r#"{"stream": "upstream"}"#),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.detail().starts_with("stream:"), "{}", reply.body);
    let reply = api
        .call(
            "PATCH",
            "/proxies/web/toxics/latency_downstream",
            Some(r#"{"attributes": {"latency": -1}}"#),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let now = api
        .call("GET", "/proxies/web/toxics/latency_downstream", None)
        .await
        .json();
    assert_eq!(
        now["attributes"],
        json!({"latency": 500, "jitter": 10}),
        "a refused update changes nothing"
    );
}

#[tokio::test]
async fn deleting_a_toxic_answers_204() {
    let api = start_api().await;
    api.proxy("web", echo_server().await).await;
    api.toxic("web", json!({"type": "latency"})).await;
    let reply = api
        .call("DELETE", "/proxies/web/toxics/latency_downstream", None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.call("GET", "/proxies/web/toxics", None).await.json(),
        json!([])
    );
}

#[tokio::test]
async fn toxiproxy_accepted_behaviours_are_accepted() {
    let api = start_api().await;
    api.proxy("web", echo_server().await).await;
    for toxic in [
        json!({"type": "bandwidth", "name": "stall", "attributes": {"rate": 0}}),
        json!({"type": "latency", "name": "wide", "attributes": {"latency": 10, "jitter": 50}}),
        json!({"type": "timeout", "name": "forever", "attributes": {"timeout": 0}}),
        json!({"type": "latency", "name": "float_ms", "attributes": {"latency": 250.0}}),
        json!({"type": "latency", "name": "CaseStream", "stream": "UPSTREAM"}),
    ] {
        let reply = api.toxic("web", toxic.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "{toxic}: {}", reply.body);
    }
}

// ---------------------------------------------------------------- bad input

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_and_the_server_keeps_serving() {
    let api = start_api().await;
    let proxy = api.proxy("web", echo_server().await).await;
    api.toxic(
        "web",
        json!({"type": "latency", "attributes": {"latency": 5}}),
    )
    .await;
    let toxics = "/proxies/web/toxics";
    let cases: Vec<(&str, &str, &str)> = vec![
        (
            "POST",
            toxics,
            r#"{"type": "latency", "attributes": {"latency": 5}"#,
        ),
        ("POST", toxics, r#"{"type": "latency", "toxicity": NaN}"#),
        (
            "POST",
            toxics,
            r#"{"type": "latency", "name": "t", "toxicity": 1.5}"#,
        ),
        (
            "POST",
            toxics,
            r#"{"type": "latency", "name": "t", "toxicity": -0.5}"#,
        ),
        (
            "POST",
            toxics,
            r#"{"type": "latency", "name": "t", "toxicity": "high"}"#,
        ),
        (
            "POST",
            toxics,
            r#"{"type": "lag", "attributes": {"latency": 5}}"#,
        ),
        ("POST", toxics, r#"{"attributes": {"latency": 5}}"#),
        (
            "POST",
            toxics,
            r#"{"type": "latency", "stream": "sideways"}"#,
        ),
        (
            "POST",
            toxics,
            r#"{"type": "bandwidth", "attributes": {"rate": -1}}"#,
        ),
        (
            "POST",
            toxics,
            r#"{"type": "bandwidth", "attributes": {"rate": 1.5}}"#,
        ),
        (
            "POST",
            toxics,
            r#"{"type": "latency", "name": "t", "attributes": {"latency": 1000000000000}}"#,
        ),
        (
            "POST",
            toxics,
            r#"{"type": "latency", "name": "t", "attributes": {"latency": 1e300}}"#,
        ),
        (
            "POST",
            toxics,
            r#"{"type": "latency", "name": "t", "attributes": {"latency": "250"}}"#,
        ),
        (
            "POST",
            toxics,
            r#"{"type": "latency", "name": "t", "attributes": {"latncy": 250}}"#,
        ),
        (
            "POST",
            toxics,
            r#"{"type": "latency", "name": "t", "attributes": [250]}"#,
        ),
        (
            "POST",
            toxics,
            r#"{"type": "slicer", "attributes": {"average_size": 0}}"#,
        ),
        (
            "POST",
            toxics,
            r#"{"type": "loss", "attributes": {"probability": 2}}"#,
        ),
        (
            "POST",
            toxics,
            r#"{"type": "loss", "attributes": {"rto": 0}}"#,
        ),
        (
            "POST",
            toxics,
            r#"{"type": "blackhole", "attributes": {"on_heal": "later"}}"#,
        ),
        ("POST", toxics, ""),
        ("POST", toxics, r#"{"type": "latency"} trailing"#),
        ("POST", toxics, "[]"),
        ("POST", "/proxies", r#"{"upstream": "127.0.0.1:9"}"#),
        ("POST", "/proxies", r#"{"name": "x"}"#),
        (
            "POST",
            "/proxies",
            r#"{"name": "x", "upstream": "nowhere"}"#,
        ),
        (
            "POST",
            "/proxies",
            r#"{"name": "x", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:99999"}"#,
        ),
        (
            "POST",
            "/proxies",
            r#"{"name": "x", "upstream": "127.0.0.1:9", "enabled": "yes"}"#,
        ),
        (
            "POST",
            "/proxies",
            r#"{"name": "x", "upstream": "127.0.0.1:9", "toxics": [{"type": "latency", "attributes": {"jitter": -3}}]}"#,
        ),
        ("PATCH", "/proxies/web", r#"{"enabled": 1}"#),
        ("PATCH", "/proxies/web", r#"{"listen": "web:port"}"#),
        (
            "PATCH",
            "/proxies/web/toxics/latency_downstream",
            r#"{"toxicity": 7}"#,
        ),
        (
            "PATCH",
            "/proxies/web/toxics/latency_downstream",
            r#"{"type": "bandwidth"}"#,
        ),
        (
            "POST",
            "/populate",
            r#"[{"name": "a", "upstream": "127.0.0.1:9"}, {"name": "a", "upstream": "127.0.0.1:9"}]"#,
        ),
        (
            "POST",
            "/populate",
            r#"{"proxies": [{"name": "a", "upstream": 9}]}"#,
        ),
    ];
    let mut errors = Vec::new();
    for (method, path, body) in cases {
        let reply = api.call(method, path, Some(body)).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{method} {path} {body}: {}",
            reply.body
        );
        errors.push(json!({"request": format!("{method} {path} {body}"), "error": reply.error(), "detail": reply.detail()}));
    }
    insta::assert_json_snapshot!("bad_input", errors);

    // Nothing was applied, and the server still serves.
    let now = api.call("GET", "/proxies", None).await.json();
    assert_eq!(now.as_object().map(|o| o.len()), Some(1), "{now}");
    assert_eq!(
        now["web"]["toxics"].as_array().map(Vec::len),
        Some(1),
        "{now}"
    );
    assert_eq!(now["web"]["listen"], proxy["listen"]);
    echo_round_trip(address_of(&proxy), b"still serving").await;
}

#[tokio::test]
async fn bodies_over_a_mebibyte_are_413() {
    let api = start_api().await;
    let big = Bytes::from(vec![b' '; 2 << 20]);
    let reply = api.send("POST", "/proxies", big, &[]).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.json()["status"], 413);
    assert_eq!(
        api.call("GET", "/proxies", None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_with_allow() {
    let api = start_api().await;
    let reply = api.call("GET", "/toxics", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error(), "404 page not found");
    assert_eq!(reply.detail(), "no such route: /toxics");
    let reply = api.call("PUT", "/proxies", Some("{}")).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.allow.as_deref(), Some("GET, POST"));
    insta::assert_json_snapshot!("method_not_allowed", reply.json());
    let reply = api.call("GET", "/reset", None).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.allow.as_deref(), Some("POST"));
    assert_eq!(
        api.call("DELETE", "/version", None).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

// ---------------------------------------------------------------- access

#[tokio::test]
async fn browsers_are_refused_with_403() {
    let api = start_api().await;
    let browser = [(
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    )];
    let reply = api.call_with("GET", "/proxies", None, &browser).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    insta::assert_json_snapshot!("browser", reply.json());
    let body = r#"{"name": "x", "upstream": "127.0.0.1:9"}"#;
    assert_eq!(
        api.call_with("POST", "/proxies", Some(body), &browser)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(api.call("GET", "/proxies", None).await.json(), json!({}));
}

#[tokio::test]
async fn a_token_is_required_on_every_mutating_request() {
    let api = start_api_with(|state| state.with_token("s3cret")).await;
    let body = r#"{"name": "x", "upstream": "127.0.0.1:9"}"#;
    let reply = api.call("POST", "/proxies", Some(body)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    insta::assert_json_snapshot!("unauthorized", reply.json());
    let wrong = [("authorization", "Bearer guess")];
    assert_eq!(
        api.call_with("POST", "/proxies", Some(body), &wrong)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.call_with("POST", "/reset", None, &wrong).await.status,
        StatusCode::UNAUTHORIZED
    );
    let right = [("authorization", "Bearer s3cret")];
    assert_eq!(
        api.call_with("POST", "/proxies", Some(body), &right)
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        api.call("DELETE", "/proxies/x", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.call("GET", "/proxies/x", None).await.status,
        StatusCode::OK,
        "reads need no token"
    );
    assert_eq!(
        api.call_with("DELETE", "/proxies/x", None, &right)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

// ---------------------------------------------------------------- /populate, /reset, /metrics

#[tokio::test]
async fn populate_creates_proxies_with_their_toxics_and_answers_201() {
    let api = start_api().await;
    let upstream = echo_server().await.to_string();
    let body = json!([
        {"name": "a", "listen": "127.0.0.1:0", "upstream": upstream,
         "toxics": [{"type": "latency", "attributes": {"latency": 10}}]},
        {"name": "b", "upstream": upstream, "enabled": false},
    ]);
    let reply = api.call("POST", "/populate", Some(&body.to_string())).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let populated = reply.json();
    let proxies = populated["proxies"].as_array().expect("proxies");
    assert_eq!(proxies.len(), 2);
    assert_eq!(proxies[0]["toxics"][0]["name"], "latency_downstream");
    assert_eq!(proxies[1]["enabled"], false);
    let port_a = proxies[0]["listen"].clone();

    // The object form; the same addresses keep the proxy, its port and its toxics.
    let again = json!({"proxies": [{"name": "a", "listen": "127.0.0.1:0", "upstream": upstream}]});
    let reply = api
        .call("POST", "/populate", Some(&again.to_string()))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let kept = &reply.json()["proxies"][0];
    assert_eq!(kept["listen"], port_a);
    assert_eq!(kept["toxics"].as_array().map(Vec::len), Some(1));

    // Another upstream replaces it: a replaced proxy has no toxics (Toxiproxy's rule).
    let other = echo_server().await.to_string();
    let moved = json!([{"name": "a", "listen": "127.0.0.1:0", "upstream": other}]);
    let reply = api
        .call("POST", "/populate", Some(&moved.to_string()))
        .await;
    let replaced = &reply.json()["proxies"][0];
    assert_eq!(replaced["upstream"], other);
    assert_eq!(replaced["toxics"], json!([]));
}

#[tokio::test]
async fn a_failed_populate_changes_nothing() {
    let api = start_api().await;
    let upstream = echo_server().await.to_string();
    let existing = api.proxy("keep", upstream.parse().expect("address")).await;
    let taken = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let body = json!([
        {"name": "new", "upstream": upstream},
        {"name": "keep", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"},
        {"name": "clash", "listen": taken.local_addr().expect("address").to_string(), "upstream": upstream},
    ]);
    let reply = api.call("POST", "/populate", Some(&body.to_string())).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert!(
        reply
            .detail()
            .starts_with("proxy \"clash\": listen: cannot listen on"),
        "{}",
        reply.body
    );
    let now = api.call("GET", "/proxies", None).await.json();
    assert_eq!(
        now.as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["keep".to_owned()])
    );
    assert_eq!(
        now["keep"]["upstream"], existing["upstream"],
        "the changed proxy is put back"
    );
    assert_eq!(now["keep"]["listen"], existing["listen"]);
}

#[tokio::test]
async fn reset_removes_every_toxic_and_enables_every_proxy() {
    let api = start_api().await;
    let upstream = echo_server().await;
    let a = api.proxy("a", upstream).await;
    api.proxy("b", upstream).await;
    api.toxic("a", json!({"type": "latency", "stream": "upstream"}))
        .await;
    api.toxic("a", json!({"type": "bandwidth", "attributes": {"rate": 0}}))
        .await;
    api.toxic("b", json!({"type": "reject"})).await;
    api.call("PATCH", "/proxies/a", Some(r#"{"enabled": false}"#))
        .await;

    let reply = api.call("POST", "/reset", None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let proxies = api.call("GET", "/proxies", None).await.json();
    for name in ["a", "b"] {
        assert_eq!(proxies[name]["toxics"], json!([]), "{name}");
        assert_eq!(proxies[name]["enabled"], true, "{name}");
    }
    assert_eq!(proxies["a"]["listen"], a["listen"]);
    echo_round_trip(address_of(&a), b"healed").await;
}

#[tokio::test]
async fn metrics_count_bytes_connections_and_faults_in_prometheus_text() {
    let api = start_api().await;
    let proxy = api.proxy("web", echo_server().await).await;
    api.toxic(
        "web",
        json!({"type": "latency", "attributes": {"latency": 1}}),
    )
    .await;
    api.toxic(
        "web",
        json!({"type": "slicer", "stream": "upstream", "attributes": {"average_size": 1000}}),
    )
    .await;

    // A whole exchange, closed both ways: when the client reads EOF, every
    // byte has been counted in both directions.
    let mut stream = TcpStream::connect(address_of(&proxy))
        .await
        .expect("connect");
    stream.write_all(&[7; 1000]).await.expect("write");
    stream.shutdown().await.expect("shutdown");
    let mut back = Vec::new();
    stream.read_to_end(&mut back).await.expect("read");
    assert_eq!(back.len(), 1000);

    let reply = api.call("GET", "/metrics", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply
        .content_type
        .as_deref()
        .unwrap_or_default()
        .starts_with("text/plain; version=0.0.4"));
    let text = reply.body;
    for line in [
        "# TYPE faultline_proxy_bytes_total counter",
        "faultline_proxy_bytes_total{proxy=\"web\",direction=\"upstream\"} 1000",
        "faultline_proxy_bytes_total{proxy=\"web\",direction=\"downstream\"} 1000",
        "faultline_proxy_connections_total{proxy=\"web\"} 1",
        "faultline_proxy_faults_active{proxy=\"web\",direction=\"upstream\"} 1",
        "faultline_proxy_faults_active{proxy=\"web\",direction=\"downstream\"} 1",
        "# TYPE faultline_proxy_connections_active gauge",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(
        text.contains("faultline_proxy_connections_active{proxy=\"web\"} "),
        "{text}"
    );
}

// ---------------------------------------------------------------- faults on real traffic

#[tokio::test]
async fn faults_added_over_the_api_act_on_real_traffic_until_reset() {
    let api = start_api().await;
    let proxy = api.proxy("web", echo_server().await).await;
    let address = address_of(&proxy);

    let reply = api
        .toxic(
            "web",
            json!({"type": "latency", "attributes": {"latency": 200}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let took = echo_round_trip(address, b"slow").await;
    assert!(
        took >= Duration::from_millis(200),
        "a 200 ms downstream latency, round trip took {took:?}"
    );

    api.call("DELETE", "/proxies/web/toxics/latency_downstream", None)
        .await;
    let reply = api
        .toxic(
            "web",
            json!({"type": "reset_peer", "attributes": {"timeout": 0}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let mut buf = [0; 16];
    let read = stream.read(&mut buf).await;
    assert_eq!(read.map_err(|e| e.kind()), Err(ErrorKind::ConnectionReset));

    assert_eq!(
        api.call("POST", "/reset", None).await.status,
        StatusCode::NO_CONTENT
    );
    echo_round_trip(address, b"healed by /reset").await;
}

#[tokio::test]
async fn stopping_the_api_closes_its_port_and_leaves_the_proxies_to_their_owner() {
    let api = start_api().await;
    let proxy = api.proxy("web", echo_server().await).await;
    let api_address: SocketAddr = api
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let registry = api.registry.clone();
    api.stop().await;
    let refused = TcpStream::connect(api_address)
        .await
        .map_err(|e| e.kind())
        .err();
    assert_eq!(refused, Some(ErrorKind::ConnectionRefused));
    echo_round_trip(address_of(&proxy), b"proxies live on").await;
    registry.shutdown().await;
}

// ---------------------------------------------------------------- faultline serve

static CONFIGS: AtomicU64 = AtomicU64::new(0);

/// A config file in the temp folder, unique to this process and call.
struct TempConfig(PathBuf);

impl TempConfig {
    fn new(contents: &str) -> Self {
        let n = CONFIGS.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "faultline-api-test-{}-{n}.json",
            std::process::id()
        ));
        std::fs::write(&path, contents).expect("write the config");
        Self(path)
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn serve_args(config: Option<&TempConfig>) -> ServeArgs {
    let mut args = ServeArgs::new("127.0.0.1".parse().expect("ip"), 0);
    args.config = config.map(|c| c.0.clone());
    args.seed = 11;
    args
}

#[tokio::test]
async fn serve_applies_the_toxics_its_config_lists() {
    let upstream = echo_server().await.to_string();
    let config = TempConfig::new(
        &json!([
            {"name": "db", "listen": "127.0.0.1:0", "upstream": upstream, "toxics": [
                {"type": "latency", "attributes": {"latency": 200}},
                {"type": "blackhole", "name": "cut", "stream": "upstream", "toxicity": 0.0},
            ]},
            {"name": "cache", "upstream": upstream},
        ])
        .to_string(),
    );
    let server = serve::start(serve_args(Some(&config)))
        .await
        .expect("serve starts");
    assert_ne!(server.address().port(), 0);
    assert_eq!(server.proxies().len(), 2);
    let db = server
        .proxies()
        .iter()
        .find(|p| p.name == "db")
        .expect("db");
    let db_address: SocketAddr = db.listen.parse().expect("address");
    assert_eq!(db.faults.len(), 2);

    let url = server.url();
    let stop = CancellationToken::new();
    let running = tokio::spawn(server.run(stop.clone()));
    let client = faultline_harness::wire::client::ApiClient::new(&url, None).expect("client");
    let toxics = client.toxics("db").await.expect("toxics over the API");
    let names: Vec<&str> = toxics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["cut", "latency_downstream"]);
    let took = echo_round_trip(db_address, b"configured").await;
    assert!(
        took >= Duration::from_millis(200),
        "the config's latency acts: {took:?}"
    );

    stop.cancel();
    running.await.expect("serve stops");
    assert_eq!(
        TcpStream::connect(db_address)
            .await
            .map_err(|e| e.kind())
            .err(),
        Some(ErrorKind::ConnectionRefused)
    );
}

#[tokio::test]
async fn serve_names_the_file_field_line_and_column_of_a_bad_config() {
    let syntax = TempConfig::new("[\n  {\"name\": \"db\", \"upstream\": \"127.0.0.1:9\",\n   \"toxics\": [{\"type\": \"latency\", \"toxicity\": \"high\"}]}\n]");
    let err = serve::start(serve_args(Some(&syntax)))
        .await
        .expect_err("bad config");
    let text = err.to_string();
    let shown = syntax.0.display().to_string();
    assert!(
        text.starts_with(&format!("{shown}: [0].toxics[0].toxicity: invalid type")),
        "{text}"
    );
    assert!(text.contains("line 3 column"), "{text}");
    assert_eq!(err.exit_code(), ExitCode::Usage);

    let semantic = TempConfig::new(
        r#"{"proxies": [{"name": "db", "upstream": "127.0.0.1:9", "toxics": [{"type": "latency", "attributes": {"latency": -5}}]}]}"#,
    );
    let err = serve::start(serve_args(Some(&semantic)))
        .await
        .expect_err("bad config");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: proxies[0].toxics[0]: toxic attribute \"latency\": must not be negative",
            semantic.0.display()
        )
    );
    assert_eq!(
        serve::run(serve_args(Some(&semantic)), CancellationToken::new()).await,
        ExitCode::Usage
    );

    let missing = serve_args(Some(&TempConfig::new("[]")));
    let mut gone = missing.clone();
    gone.config = Some(std::env::temp_dir().join("faultline-api-test-no-such-file.json"));
    assert!(matches!(
        serve::start(gone).await,
        Err(ServeError::ReadConfig { .. })
    ));
}

#[tokio::test]
async fn serve_refuses_a_config_proxy_whose_address_is_taken() {
    let taken = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let config = TempConfig::new(
        &json!([{"name": "db", "listen": taken.local_addr().expect("address").to_string(), "upstream": "127.0.0.1:9"}])
            .to_string(),
    );
    let err = serve::start(serve_args(Some(&config)))
        .await
        .expect_err("address in use");
    assert!(
        err.to_string()
            .contains("proxy \"db\": listen: cannot listen on"),
        "{err}"
    );
    assert_eq!(err.exit_code(), ExitCode::Usage);
}

#[test]
fn serve_off_loopback_needs_a_token_before_binding_anything() {
    let mut args = serve_args(None);
    args.host = "0.0.0.0".parse().expect("ip");
    let err = serve::check(args.clone()).expect_err("no token");
    assert!(err.to_string().contains("FAULTLINE_TOKEN"), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Usage);
    assert!(err.to_string().contains("--insecure"), "{err}");
    let mut insecure = args.clone();
    insecure.insecure = true;
    assert!(
        serve::check(insecure).is_ok(),
        "--insecure serves without a token"
    );
    args.token = Some("t0ken".into());
    assert!(serve::check(args).is_ok());
}

#[test]
fn serve_flags_parse_with_their_defaults() {
    let cli = Cli::try_parse_from(["faultline", "serve"]).expect("parse");
    let Command::Serve(args) = cli.command else {
        panic!("not serve")
    };
    assert_eq!(args.host.to_string(), "127.0.0.1");
    assert_eq!(args.port, 8474);
    assert!(Cli::try_parse_from([
        "faultline",
        "serve",
        "--host",
        "localhost",
        "--port",
        "0",
        "--seed",
        "3"
    ])
    .is_ok());
    assert!(Cli::try_parse_from(["faultline", "serve", "--host", "example.com"]).is_err());
}

// ---------------------------------------------------------------- faultline fault

fn fault_command(args: &[&str]) -> FaultCommand {
    let argv = ["faultline", "fault"].iter().chain(args).copied();
    match Cli::try_parse_from(argv).map(|cli| cli.command) {
        Ok(Command::Fault(command)) => command,
        Ok(other) => panic!("not a fault command: {other:?}"),
        Err(err) => panic!("{args:?}: {err}"),
    }
}

async fn run_fault(args: &[&str]) -> Result<String, fault::FaultCliError> {
    let mut out = Vec::new();
    fault::execute(fault_command(args), &mut out).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn fault_subcommands_drive_a_live_api() {
    let api = start_api().await;
    let url = api.url.clone();
    let upstream = echo_server().await.to_string();
    let at = |args: &[&str]| -> Vec<String> {
        args.iter()
            .map(|s| s.to_string())
            .chain(["--url".to_owned(), url.clone()])
            .collect()
    };
    let run = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_fault(&args).await
    };

    let created = run(at(&["create", "web", "--upstream", &upstream]))
        .await
        .expect("create");
    let listen = api.call("GET", "/proxies/web", None).await.json()["listen"]
        .as_str()
        .expect("listen")
        .to_owned();
    assert_eq!(
        created,
        format!("created proxy web listening on {listen} → {upstream}\n")
    );

    run(at(&[
        "add",
        "web",
        "--type",
        "latency",
        "--latency",
        "250ms",
        "--jitter",
        "10ms",
    ]))
    .await
    .expect("add");
    run(at(&[
        "add",
        "web",
        "--type",
        "slicer",
        "--stream",
        "upstream",
        "--name",
        "slices",
        "--toxicity",
        "0.5",
        "--average-size",
        "100",
        "--delay",
        "2ms",
    ]))
    .await
    .expect("add slicer");
    let toxics = api.call("GET", "/proxies/web/toxics", None).await.json();
    assert_eq!(toxics[0]["name"], "slices");
    assert_eq!(
        toxics[0]["attributes"]["delay"], 2000,
        "slicer delay is sent in µs"
    );
    assert_eq!(
        toxics[1]["attributes"],
        json!({"latency": 250, "jitter": 10})
    );

    run(at(&[
        "update",
        "web",
        "latency_downstream",
        "--latency",
        "500ms",
    ]))
    .await
    .expect("update");
    let latency = api
        .call("GET", "/proxies/web/toxics/latency_downstream", None)
        .await
        .json();
    assert_eq!(latency["attributes"], json!({"latency": 500, "jitter": 10}));

    // Ports vary; masking them keeps the columns where they were.
    let mask = |address: &str| match address.rsplit_once(':') {
        Some((host, port)) => format!("{host}:{}", "P".repeat(port.len())),
        None => address.to_owned(),
    };
    let redact = |text: String| {
        text.replace(&listen, &mask(&listen))
            .replace(&upstream, &mask(&upstream))
    };
    insta::assert_snapshot!(
        "fault_list",
        redact(run(at(&["list"])).await.expect("list"))
    );
    insta::assert_snapshot!(
        "fault_inspect",
        redact(run(at(&["inspect", "web"])).await.expect("inspect"))
    );

    let toggled = run(at(&["toggle", "web"])).await.expect("toggle");
    assert_eq!(
        toggled,
        format!("proxy web is now disabled (listen {listen})\n")
    );
    assert_eq!(
        api.call("GET", "/proxies/web", None).await.json()["enabled"],
        false
    );
    run(at(&["toggle", "web"])).await.expect("toggle back");
    assert_eq!(
        api.call("GET", "/proxies/web", None).await.json()["enabled"],
        true
    );

    run(at(&["remove", "web", "slices"])).await.expect("remove");
    assert_eq!(
        api.call("GET", "/proxies/web/toxics", None)
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    run(at(&["reset"])).await.expect("reset");
    assert_eq!(
        api.call("GET", "/proxies/web/toxics", None).await.json(),
        json!([])
    );

    // The server's refusals come back with its message, as bad input.
    let err = run(at(&["add", "ghost", "--type", "latency"]))
        .await
        .expect_err("missing proxy");
    assert_eq!(err.to_string(), "proxy not found: \"ghost\" (HTTP 404)");
    assert_eq!(err.exit_code(), ExitCode::Usage);
    let err = run(at(&["add", "web", "--type", "latency", "--rate", "5"]))
        .await
        .expect_err("wrong attribute");
    assert!(
        err.to_string().contains("toxic attribute \"rate\""),
        "{err}"
    );
    assert_eq!(err.exit_code(), ExitCode::Usage);

    run(at(&["delete", "web"])).await.expect("delete");
    assert_eq!(run(at(&["list"])).await.expect("list"), "no proxies\n");
}

#[tokio::test]
async fn fault_version_answers_only_when_the_server_does() {
    let api = start_api().await;
    let out = run_fault(&["version", "--url", &api.url])
        .await
        .expect("version");
    let body: Value = serde_json::from_str(out.trim()).expect("the server's /version JSON");
    assert!(body["version"].is_string(), "{out}");
    let nothing = format!("http://{}", closed_port().await);
    let err = run_fault(&["version", "--url", &nothing])
        .await
        .expect_err("unreachable");
    assert_eq!(err.exit_code(), ExitCode::Internal);
}

#[tokio::test]
async fn fault_reports_an_unreachable_server_as_an_internal_error() {
    let nothing = format!("http://{}", closed_port().await);
    let err = run_fault(&["list", "--url", &nothing])
        .await
        .expect_err("unreachable");
    assert!(
        err.to_string().starts_with(&format!(
            "cannot reach the faultline API at {nothing}/proxies"
        )),
        "{err}"
    );
    assert_eq!(err.exit_code(), ExitCode::Internal);
    let err = run_fault(&["list", "--url", "ftp://127.0.0.1:1"])
        .await
        .expect_err("bad url");
    assert_eq!(err.exit_code(), ExitCode::Usage);
}

#[test]
fn fault_flags_are_typed() {
    let parse =
        |args: &[&str]| Cli::try_parse_from(["faultline", "fault"].iter().chain(args).copied());
    assert!(parse(&["add", "web", "--type", "latency", "--latency", "250ms"]).is_ok());
    assert!(
        parse(&["add", "web", "--type", "latency", "--latency", "250"]).is_err(),
        "a duration needs a unit"
    );
    assert!(
        parse(&["add", "web", "--type", "lag"]).is_err(),
        "unknown type"
    );
    assert!(parse(&["add", "web", "--type", "latency", "--toxicity", "1.5"]).is_err());
    assert!(parse(&["add", "web", "--type", "latency", "--stream", "sideways"]).is_err());
    assert!(parse(&["add", "web", "--type", "bandwidth", "--rate", "-1"]).is_err());
    assert!(parse(&[
        "add",
        "web",
        "--type",
        "blackhole",
        "--on-heal",
        "deliver_now"
    ])
    .is_ok());
    assert!(parse(&["update", "web", "latency_downstream", "--jitter", "1s"]).is_ok());
}

// ---------------------------------------------------------------- toxiproxy-python

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_toxiproxy_python_client_drives_the_api() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/python-env` at the repository root first (it installs toxiproxy-python 0.1.1)",
        python.display()
    );
    let api = start_api().await;
    let script = root.join("harness/tests/api/toxiproxy_client.py");
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg("--url")
        .arg(&api.url)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "toxiproxy-python failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("all checks passed"), "{stdout}\n{stderr}");
}
