//! Toxiproxy 2.12's exact error texts in `error` (clients match on them), and
//! faultline's full message in `detail`.

use super::*;

/// One request and the error it must get.
struct Case {
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    headers: &'static [(&'static str, &'static str)],
    status: StatusCode,
    /// Toxiproxy's text, exactly.
    error: &'static str,
    /// What faultline's detail must contain (the name, the field, the types).
    detail: &'static [&'static str],
}

const fn case(
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    status: StatusCode,
    error: &'static str,
    detail: &'static [&'static str],
) -> Case {
    Case {
        method,
        path,
        body,
        headers: &[],
        status,
        error,
        detail,
    }
}

#[tokio::test]
async fn every_toxiproxy_error_has_its_exact_text_and_faultline_detail() {
    let api = start_api().await;
    api.proxy("web", echo_server().await).await;
    api.toxic(
        "web",
        json!({"type": "latency", "attributes": {"latency": 5}}),
    )
    .await;
    let bad = StatusCode::BAD_REQUEST;
    let cases = [
        case("GET", "/proxies/nope", None, StatusCode::NOT_FOUND, "proxy not found", &["\"nope\""]),
        case("DELETE", "/proxies/nope/toxics/x", None, StatusCode::NOT_FOUND, "proxy not found", &["\"nope\""]),
        case(
            "POST",
            "/proxies",
            Some(r#"{"name": "web", "upstream": "127.0.0.1:9"}"#),
            StatusCode::CONFLICT,
            "proxy already exists",
            &["\"web\""],
        ),
        case("GET", "/proxies/web/toxics/nope", None, StatusCode::NOT_FOUND, "toxic not found", &["\"nope\""]),
        case(
            "PATCH",
            "/proxies/web/toxics/nope",
            Some(r#"{"toxicity": 0.5}"#),
            StatusCode::NOT_FOUND,
            "toxic not found",
            &["\"nope\""],
        ),
        case(
            "POST",
            "/proxies/web/toxics",
            Some(r#"{"type": "latency"}"#),
            StatusCode::CONFLICT,
            "toxic already exists",
            &["\"latency_downstream\""],
        ),
        case(
            "POST",
            "/proxies",
            Some(r#"{"upstream": "127.0.0.1:9"}"#),
            bad,
            "missing required field: name",
            &["name"],
        ),
        case("POST", "/proxies", Some(r#"{"name": "x"}"#), bad, "missing required field: upstream", &["upstream"]),
        case(
            "POST",
            "/populate",
            Some(r#"[{"upstream": "127.0.0.1:9"}]"#),
            bad,
            "missing required field: name at proxy 1",
            &["[0]", "name"],
        ),
        case(
            "POST",
            "/populate",
            Some(r#"{"proxies": [{"name": "a", "upstream": "127.0.0.1:9"}, {"name": "b"}]}"#),
            bad,
            "missing required field: upstream at proxy 2",
            &["proxies[1]", "upstream"],
        ),
        case(
            "POST",
            "/proxies/web/toxics",
            Some(r#"{"type": "latency", "stream": "sideways"}"#),
            bad,
            "stream was invalid, can be either upstream or downstream",
            &["stream", "\"sideways\""],
        ),
        // Toxiproxy checks the stream before the type.
        case(
            "POST",
            "/proxies/web/toxics",
            Some(r#"{"type": "lag", "stream": "sideways"}"#),
            bad,
            "stream was invalid, can be either upstream or downstream",
            &["\"sideways\""],
        ),
        case(
            "POST",
            "/proxies/web/toxics",
            Some(r#"{"type": "lag"}"#),
            bad,
            "invalid toxic type",
            &["type", "\"lag\"", "known types: latency, bandwidth"],
        ),
        case(
            "POST",
            "/proxies/web/toxics",
            Some(r#"{"attributes": {"latency": 5}}"#),
            bad,
            "invalid toxic type",
            &["type", "missing required field"],
        ),
        case(
            "POST",
            "/proxies/web/toxics",
            Some(r#"{"type": "latency""#),
            bad,
            "bad request body: EOF while parsing an object at line 1 column 18",
            &["bad request body"],
        ),
        case(
            "POST",
            "/proxies",
            Some(r#"{"name": "x", "upstream": "127.0.0.1:9", "enabled": "yes"}"#),
            bad,
            "bad request body: enabled: invalid type: string \"yes\", expected a boolean at line 1 column 57",
            &["enabled"],
        ),
        case("GET", "/no/such/route", None, StatusCode::NOT_FOUND, "404 page not found", &["no such route: /no/such/route"]),
        Case {
            headers: &[("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")],
            ..case("GET", "/proxies", None, StatusCode::FORBIDDEN, "User agent not allowed", &["browsers"])
        },
    ];
    for case in &cases {
        let reply = api
            .call_with(case.method, case.path, case.body, case.headers)
            .await;
        let what = format!("{} {} {}", case.method, case.path, case.body.unwrap_or(""));
        assert_eq!(reply.status, case.status, "{what}: {}", reply.body);
        assert_eq!(reply.error(), case.error, "{what}: {}", reply.body);
        let detail = reply.detail();
        for part in case.detail {
            assert!(
                detail.contains(part),
                "{what}: detail {detail:?} lacks {part:?}"
            );
        }
    }
    // faultline's own errors (no Toxiproxy case) say the same in both fields.
    let reply = api
        .call(
            "POST",
            "/proxies/web/toxics",
            Some(r#"{"type": "latency", "name": "t", "toxicity": 1.5}"#),
        )
        .await;
    assert_eq!(reply.status, bad);
    assert_eq!(
        reply.error(),
        "toxicity: 1.5 is not a probability within 0..=1"
    );
    assert_eq!(reply.detail(), reply.error());
}
