//! CSV answers of the list endpoints: one header line, one line per item, the columns a
//! spreadsheet needs (nested values flattened, lists joined with spaces).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;
use super::views::{
    AttachmentView, EniIntervalView, NodeSummaryView, PoolIntervalView, SubnetView,
};

/// A list item as a CSV line.
pub(crate) trait CsvRow {
    const HEADER: &'static [&'static str];
    fn fields(&self) -> Vec<String>;
}

fn opt<T: ToString>(value: &Option<T>) -> String {
    value.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// `text/csv` with a header line.
pub(crate) fn csv_response<R: CsvRow>(rows: &[R]) -> Result<Response, ApiError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let write = |writer: &mut csv::Writer<Vec<u8>>| -> Result<(), csv::Error> {
        writer.write_record(R::HEADER)?;
        for row in rows {
            writer.write_record(row.fields())?;
        }
        writer.flush()?;
        Ok(())
    };
    write(&mut writer).map_err(|err| ApiError::Internal(Box::new(err)))?;
    let body = writer
        .into_inner()
        .map_err(|err| ApiError::Internal(Box::new(err.into_error())))?;
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    Ok(response)
}

impl CsvRow for AttachmentView {
    const HEADER: &'static [&'static str] = &[
        "cluster",
        "node",
        "namespace",
        "name",
        "interface",
        "ip",
        "mac",
        "host_veth",
        "bridge",
        "route_table",
        "egress_device",
        "eni_mac",
        "vlan_id",
        "wiring",
        "problems",
        "valid_from",
        "valid_to",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.cluster.clone(),
            self.node.clone(),
            opt(&self.namespace),
            opt(&self.name),
            self.interface.clone(),
            opt(&self.ip),
            opt(&self.mac),
            opt(&self.host_veth),
            opt(&self.bridge),
            opt(&self.route_table),
            opt(&self.egress_device),
            opt(&self.eni_mac),
            opt(&self.vlan_id),
            self.wiring.as_str().to_owned(),
            self.problems
                .iter()
                .map(|p| crate::history::problem_code_str(*p))
                .collect::<Vec<_>>()
                .join(" "),
            self.valid_from.to_rfc3339(),
            opt(&self.valid_to.map(|t| t.to_rfc3339())),
        ]
    }
}

impl CsvRow for NodeSummaryView {
    const HEADER: &'static [&'static str] = &[
        "cluster",
        "name",
        "wiring",
        "pods",
        "pods_with_problems",
        "enis",
        "max_enis",
        "ip_capacity",
        "ips_assigned",
        "ips_free",
        "ips_total",
        "last_heartbeat_at",
        "stale",
    ];

    fn fields(&self) -> Vec<String> {
        let sum = |f: fn(&super::views::PoolView) -> i64| self.pools.iter().map(f).sum::<i64>();
        vec![
            self.node.cluster.clone(),
            self.node.name.clone(),
            opt(&self.wiring.map(|w| w.as_str())),
            self.pods.to_string(),
            self.pods_with_problems.to_string(),
            self.enis.to_string(),
            opt(&self.max_enis),
            opt(&self.ip_capacity),
            sum(|p| p.assigned).to_string(),
            sum(|p| p.free).to_string(),
            sum(|p| p.total).to_string(),
            self.node.last_heartbeat_at.to_rfc3339(),
            self.node.stale.to_string(),
        ]
    }
}

impl CsvRow for EniIntervalView {
    const HEADER: &'static [&'static str] = &[
        "cluster",
        "node",
        "eni_id",
        "role",
        "network_card",
        "device_number",
        "device",
        "mac",
        "route_table",
        "subnet_id",
        "ip_capacity",
        "assigned",
        "valid_from",
        "type",
        "description",
        "security_groups",
    ];

    fn fields(&self) -> Vec<String> {
        let e = &self.eni;
        let ec2 = self.ec2.as_ref();
        vec![
            self.cluster.clone(),
            self.node.clone(),
            e.eni_id.clone(),
            e.role.to_owned(),
            e.network_card.to_string(),
            e.device_number.to_string(),
            opt(&e.device),
            opt(&e.mac),
            e.route_table.to_string(),
            opt(&e.subnet_id),
            e.ip_capacity.to_string(),
            e.assigned.to_string(),
            self.valid_from.to_rfc3339(),
            ec2.map(|x| x.kind.to_owned()).unwrap_or_default(),
            opt(&ec2.and_then(|x| x.description.clone())),
            ec2.map(|x| {
                x.security_groups
                    .iter()
                    .map(|g| g.id.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default(),
        ]
    }
}

impl CsvRow for SubnetView {
    const HEADER: &'static [&'static str] = &[
        "subnet_id",
        "enis",
        "nodes",
        "held",
        "assigned",
        "cidr",
        "available_ip_address_count",
        "utilization_percent",
    ];

    fn fields(&self) -> Vec<String> {
        let ec2 = self.ec2.as_ref();
        vec![
            self.subnet_id.clone(),
            self.enis.to_string(),
            self.nodes.to_string(),
            self.held.to_string(),
            self.assigned.to_string(),
            ec2.and_then(|e| e.cidr.clone()).unwrap_or_default(),
            opt(&ec2.and_then(|e| e.available_ip_address_count)),
            opt(&self.utilization_percent.map(|u| format!("{u:.1}"))),
        ]
    }
}

impl CsvRow for PoolIntervalView {
    const HEADER: &'static [&'static str] = &[
        "cluster",
        "node",
        "source",
        "pool",
        "assigned",
        "free",
        "total",
        "valid_from",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.cluster.clone(),
            self.node.clone(),
            self.pool.source.to_owned(),
            self.pool.pool.clone(),
            self.pool.assigned.to_string(),
            self.pool.free.to_string(),
            self.pool.total.to_string(),
            self.valid_from.to_rfc3339(),
        ]
    }
}
