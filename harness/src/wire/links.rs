//! The JSON shapes of faultline's own link routes, `/faultline/links` and
//! `/faultline/regions`: what the server answers and the client reads.

use std::collections::BTreeMap;

use faultline_proxies::ProxyInfo;
use serde::{Deserialize, Serialize};

use super::shapes::{toxics_of, ToxicJson};
use crate::base::LinkId;

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
    /// The link `id` as served by the proxy `info`.
    pub fn new(id: &LinkId, info: &ProxyInfo) -> Self {
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
