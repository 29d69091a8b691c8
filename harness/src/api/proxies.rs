//! Handlers of `/proxies`, `/proxies/{proxy}`, `/populate` and `/reset`.

use std::collections::BTreeMap;

use bytes::Bytes;
use faultline_proxies::{ProxyUpdate, Registry};
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::error::ApiError;
use super::populate::populate as populate_plans;
use super::respond::{json, no_content};
use crate::wire::decode_object;
use crate::wire::shapes::{PopulateConfig, PopulateJson, ProxyConfig, ProxyJson};

type Reply = Result<Response<Full<Bytes>>, ApiError>;

/// `GET /proxies`: every proxy, as a map from name to proxy.
pub async fn list(registry: &Registry) -> Reply {
    let proxies: BTreeMap<String, ProxyJson> = registry
        .list()
        .await
        .iter()
        .map(|info| (info.name.clone(), ProxyJson::from(info)))
        .collect();
    json(StatusCode::OK, &proxies)
}

/// `POST /proxies`: creates a proxy (and the toxics it lists): 201.
pub async fn create(registry: &Registry, body: &Bytes) -> Reply {
    let plan = decode_object::<ProxyConfig>(body)?.into_plan()?;
    let name = plan.spec.name.clone();
    let proxy = registry.create(plan.spec).await?;
    for fault in plan.toxics.unwrap_or_default() {
        if let Err(err) = proxy.add_fault(fault) {
            let _ = registry.remove(&name).await;
            return Err(err.into());
        }
    }
    json(StatusCode::CREATED, &ProxyJson::from(&proxy.info()))
}

/// `GET /proxies/{proxy}`.
pub async fn show(registry: &Registry, name: &str) -> Reply {
    json(
        StatusCode::OK,
        &ProxyJson::from(&registry.get(name).await?.info()),
    )
}

/// `POST|PATCH /proxies/{proxy}`: a partial update; absent fields are kept.
///
/// Disabling keeps the port: the proxy's listen address becomes the address it
/// was bound to, so enabling it again (or `/reset`) listens on the same port,
/// as Toxiproxy does, even when it was created with port 0. (Clients such as
/// Toxiproxy's Go client send the whole proxy back, real port included.)
pub async fn update(registry: &Registry, name: &str, body: &Bytes) -> Reply {
    let before = registry.get(name).await?.info();
    let update = decode_object::<ProxyConfig>(body)?.into_update(name)?;
    let pin = before.enabled
        && update.enabled == Some(false)
        && update
            .listen
            .as_ref()
            .is_none_or(|listen| *listen == before.listen);
    let info = registry.update(name, update).await?;
    let info = if pin {
        registry
            .update(
                name,
                ProxyUpdate {
                    listen: Some(before.listen),
                    ..ProxyUpdate::default()
                },
            )
            .await?
    } else {
        info
    };
    json(StatusCode::OK, &ProxyJson::from(&info))
}

/// `DELETE /proxies/{proxy}`: stops and removes it: 204.
pub async fn delete(registry: &Registry, name: &str) -> Reply {
    registry.remove(name).await?;
    Ok(no_content())
}

/// `POST /populate`: creates or replaces every proxy listed: 201 `{"proxies": […]}`.
pub async fn populate(registry: &Registry, body: &Bytes) -> Reply {
    let plans = PopulateConfig::decode(body)?.into_plans()?;
    let infos = populate_plans(registry, plans).await?;
    json(
        StatusCode::CREATED,
        &PopulateJson {
            proxies: infos.iter().map(ProxyJson::from).collect(),
        },
    )
}

/// `POST /reset`: removes every toxic and enables every proxy: 204.
pub async fn reset(registry: &Registry) -> Reply {
    registry.reset().await?;
    Ok(no_content())
}
