//! The node wiring diagram, drawn server-side as SVG: NICs and ENIs on the left, then the vlan /
//! vxlan links the pods' traffic goes through, the bridges, the host veths, and the pods on the
//! right, with one line per hop of each pod's resolved path. Pure: a resolution in, a string out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use podwire_node_state::resolver::{NodeResolution, PodPath};
use podwire_node_state::{LinkKind, NetnsState};

use crate::history::NodeEni;

const ROW: f64 = 28.0;
const BOX_H: f64 = 22.0;
const TOP: f64 = 40.0;
/// Column x positions and widths: NIC, egress layer (vlan/vxlan), bridge, host veth, pod.
const COLUMNS: [(f64, f64, &str); 5] = [
    (10.0, 230.0, "NICs / ENIs"),
    (260.0, 150.0, "vlan / vxlan"),
    (430.0, 130.0, "bridge"),
    (580.0, 150.0, "host veth"),
    (750.0, 330.0, "pods"),
];
const WIDTH: f64 = 1090.0;

/// A box shared by several pods (a NIC, a vlan, a bridge), placed at its pods' mean row.
#[derive(Debug, Default)]
struct Shared {
    label: String,
    detail: String,
    href: Option<String>,
    rows: Vec<f64>,
    y: f64,
}

/// Escapes text for SVG content and attributes.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The pods' key in the diagram: `namespace/name`, else the namespace's name or path.
pub(crate) fn pod_key(pod: &PodPath) -> String {
    match (&pod.namespace, &pod.name) {
        (Some(ns), Some(name)) => format!("{ns}/{name}"),
        _ => pod
            .netns
            .name
            .clone()
            .unwrap_or_else(|| pod.netns.path.clone()),
    }
}

/// Draws the node. `pod_href` and `eni_href` give each pod's and ENI's page.
pub(crate) fn wiring_svg(
    host: &NetnsState,
    resolution: &NodeResolution,
    enis: &[NodeEni],
    pod_href: &dyn Fn(&PodPath) -> Option<String>,
    eni_href: &dyn Fn(&str) -> String,
) -> String {
    // Shared boxes by column, keyed by link name.
    let mut nics: BTreeMap<String, Shared> = BTreeMap::new();
    let mut layers: BTreeMap<String, Shared> = BTreeMap::new();
    let mut bridges: BTreeMap<String, Shared> = BTreeMap::new();
    let mut edges: Vec<(usize, String, usize, String)> = Vec::new();
    let eni_of = |name: &str| enis.iter().find(|e| e.device.as_deref() == Some(name));

    let mut body = String::new();
    for (i, pod) in resolution.pods.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let key = pod_key(pod);
        let egress = pod.egress.as_ref();
        let nic = egress
            .and_then(|e| e.nic.as_ref().or(e.egress_device.as_ref()))
            .map(|l| l.name.clone());
        // The egress device when it is a layer above the NIC (vlan.eth.1, flannel.1).
        let layer = egress
            .and_then(|e| e.egress_device.as_ref())
            .filter(|d| Some(&d.name) != nic.as_ref())
            .filter(|d| pod.bridge.as_ref().is_none_or(|b| b.name != d.name))
            .map(|d| d.name.clone());
        let bridge = pod.bridge.as_ref().map(|b| b.name.clone());

        // The pod and its host veth are one row each.
        let ip = pod.ip().map(|ip| ip.to_string()).unwrap_or_default();
        let problems = !pod.problems.is_empty();
        let (px, pw, _) = COLUMNS[4];
        let label = format!("{key}  {ip}");
        let _ = write!(
            body,
            r#"<g class="pod" data-pod="{k}">{open}<rect x="{px}" y="{y}" width="{pw}" height="{BOX_H}" rx="4" fill="{fill}" stroke="{stroke}"/><text x="{tx}" y="{ty}">{label}</text>{close}</g>"#,
            k = esc(&key),
            open = pod_href(pod).map_or(String::new(), |h| format!(r#"<a href="{}">"#, esc(&h))),
            close = if pod_href(pod).is_some() { "</a>" } else { "" },
            fill = if problems { "#fbe3e1" } else { "#eef4fb" },
            stroke = if problems { "#b3261e" } else { "#1f4e79" },
            tx = px + 6.0,
            ty = y + 15.0,
            label = esc(&truncate(&label, 44)),
        );
        if let Some(veth) = &pod.host_veth {
            let (vx, vw, _) = COLUMNS[3];
            let _ = write!(
                body,
                r##"<g class="veth"><rect x="{vx}" y="{y}" width="{vw}" height="{BOX_H}" rx="4" fill="#fff" stroke="#5b6675"/><text x="{tx}" y="{ty}">{name}</text></g>"##,
                tx = vx + 6.0,
                ty = y + 15.0,
                name = esc(&veth.name),
            );
            edges.push((3, format!("row{i}"), 4, format!("row{i}")));
        }
        let mut left = if pod.host_veth.is_some() {
            (3, format!("row{i}"))
        } else {
            (4, format!("row{i}"))
        };
        if let Some(bridge) = bridge {
            let entry = bridges.entry(bridge.clone()).or_default();
            entry.label = bridge.clone();
            entry.detail = "bridge".into();
            entry.rows.push(y);
            edges.push((2, bridge.clone(), left.0, left.1.clone()));
            left = (2, bridge);
        }
        if let Some(layer) = layer {
            let entry = layers.entry(layer.clone()).or_default();
            entry.label = layer.clone();
            entry.detail = host
                .link_by_name(&layer)
                .map(|l| kind_detail(&l.kind))
                .unwrap_or_default();
            entry.rows.push(y);
            edges.push((1, layer.clone(), left.0, left.1.clone()));
            left = (1, layer);
        }
        if let Some(nic) = nic {
            let entry = nics.entry(nic.clone()).or_default();
            entry.rows.push(y);
            edges.push((0, nic, left.0, left.1));
        }
    }
    // Every ENI and physical NIC is drawn, with pods or without.
    for link in &host.links {
        let is_nic =
            matches!(link.kind, LinkKind::Device) && link.mac.is_some_and(|m| !m.is_zero());
        if is_nic || eni_of(&link.name).is_some() {
            nics.entry(link.name.clone()).or_default();
        }
    }
    for (name, nic) in nics.iter_mut() {
        let eni = eni_of(name);
        let mac = host
            .link_by_name(name)
            .and_then(|l| l.mac)
            .map(|m| m.to_string())
            .unwrap_or_default();
        nic.label = match eni {
            Some(e) => format!("{name} · {}", e.eni_id),
            None => name.clone(),
        };
        nic.detail = match eni {
            Some(e) => format!("{} {mac}", e.role()),
            None => mac,
        };
        nic.href = eni.map(|e| eni_href(&e.eni_id));
    }

    let rows_bottom = TOP + ROW * resolution.pods.len().max(1) as f64;
    let mut bottom = rows_bottom;
    for (column, boxes) in [(0usize, &mut nics), (1, &mut layers), (2, &mut bridges)] {
        bottom = bottom.max(place(boxes, rows_bottom));
        let (x, w, _) = COLUMNS[column];
        for (name, b) in boxes.iter() {
            let _ = write!(
                body,
                r##"<g class="{class}" data-link="{n}">{open}<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" fill="#f6f8fa" stroke="#1f4e79"/><text x="{tx}" y="{ty}">{label}</text><text x="{tx}" y="{ty2}" fill="#5b6675">{detail}</text>{close}</g>"##,
                class = ["nic", "layer", "bridge"][column],
                n = esc(name),
                open = b
                    .href
                    .as_ref()
                    .map_or(String::new(), |h| format!(r#"<a href="{}">"#, esc(h))),
                close = if b.href.is_some() { "</a>" } else { "" },
                y = b.y - 8.0,
                h = BOX_H + 16.0,
                tx = x + 6.0,
                ty = b.y + 6.0,
                ty2 = b.y + 21.0,
                label = esc(&truncate(&b.label, 32)),
                detail = esc(&truncate(&b.detail, 32)),
            );
        }
    }

    // Lines between the right edge of one box and the left edge of the next.
    let centre = |column: usize, key: &str| -> Option<f64> {
        if let Some(row) = key.strip_prefix("row") {
            return row.parse::<f64>().ok().map(|i| TOP + ROW * i + BOX_H / 2.0);
        }
        let boxes = match column {
            0 => &nics,
            1 => &layers,
            _ => &bridges,
        };
        boxes.get(key).map(|b| b.y + BOX_H / 2.0)
    };
    let mut lines = String::new();
    let mut seen = std::collections::HashSet::new();
    for (from_col, from, to_col, to) in &edges {
        if !seen.insert((*from_col, from.clone(), *to_col, to.clone())) {
            continue;
        }
        let (Some(y1), Some(y2)) = (centre(*from_col, from), centre(*to_col, to)) else {
            continue;
        };
        let x1 = COLUMNS[*from_col].0 + COLUMNS[*from_col].1;
        let x2 = COLUMNS[*to_col].0;
        let mid = (x1 + x2) / 2.0;
        let _ = write!(
            lines,
            r##"<path d="M{x1} {y1} C{mid} {y1} {mid} {y2} {x2} {y2}" fill="none" stroke="#8fa3b8" stroke-width="1.2"/>"##
        );
    }

    let height = bottom + 20.0;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="wiring" role="img" aria-label="Wiring of the node's pods" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">"#
    );
    for (x, _, title) in COLUMNS {
        let _ = write!(
            svg,
            r##"<text x="{x}" y="22" font-weight="bold" fill="#5b6675">{title}</text>"##,
            title = esc(title)
        );
    }
    if resolution.pods.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" fill="#5b6675">no pods</text>"##,
            COLUMNS[4].0,
            TOP + 15.0
        );
    }
    svg.push_str(&lines);
    svg.push_str(&body);
    svg.push_str("</svg>");
    svg
}

/// Places shared boxes at their pods' mean row, top to bottom, at least a box apart; boxes
/// without pods go below the rows. Returns the lowest edge used.
fn place(boxes: &mut BTreeMap<String, Shared>, rows_bottom: f64) -> f64 {
    let mut order: Vec<(f64, String)> = boxes
        .iter()
        .map(|(name, b)| {
            let wanted = if b.rows.is_empty() {
                rows_bottom + 20.0
            } else {
                b.rows.iter().sum::<f64>() / b.rows.len() as f64
            };
            (wanted, name.clone())
        })
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let mut next = TOP;
    let mut bottom = 0.0f64;
    for (wanted, name) in order {
        let y = wanted.max(next);
        if let Some(b) = boxes.get_mut(&name) {
            b.y = y;
        }
        next = y + BOX_H + 22.0;
        bottom = bottom.max(y + BOX_H + 10.0);
    }
    bottom
}

fn kind_detail(kind: &LinkKind) -> String {
    crate::read::ip_text::link_kind_text(kind)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_long_names_shortened() {
        assert_eq!(esc(r#"<a & "b">"#), "&lt;a &amp; &quot;b&quot;&gt;");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }

    #[test]
    fn an_empty_node_still_draws_its_columns() {
        let snapshot = podwire_node_state::NodeSnapshot::default();
        let resolution = podwire_node_state::resolver::resolve(&snapshot);
        let svg = wiring_svg(&snapshot.host, &resolution, &[], &|_| None, &|id| {
            id.to_owned()
        });
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("no pods"));
        assert!(svg.ends_with("</svg>"));
    }
}
