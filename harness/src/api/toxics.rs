//! Handlers of `/proxies/{proxy}/toxics` and `/proxies/{proxy}/toxics/{toxic}`.

use bytes::Bytes;
use faultline_proxies::{Proxy, ProxyError, Registry};
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::error::ApiError;
use super::respond::{json, no_content};
use crate::wire::decode_object;
use crate::wire::shapes::{toxics_of, ToxicConfig, ToxicJson};

type Reply = Result<Response<Full<Bytes>>, ApiError>;

/// `GET /proxies/{proxy}/toxics`: an array, upstream toxics first.
pub async fn list(registry: &Registry, proxy: &str) -> Reply {
    json(
        StatusCode::OK,
        &toxics_of(&registry.get(proxy).await?.info()),
    )
}

/// `POST /proxies/{proxy}/toxics`: adds a toxic: 200 with the toxic.
pub async fn create(registry: &Registry, proxy: &str, body: &Bytes) -> Reply {
    let proxy = registry.get(proxy).await?;
    let fault = decode_object::<ToxicConfig>(body)?.into_fault()?;
    let shown = ToxicJson::from(&fault);
    proxy.add_fault(fault)?;
    json(StatusCode::OK, &shown)
}

/// `GET /proxies/{proxy}/toxics/{toxic}`.
pub async fn show(registry: &Registry, proxy: &str, toxic: &str) -> Reply {
    let proxy = registry.get(proxy).await?;
    json(StatusCode::OK, &ToxicJson::from(&existing(&proxy, toxic)?))
}

/// `POST|PATCH /proxies/{proxy}/toxics/{toxic}`: a partial update; `toxicity`
/// and each attribute given replace the current value, the rest is kept.
pub async fn update(registry: &Registry, proxy: &str, toxic: &str, body: &Bytes) -> Reply {
    let proxy = registry.get(proxy).await?;
    let current = existing(&proxy, toxic)?;
    let fault = decode_object::<ToxicConfig>(body)?.update(&current)?;
    let shown = ToxicJson::from(&fault);
    proxy.replace_fault(fault)?;
    json(StatusCode::OK, &shown)
}

/// `DELETE /proxies/{proxy}/toxics/{toxic}`: 204.
pub async fn delete(registry: &Registry, proxy: &str, toxic: &str) -> Reply {
    registry.get(proxy).await?.remove_fault(toxic)?;
    Ok(no_content())
}

fn existing(proxy: &Proxy, toxic: &str) -> Result<faultline_proxies::Fault, ApiError> {
    proxy
        .fault(toxic)
        .ok_or_else(|| ProxyError::FaultNotFound(toxic.to_owned()).into())
}
