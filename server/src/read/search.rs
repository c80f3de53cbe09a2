//! One search box for everything: an IP, a MAC, an ENI or subnet id, a pod (`name`,
//! `namespace/name` or a name prefix) or a node name, answered as of a time.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use podwire_node_state::MacAddr;

use super::{ReadError, Reader, SubnetSummary};
use crate::store::queries::{AttachmentInterval, NodeLiveness};
use crate::store::{EniFilter, EniInterval, PodPageFilter};

/// How many matches of each kind a search returns.
pub const SEARCH_LIMIT: i64 = 50;

/// What the text typed was taken for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchQuery {
    Ip(IpAddr),
    Mac(MacAddr),
    Eni(String),
    Subnet(String),
    /// `namespace/name`: one pod exactly.
    Pod {
        namespace: String,
        name: String,
    },
    /// Anything else: a prefix of pod and node names.
    Name(String),
}

impl SearchQuery {
    /// Reads the search text; `None` when it is blank.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Some(SearchQuery::Ip(ip));
        }
        if let Ok(mac) = text.parse::<MacAddr>() {
            return Some(SearchQuery::Mac(mac));
        }
        if text.starts_with("eni-") {
            return Some(SearchQuery::Eni(text.to_owned()));
        }
        if text.starts_with("subnet-") {
            return Some(SearchQuery::Subnet(text.to_owned()));
        }
        if let Some((namespace, name)) = text.split_once('/')
            && !namespace.is_empty()
            && !name.is_empty()
        {
            return Some(SearchQuery::Pod {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            });
        }
        Some(SearchQuery::Name(text.to_owned()))
    }

    /// What the query was understood as, for the results' heading.
    pub fn describe(&self) -> String {
        match self {
            SearchQuery::Ip(ip) => format!("IP address {ip}"),
            SearchQuery::Mac(mac) => format!("MAC address {mac}"),
            SearchQuery::Eni(id) => format!("ENI {id}"),
            SearchQuery::Subnet(id) => format!("subnet {id}"),
            SearchQuery::Pod { namespace, name } => format!("pod {namespace}/{name}"),
            SearchQuery::Name(text) => format!("pods and nodes named {text}…"),
        }
    }
}

/// Everything that matched at T.
#[derive(Debug, Clone)]
pub struct SearchResults {
    pub query: SearchQuery,
    pub at: DateTime<Utc>,
    pub pods: Vec<AttachmentInterval>,
    pub enis: Vec<EniInterval>,
    pub nodes: Vec<NodeLiveness>,
    pub subnets: Vec<SubnetSummary>,
}

impl SearchResults {
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
            && self.enis.is_empty()
            && self.nodes.is_empty()
            && self.subnets.is_empty()
    }
}

impl Reader {
    /// Runs a search as of `at`.
    pub async fn search(
        &self,
        query: SearchQuery,
        at: DateTime<Utc>,
    ) -> Result<SearchResults, ReadError> {
        let mut results = SearchResults {
            query: query.clone(),
            at,
            pods: Vec::new(),
            enis: Vec::new(),
            nodes: Vec::new(),
            subnets: Vec::new(),
        };
        let pods = |filter: PodPageFilter| async move {
            self.store
                .pods_page(
                    &PodPageFilter {
                        limit: SEARCH_LIMIT,
                        ..filter
                    },
                    at,
                )
                .await
        };
        match query {
            SearchQuery::Ip(ip) => {
                results.pods = pods(PodPageFilter {
                    ip: Some(ip),
                    ..PodPageFilter::default()
                })
                .await?;
            }
            SearchQuery::Mac(mac) => {
                let mut found = pods(PodPageFilter {
                    mac: Some(mac),
                    ..PodPageFilter::default()
                })
                .await?;
                found.extend(
                    pods(PodPageFilter {
                        eni_mac: Some(mac),
                        ..PodPageFilter::default()
                    })
                    .await?,
                );
                results.pods = found;
                results.enis = self
                    .store
                    .enis_at(
                        &EniFilter {
                            mac: Some(mac),
                            ..EniFilter::default()
                        },
                        at,
                    )
                    .await?;
            }
            SearchQuery::Eni(id) => {
                results.enis = self
                    .store
                    .enis_at(
                        &EniFilter {
                            eni_id: Some(id),
                            ..EniFilter::default()
                        },
                        at,
                    )
                    .await?;
            }
            SearchQuery::Subnet(id) => {
                let enis = self
                    .store
                    .enis_at(
                        &EniFilter {
                            subnet_id: Some(id),
                            ..EniFilter::default()
                        },
                        at,
                    )
                    .await?;
                results.subnets = super::overview::subnet_summaries(&enis);
                results.enis = enis;
            }
            SearchQuery::Pod { namespace, name } => {
                results.pods = self.store.pod_at(None, &namespace, &name, at).await?;
            }
            SearchQuery::Name(text) => {
                results.pods = pods(PodPageFilter {
                    name_prefix: Some(text.clone()),
                    ..PodPageFilter::default()
                })
                .await?;
                results.nodes = self
                    .store
                    .nodes_named_like(&text, Utc::now(), self.stale_after, SEARCH_LIMIT)
                    .await?;
            }
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_read_as_what_it_looks_like() {
        let cases = [
            (
                "172.31.55.218",
                SearchQuery::Ip("172.31.55.218".parse().unwrap()),
            ),
            (" fd00::5 ", SearchQuery::Ip("fd00::5".parse().unwrap())),
            (
                "02:d1:7d:e3:9c:ca",
                SearchQuery::Mac("02:d1:7d:e3:9c:ca".parse().unwrap()),
            ),
            ("eni-0a1b2c", SearchQuery::Eni("eni-0a1b2c".into())),
            ("subnet-9f", SearchQuery::Subnet("subnet-9f".into())),
            (
                "default/haydenarch-7d9ff55cbd-4b7pl",
                SearchQuery::Pod {
                    namespace: "default".into(),
                    name: "haydenarch-7d9ff55cbd-4b7pl".into(),
                },
            ),
            ("haydenarch", SearchQuery::Name("haydenarch".into())),
            (
                "ip-172-31-55-30",
                SearchQuery::Name("ip-172-31-55-30".into()),
            ),
            ("/x", SearchQuery::Name("/x".into())),
        ];
        for (text, expected) in cases {
            assert_eq!(SearchQuery::parse(text), Some(expected), "{text}");
        }
        assert_eq!(SearchQuery::parse("   "), None);
    }
}
