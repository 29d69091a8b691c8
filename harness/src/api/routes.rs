//! The routing table: method and path → handler, and the replies they send.
//!
//! | path | methods |
//! |---|---|
//! | `/proxies` | GET (map name → proxy), POST (create: 201) |
//! | `/populate` | POST (create or replace many: 201 `{"proxies": […]}`) |
//! | `/reset` | POST (remove every toxic, enable every proxy: 204) |
//! | `/version` | GET |
//! | `/metrics` | GET (Prometheus text) |
//! | `/proxies/{proxy}` | GET, POST or PATCH (partial update), DELETE (204) |
//! | `/proxies/{proxy}/toxics` | GET (array), POST (add: 200) |
//! | `/proxies/{proxy}/toxics/{toxic}` | GET, POST or PATCH (partial update), DELETE (204) |
//!
//! faultline's own, under `/faultline/` so none can collide with Toxiproxy's:
//!
//! | path | methods |
//! |---|---|
//! | `/faultline/links` | GET (array: every proxy named `FROM->TO:SERVICE`, with its toxics) |
//! | `/faultline/regions` | GET (array by name: `{name, outbound, inbound}` link ids) |
//! | `/faultline/schedules` | GET (array: `{id, state, started_at}`), POST (validate, expand and start a scenario `schedule` on these links: 201 `{"id", "plan"}`) |
//! | `/faultline/schedules/{id}` | GET (`{id, state, started_at, changes, error?}`), DELETE (cancel and heal: 204) |
//! | `/faultline/leases` | GET (array of leases), POST (`{holder?, ttl?}`: 201 with the lease) |
//! | `/faultline/leases/{id}` | POST (renew: 200), DELETE (end and heal what it covers: 204) |
//!
//! A `POST /proxies`, `POST /proxies/{proxy}/toxics` or `POST
//! /faultline/schedules` carrying `X-Faultline-Lease: <id>` is noted under
//! that lease (409 when the lease is not active).
//!
//! Anything else is 404; a known path with another method is 405 with `Allow`.
//! Path segments are percent-decoded; the query string is ignored.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use super::error::ApiError;
use super::leases::{Creation, LEASE_HEADER};
use super::respond::{reply, text};
use super::state::ApiState;
use super::{access, body, leases, links, metrics, proxies, schedules, toxics};

/// The Toxiproxy version whose API this one matches. Clients compare it
/// (toxiproxy-ruby and toxiproxy-netcore use PATCH from 2.6 on; the .NET one
/// parses it with `System.Version`, which refuses suffixes), so it stays a
/// plain `major.minor.patch`; faultline's own version is a separate field.
pub const TOXIPROXY_VERSION: &str = "2.12.0";

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Proxies,
    Populate,
    Reset,
    Version,
    Metrics,
    Proxy(String),
    Toxics(String),
    Toxic(String, String),
    Links,
    Regions,
    Schedules,
    Schedule(String),
    Leases,
    Lease(String),
}

impl Route {
    fn parse(path: &str) -> Result<Route, ApiError> {
        let not_found = || ApiError::no_route(path);
        let segments: Vec<&str> = path
            .strip_prefix('/')
            .ok_or_else(not_found)?
            .split('/')
            .collect();
        let decode = |segment: &str| {
            percent_decode(segment)
                .filter(|s| !s.is_empty())
                .ok_or_else(not_found)
        };
        Ok(match segments.as_slice() {
            ["proxies"] => Route::Proxies,
            ["populate"] => Route::Populate,
            ["reset"] => Route::Reset,
            ["version"] => Route::Version,
            ["metrics"] => Route::Metrics,
            ["proxies", proxy] => Route::Proxy(decode(proxy)?),
            ["proxies", proxy, "toxics"] => Route::Toxics(decode(proxy)?),
            ["proxies", proxy, "toxics", toxic] => Route::Toxic(decode(proxy)?, decode(toxic)?),
            ["faultline", "links"] => Route::Links,
            ["faultline", "regions"] => Route::Regions,
            ["faultline", "schedules"] => Route::Schedules,
            ["faultline", "schedules", id] => Route::Schedule(decode(id)?),
            ["faultline", "leases"] => Route::Leases,
            ["faultline", "leases", id] => Route::Lease(decode(id)?),
            _ => return Err(not_found()),
        })
    }

    /// The methods the route answers, as an `Allow` header value.
    fn allow(&self) -> &'static str {
        match self {
            Route::Proxies => "GET, POST",
            Route::Populate | Route::Reset => "POST",
            Route::Version | Route::Metrics | Route::Links | Route::Regions => "GET",
            Route::Proxy(_) | Route::Toxic(..) => "GET, POST, PATCH, DELETE",
            Route::Toxics(_) | Route::Schedules | Route::Leases => "GET, POST",
            Route::Schedule(_) => "GET, DELETE",
            Route::Lease(_) => "POST, DELETE",
        }
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or invalid UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Answers one request; never fails (errors become error responses).
pub async fn handle(state: &ApiState, request: Request<Incoming>) -> Response<Full<Bytes>> {
    match dispatch(state, request).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn dispatch(
    state: &ApiState,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    access::check(request.method(), request.headers(), state.token())?;
    let route = Route::parse(request.uri().path())?;
    let method = request.method().clone();
    let allowed = route.allow().split(", ").any(|m| m == method.as_str());
    if !allowed {
        return Err(ApiError::MethodNotAllowed {
            method: method.to_string(),
            allow: route.allow(),
        });
    }
    let lease = request
        .headers()
        .get(LEASE_HEADER)
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let body = if method == Method::POST || method == Method::PATCH {
        body::read(request).await?
    } else {
        Bytes::new()
    };
    // Mutations run one at a time, so a populate or a read-modify-write toxic
    // update never interleaves with another change made through the API.
    let _exclusive = if access::is_mutating(&method) {
        Some(state.mutations().lock().await)
    } else {
        None
    };
    let covers = method == Method::POST
        && matches!(route, Route::Proxies | Route::Toxics(_) | Route::Schedules);
    if let (Some(id), true) = (&lease, covers) {
        state.leases().check_active(id)?;
    }
    let toxics_of = match &route {
        Route::Toxics(proxy) => Some(proxy.clone()),
        _ => None,
    };
    // Whatever removes a proxy or toxic, a lease no longer covers it.
    match (&route, &method) {
        (Route::Proxy(name), &Method::DELETE) => state.leases().uncover(name, None),
        (Route::Toxic(proxy, toxic), &Method::DELETE) => state.leases().uncover(proxy, Some(toxic)),
        _ => {}
    }
    let response = route_to(state, route, method, &body).await?;
    match (lease, covers) {
        (Some(id), true) => cover(state, &id, toxics_of, response).await,
        _ => Ok(response),
    }
}

/// Notes what a successful creation made under lease `id`; if the lease
/// ended meanwhile, undoes it and answers 409.
async fn cover(
    state: &ApiState,
    id: &str,
    toxics_of: Option<String>,
    response: Response<Full<Bytes>>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    use http_body_util::BodyExt;
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let field = |name: &str| value[name].as_str().unwrap_or_default().to_owned();
    let creation = match toxics_of {
        Some(proxy) => Creation::Toxic(proxy, field("name")),
        None if value.get("plan").is_some() => Creation::Schedule(field("id")),
        None => Creation::Proxy(field("name")),
    };
    if !state.leases().cover(id, creation.clone()) {
        match creation {
            Creation::Proxy(name) => {
                let _ = state.registry().remove(&name).await;
            }
            Creation::Toxic(proxy, toxic) => {
                if let Ok(proxy) = state.registry().get(&proxy).await {
                    let _ = proxy.remove_fault(&toxic);
                }
            }
            Creation::Schedule(id) => {
                let _ = state.schedules().cancel(&id).await;
            }
        }
        return Err(state.leases().check_active(id).unwrap_err());
    }
    Ok(Response::from_parts(parts, Full::new(bytes)))
}

async fn route_to(
    state: &ApiState,
    route: Route,
    method: Method,
    body: &Bytes,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let registry = state.registry();
    let body = body.clone();
    match (route, method) {
        (Route::Proxies, Method::GET) => proxies::list(registry).await,
        (Route::Proxies, _) => proxies::create(registry, &body).await,
        (Route::Populate, _) => proxies::populate(registry, &body).await,
        (Route::Reset, _) => proxies::reset(registry).await,
        (Route::Version, _) => Ok(version()),
        (Route::Metrics, _) => Ok(text(
            metrics::CONTENT_TYPE,
            metrics::render(&registry.stats().await),
        )),
        (Route::Proxy(name), Method::GET) => proxies::show(registry, &name).await,
        (Route::Proxy(name), Method::DELETE) => proxies::delete(registry, &name).await,
        (Route::Proxy(name), _) => proxies::update(registry, &name, &body).await,
        (Route::Toxics(proxy), Method::GET) => toxics::list(registry, &proxy).await,
        (Route::Toxics(proxy), _) => toxics::create(registry, &proxy, &body).await,
        (Route::Toxic(proxy, toxic), Method::GET) => toxics::show(registry, &proxy, &toxic).await,
        (Route::Toxic(proxy, toxic), Method::DELETE) => {
            toxics::delete(registry, &proxy, &toxic).await
        }
        (Route::Toxic(proxy, toxic), _) => toxics::update(registry, &proxy, &toxic, &body).await,
        (Route::Links, _) => links::list(registry).await,
        (Route::Regions, _) => links::regions(registry).await,
        (Route::Schedules, Method::GET) => schedules::list(state.schedules()),
        (Route::Schedules, _) => schedules::create(registry, state.schedules(), &body).await,
        (Route::Schedule(id), Method::GET) => schedules::show(state.schedules(), &id),
        (Route::Schedule(id), _) => schedules::cancel(state.schedules(), &id).await,
        (Route::Leases, Method::GET) => leases::list(state.leases()),
        (Route::Leases, _) => leases::create(state.leases(), &body),
        (Route::Lease(id), Method::DELETE) => {
            leases::release(state.leases(), &id, registry, state.schedules()).await
        }
        (Route::Lease(id), _) => leases::renew(state.leases(), &id),
    }
}

/// `GET /version`: `{"version": "2.12.0", "faultline": "<crate version>"}`.
fn version() -> Response<Full<Bytes>> {
    #[derive(Serialize)]
    struct Version {
        version: &'static str,
        faultline: &'static str,
    }
    let mut body = serde_json::to_vec(&Version {
        version: TOXIPROXY_VERSION,
        faultline: env!("CARGO_PKG_VERSION"),
    })
    .unwrap_or_default();
    body.push(b'\n');
    reply(
        StatusCode::OK,
        "application/json; charset=utf-8",
        body.into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_to_routes_with_decoded_names() {
        assert_eq!(Route::parse("/proxies"), Ok(Route::Proxies));
        assert_eq!(
            Route::parse("/proxies/my%20db/toxics"),
            Ok(Route::Toxics("my db".into()))
        );
        assert_eq!(
            Route::parse("/proxies/a/toxics/b"),
            Ok(Route::Toxic("a".into(), "b".into()))
        );
        assert_eq!(
            Route::parse("/faultline/schedules/sched-1"),
            Ok(Route::Schedule("sched-1".into()))
        );
        assert_eq!(Route::parse("/faultline/links"), Ok(Route::Links));
    }

    #[test]
    fn unknown_and_malformed_paths_are_not_found() {
        for path in [
            "/",
            "/proxies/",
            "/proxies//toxics",
            "/proxies/a/b",
            "/proxies/%zz",
            "/nope",
            "proxies",
            "/faultline",
            "/faultline/",
            "/faultline/schedules/",
            "/faultline/links/x",
        ] {
            let err = Route::parse(path).unwrap_err();
            assert_eq!(err.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }
}
