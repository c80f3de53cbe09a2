//! Subnets as the nodes see them: the ENIs in each subnet and the addresses their ipamds hold
//! and have assigned, now and over time; with EC2 enrichment, the subnet's CIDR and EC2's
//! free-address count (AvailableIpAddressCount) at T and over time.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::overview::SubnetSummary;
use super::{ReadError, Reader};
use crate::store::{EniFilter, EniInterval, FreeSample};

/// The subnet's figures from one moment on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubnetPoint {
    pub at: DateTime<Utc>,
    /// Addresses the subnet's ENIs hold for pods (ipamd's pools, warm addresses included).
    pub held: i64,
    /// Of those, assigned to pods.
    pub assigned: i64,
}

/// A subnet's figures over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetSeries {
    pub subnet_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// A step function: each point holds until the next one.
    pub points: Vec<SubnetPoint>,
}

/// Turns ENI intervals into the subnet's step function over `[from, to]`: a point at `from`, one
/// at every interval start or end inside the period, and one at `to`.
pub fn subnet_series(
    subnet_id: &str,
    intervals: &[EniInterval],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> SubnetSeries {
    // Changes of the sums at each instant: +figures at a start, -figures at an end.
    let mut deltas: BTreeMap<DateTime<Utc>, (i64, i64)> = BTreeMap::new();
    let (mut held, mut assigned) = (0i64, 0i64);
    for interval in intervals {
        let figures = (interval.eni.ip_capacity, interval.eni.assigned);
        if interval.valid_from <= from {
            held += figures.0;
            assigned += figures.1;
        } else {
            let d = deltas.entry(interval.valid_from).or_default();
            d.0 += figures.0;
            d.1 += figures.1;
        }
        if let Some(end) = interval.valid_to {
            if end <= from {
                held -= figures.0;
                assigned -= figures.1;
            } else {
                let d = deltas.entry(end).or_default();
                d.0 -= figures.0;
                d.1 -= figures.1;
            }
        }
    }
    let mut points = vec![SubnetPoint {
        at: from,
        held,
        assigned,
    }];
    for (at, (dh, da)) in deltas.range(..=to) {
        held += dh;
        assigned += da;
        points.push(SubnetPoint {
            at: *at,
            held,
            assigned,
        });
    }
    let last = points.last().copied();
    if let Some(last) = last
        && last.at < to
    {
        points.push(SubnetPoint { at: to, ..last });
    }
    SubnetSeries {
        subnet_id: subnet_id.to_owned(),
        from,
        to,
        points,
    }
}

impl Reader {
    /// Every subnet some node's ENI was in at `at`, with its figures then and EC2's
    /// description (CIDR, free count) as of `at`.
    pub async fn subnets_at(&self, at: DateTime<Utc>) -> Result<Vec<SubnetSummary>, ReadError> {
        let enis = self.store.enis_at(&EniFilter::default(), at).await?;
        let mut subnets = super::overview::subnet_summaries(&enis);
        let ids: Vec<String> = subnets.iter().map(|s| s.subnet_id.clone()).collect();
        let mut described = self.store.ec2_subnets_at(&ids, at).await?;
        for subnet in &mut subnets {
            subnet.ec2 = described.remove(&subnet.subnet_id);
        }
        Ok(subnets)
    }

    /// EC2's free-address samples of the subnet over `[from, to]` (empty before enrichment).
    pub async fn subnet_free_samples(
        &self,
        subnet_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<FreeSample>, ReadError> {
        Ok(self
            .store
            .ec2_subnet_free_samples(subnet_id, from, to)
            .await?)
    }

    /// The subnet's figures over `[from, to]`.
    pub async fn subnet_series(
        &self,
        subnet_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<SubnetSeries, ReadError> {
        let intervals = self.store.subnet_eni_intervals(subnet_id, from, to).await?;
        if intervals.is_empty() {
            let ever = self
                .store
                .subnet_eni_intervals(subnet_id, DateTime::<Utc>::UNIX_EPOCH, to.max(Utc::now()))
                .await?;
            if ever.is_empty() {
                return Err(ReadError::NotFound {
                    what: format!("subnet {subnet_id}"),
                });
            }
        }
        Ok(subnet_series(subnet_id, &intervals, from, to))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::history::NodeEni;
    use crate::store::NodeId;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, h, 0, 0).unwrap()
    }

    fn eni(id: &str, cap: i64, assigned: i64, from: u32, to: Option<u32>) -> EniInterval {
        EniInterval {
            node_id: NodeId(1),
            cluster: "prod".into(),
            node: "n1".into(),
            eni: NodeEni {
                eni_id: id.into(),
                network_card: 0,
                device_number: 1,
                route_table: 2,
                subnet_id: Some("subnet-1".into()),
                is_primary: false,
                is_trunk: false,
                device: Some("eth1".into()),
                mac: None,
                ip_capacity: cap,
                assigned,
            },
            valid_from: t(from),
            valid_to: to.map(t),
        }
    }

    #[test]
    fn intervals_sum_into_a_step_function_over_the_period() {
        let intervals = [
            // open before the period, changes at 12:00
            eni("eni-a", 10, 4, 8, Some(12)),
            eni("eni-a", 10, 9, 12, None),
            // attached at 11:00, detached at 14:00
            eni("eni-b", 5, 1, 11, Some(14)),
        ];
        let series = subnet_series("subnet-1", &intervals, t(10), t(16));
        let points: Vec<_> = series
            .points
            .iter()
            .map(|p| (p.at, p.held, p.assigned))
            .collect();
        assert_eq!(
            points,
            vec![
                (t(10), 10, 4),
                (t(11), 15, 5),
                (t(12), 15, 10),
                (t(14), 10, 9),
                (t(16), 10, 9),
            ]
        );
    }
}
