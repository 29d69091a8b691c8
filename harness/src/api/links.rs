//! Handlers of `/faultline/links` and `/faultline/regions`: the agent's
//! proxies seen as a drill sees them.
//!
//! A drill names each proxy by its link id, `FROM->TO:SERVICE` (the remote
//! plane creates them so on an agent); a served proxy whose name parses as a
//! [`LinkId`] is a link, any other proxy is plain and not listed here.

use std::collections::BTreeMap;

use bytes::Bytes;
use faultline_proxies::{ProxyInfo, Registry};
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::error::ApiError;
use super::respond::json;
use crate::base::LinkId;
use crate::wire::links::{regions_of, LinkJson};

type Reply = Result<Response<Full<Bytes>>, ApiError>;

/// The links a registry serves: every proxy whose name is a link id, by id.
pub async fn served(registry: &Registry) -> BTreeMap<LinkId, ProxyInfo> {
    registry
        .list()
        .await
        .into_iter()
        .filter_map(|info| Some((info.name.parse::<LinkId>().ok()?, info)))
        .collect()
}

/// `GET /faultline/links`: every link, in id order.
pub async fn list(registry: &Registry) -> Reply {
    let links: Vec<LinkJson> = served(registry)
        .await
        .iter()
        .map(|(id, info)| LinkJson::new(id, info))
        .collect();
    json(StatusCode::OK, &links)
}

/// `GET /faultline/regions`: every region a link names, by name.
pub async fn regions(registry: &Registry) -> Reply {
    json(StatusCode::OK, &regions_of(served(registry).await.keys()))
}
