//! `/faultline/leases`: what is created under a lease is healed when the
//! lease lapses or is released; what is created without one is untouched.

use super::*;

/// The lease `id` as `GET /faultline/leases` shows it.
async fn lease(api: &Api, id: &str) -> Value {
    let all = api.call("GET", "/faultline/leases", None).await.json();
    all.as_array()
        .and_then(|a| a.iter().find(|l| l["id"] == id).cloned())
        .unwrap_or_else(|| panic!("no lease {id} in {all}"))
}

/// Waits (bounded) until lease `id` is no longer active.
async fn wait_until_ended(api: &Api, id: &str) -> Value {
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let lease = lease(api, id).await;
        if lease["state"] != "active" {
            return lease;
        }
        assert!(Instant::now() < give_up, "lease {id} never lapsed: {lease}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_lapsed_lease_heals_what_it_covered_and_nothing_else() {
    let api = start_api().await;
    let upstream = echo_server().await;
    // Toxiproxy's way: no lease.
    api.proxy("plain", upstream).await;
    assert_eq!(
        api.toxic("plain", json!({"type": "latency"})).await.status,
        StatusCode::OK
    );

    let reply = api
        .call(
            "POST",
            "/faultline/leases",
            Some(r#"{"holder": "test", "ttl": "300ms"}"#),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(reply.json()["ttl_ms"], 300);
    let leased = [("x-faultline-lease", id.as_str())];
    let body = json!({"name": "leased", "upstream": upstream.to_string()}).to_string();
    let reply = api
        .call_with("POST", "/proxies", Some(&body), &leased)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let reply = api
        .call_with(
            "POST",
            "/proxies/leased/toxics",
            Some(r#"{"type": "blackhole"}"#),
            &leased,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = api
        .call_with(
            "POST",
            "/proxies/plain/toxics",
            Some(r#"{"type": "timeout"}"#),
            &leased,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let shown = lease(&api, &id).await;
    assert_eq!(shown["proxies"], json!(["leased"]), "{shown}");
    assert_eq!(shown["toxics"].as_array().map(Vec::len), Some(2), "{shown}");

    // Never renewed: it lapses, and the agent heals what it covered.
    let ended = wait_until_ended(&api, &id).await;
    assert_eq!(ended["state"], "lapsed", "{ended}");
    assert_eq!(ended["healed"].as_array().map(Vec::len), Some(3), "{ended}");
    assert_eq!(
        api.call("GET", "/proxies/leased", None).await.status,
        StatusCode::NOT_FOUND
    );
    let plain = api.call("GET", "/proxies/plain", None).await.json();
    let names: Vec<&str> = plain["toxics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["latency_downstream"],
        "the unleased toxic stays: {plain}"
    );

    // A lapsed lease is not renewed, and covers nothing new.
    let reply = api
        .call("POST", &format!("/faultline/leases/{id}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = api
        .call_with(
            "POST",
            "/proxies/plain/toxics",
            Some(r#"{"type": "slow_close"}"#),
            &leased,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert!(
        reply.detail().contains("x-faultline-lease"),
        "{}",
        reply.body
    );
    assert_eq!(
        api.call("GET", "/proxies/plain/toxics/slow_close_downstream", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_renewed_lease_keeps_its_faults_and_a_released_one_heals_them() {
    let api = start_api().await;
    let upstream = echo_server().await;
    let reply = api
        .call("POST", "/faultline/leases", Some(r#"{"ttl": "500ms"}"#))
        .await;
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let leased = [("x-faultline-lease", id.as_str())];
    let body = json!({"name": "kept", "upstream": upstream.to_string()}).to_string();
    api.call_with("POST", "/proxies", Some(&body), &leased)
        .await;
    api.call_with(
        "POST",
        "/proxies/kept/toxics",
        Some(r#"{"type": "latency"}"#),
        &leased,
    )
    .await;
    // Renewed on each answer, for many TTLs: it never lapses.
    for _ in 0..20 {
        let reply = api
            .call("POST", &format!("/faultline/leases/{id}"), None)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.json()["state"], "active");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lease(&api, &id).await["renewals"], 20);
    let toxics = api.call("GET", "/proxies/kept/toxics", None).await.json();
    assert_eq!(toxics.as_array().map(Vec::len), Some(1), "{toxics}");

    let reply = api
        .call("DELETE", &format!("/faultline/leases/{id}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let ended = lease(&api, &id).await;
    assert_eq!(ended["state"], "released", "{ended}");
    assert_eq!(
        api.call("GET", "/proxies/kept", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_lease_requests_name_the_field() {
    let api = start_api().await;
    let reply = api
        .call("POST", "/faultline/leases", Some(r#"{"ttl": "1ms"}"#))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(reply.detail().starts_with("ttl:"), "{}", reply.body);
    let reply = api
        .call("POST", "/faultline/leases", Some(r#"{"tll": "1s"}"#))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(reply.detail().contains("tll"), "{}", reply.body);
    let reply = api.call("DELETE", "/faultline/leases/lease-99", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = api
        .call_with(
            "POST",
            "/proxies",
            Some(r#"{"name": "x", "upstream": "127.0.0.1:9"}"#),
            &[("x-faultline-lease", "lease-99")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(
        api.call("GET", "/proxies/x", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn a_lease_ttl_outside_the_range_is_refused_at_start() {
    let mut args = ServeArgs::new("127.0.0.1".parse().unwrap(), 0);
    args.lease_ttl = Duration::from_millis(1);
    let err = serve::check(args).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Usage);
    assert!(err.to_string().starts_with("--lease-ttl: 1ms"), "{err}");
}
