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
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::routes::json;
use super::shapes::{toxics_of, ToxicJson};
use crate::scenario::LinkId;

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

/// A link as `GET /faultline/links` shows it (and the client reads it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkJson {
    /// The link id, `FROM->TO:SERVICE`.
    pub link: String,
    /// The region whose clients use the link.
    pub from: String,
    /// The region whose service it reaches.
    pub to: String,
    /// The service reached.
    pub service: String,
    /// The proxy's name (the id as the proxy was named).
    pub proxy: String,
    /// The address the proxy listens on.
    pub listen: String,
    /// Where it forwards.
    pub upstream: String,
    /// Whether it listens.
    pub enabled: bool,
    /// Its toxics, in the shape `/proxies/{proxy}/toxics` answers.
    pub faults: Vec<ToxicJson>,
}

impl LinkJson {
    fn new(id: &LinkId, info: &ProxyInfo) -> Self {
        Self {
            link: id.to_string(),
            from: id.from.clone(),
            to: id.to.clone(),
            service: id.service.clone(),
            proxy: info.name.clone(),
            listen: info.listen.clone(),
            upstream: info.upstream.clone(),
            enabled: info.enabled,
            faults: toxics_of(info),
        }
    }
}

/// A region as `GET /faultline/regions` shows it (and the client reads it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionJson {
    /// The region's name.
    pub name: String,
    /// Links from this region's clients, by id.
    pub outbound: Vec<String>,
    /// Links to this region's services, by id.
    pub inbound: Vec<String>,
}

/// The regions the links name, by name, with their links in id order.
pub fn regions_of<'a>(links: impl IntoIterator<Item = &'a LinkId>) -> Vec<RegionJson> {
    fn region<'r>(regions: &'r mut BTreeMap<String, RegionJson>, name: &str) -> &'r mut RegionJson {
        regions
            .entry(name.to_owned())
            .or_insert_with(|| RegionJson {
                name: name.to_owned(),
                ..RegionJson::default()
            })
    }
    let mut regions: BTreeMap<String, RegionJson> = BTreeMap::new();
    for id in links {
        region(&mut regions, &id.from).outbound.push(id.to_string());
        region(&mut regions, &id.to).inbound.push(id.to_string());
    }
    let mut regions: Vec<RegionJson> = regions.into_values().collect();
    for region in &mut regions {
        region.outbound.sort();
        region.inbound.sort();
    }
    regions
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_list_their_links_both_ways_sorted_by_name() {
        let ids = [
            LinkId::new("us-east", "eu-west", "kv"),
            LinkId::new("eu-west", "us-east", "kv"),
            LinkId::new("ap-south", "us-east", "feed"),
        ];
        let regions = regions_of(&ids);
        let names: Vec<&str> = regions.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["ap-south", "eu-west", "us-east"]);
        assert_eq!(regions[2].outbound, ["us-east->eu-west:kv"]);
        assert_eq!(
            regions[2].inbound,
            ["ap-south->us-east:feed", "eu-west->us-east:kv"]
        );
        assert!(regions[0].inbound.is_empty());
    }
}
