-- podwire history store: nodes, content-addressed snapshots, and the derived history of pod
-- attachments and node IP pools with validity intervals [valid_from, valid_to).

CREATE TABLE nodes (
    id                 integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cluster            text        NOT NULL,
    name               text        NOT NULL,
    boot_id            text        NOT NULL,
    kernel             text        NOT NULL,
    agent_version      text        NOT NULL,
    first_seen_at      timestamptz NOT NULL,
    last_heartbeat_at  timestamptz NOT NULL,
    last_snapshot_hash bytea,
    last_snapshot_at   timestamptz,
    last_collected_at  timestamptz,
    UNIQUE (cluster, name)
);
COMMENT ON TABLE nodes IS 'One row per (cluster, node) that has ever reported.';
COMMENT ON COLUMN nodes.cluster IS 'Cluster name the agent was started with (--cluster).';
COMMENT ON COLUMN nodes.name IS 'Kubernetes node name.';
COMMENT ON COLUMN nodes.boot_id IS 'Kernel boot id of the latest snapshot: a change means the node rebooted.';
COMMENT ON COLUMN nodes.kernel IS 'Kernel release (uname -r) of the latest snapshot.';
COMMENT ON COLUMN nodes.agent_version IS 'podwire-agent version of the latest snapshot.';
COMMENT ON COLUMN nodes.first_seen_at IS 'Server time of the first snapshot or heartbeat.';
COMMENT ON COLUMN nodes.last_heartbeat_at IS 'Server time of the latest heartbeat or snapshot: liveness.';
COMMENT ON COLUMN nodes.last_snapshot_hash IS 'SHA-256 of the latest stored snapshot''s canonical form; an equal hash is not stored again.';
COMMENT ON COLUMN nodes.last_snapshot_at IS 'valid_from of the latest stored snapshot; later intervals never start before it.';
COMMENT ON COLUMN nodes.last_collected_at IS 'Agent clock: collection time of the latest stored snapshot.';

CREATE TABLE snapshot_blobs (
    hash               bytea       PRIMARY KEY CHECK (octet_length(hash) = 32),
    compression        text        NOT NULL DEFAULT 'zstd' CHECK (compression = 'zstd'),
    raw_bytes          integer     NOT NULL,
    content            bytea       NOT NULL,
    first_stored_at    timestamptz NOT NULL DEFAULT now(),
    last_referenced_at timestamptz NOT NULL DEFAULT now()
);
-- Already compressed: keep Postgres from trying pglz on it again.
ALTER TABLE snapshot_blobs ALTER COLUMN content SET STORAGE EXTERNAL;
COMMENT ON TABLE snapshot_blobs IS 'Node snapshots, content-addressed: identical node states share one blob.';
COMMENT ON COLUMN snapshot_blobs.hash IS 'SHA-256 of the canonical JSON (collection time and duration zeroed).';
COMMENT ON COLUMN snapshot_blobs.compression IS 'How content is compressed.';
COMMENT ON COLUMN snapshot_blobs.raw_bytes IS 'Size of the canonical JSON before compression.';
COMMENT ON COLUMN snapshot_blobs.content IS 'The canonical JSON, compressed.';
COMMENT ON COLUMN snapshot_blobs.first_stored_at IS 'When this content was first stored.';
COMMENT ON COLUMN snapshot_blobs.last_referenced_at IS 'When a snapshot last referenced it; retention only deletes blobs unreferenced and older than the retention.';

CREATE TABLE snapshots (
    id                     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node_id                integer     NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    blob_hash              bytea       NOT NULL REFERENCES snapshot_blobs (hash),
    collected_at           timestamptz NOT NULL,
    collection_duration_us bigint      NOT NULL,
    valid_from             timestamptz NOT NULL,
    received_at            timestamptz NOT NULL,
    pod_count              integer     NOT NULL
);
CREATE INDEX snapshots_node_valid_from ON snapshots (node_id, valid_from);
CREATE INDEX snapshots_blob_hash ON snapshots (blob_hash);
COMMENT ON TABLE snapshots IS 'Every changed snapshot of a node; the one valid at T has the greatest valid_from <= T.';
COMMENT ON COLUMN snapshots.blob_hash IS 'The snapshot''s content.';
COMMENT ON COLUMN snapshots.collected_at IS 'Agent clock: when the collection started.';
COMMENT ON COLUMN snapshots.collection_duration_us IS 'How long the collection took.';
COMMENT ON COLUMN snapshots.valid_from IS 'collected_at, clamped never to go back before the node''s previous snapshot.';
COMMENT ON COLUMN snapshots.received_at IS 'Server clock: when it was stored.';
COMMENT ON COLUMN snapshots.pod_count IS 'Pod interfaces the resolution found.';

-- Pod attachments are kept in two tables with the same columns: the open intervals (one row per
-- pod interface that exists now; rows are deleted when their interval closes) and the closed ones
-- (insert-only: a row is written once, with its end). History rows are never updated, so they leave
-- no dead row versions behind and stay lean: the full path is re-resolved from the snapshot valid
-- at T, not stored per row. The view pod_attachments shows both, valid_to NULL while current.
CREATE TYPE pod_wiring AS ENUM
    ('aws-vpc-cni', 'aws-vpc-cni-branch', 'flannel', 'bridge', 'kube-router', 'unknown');
COMMENT ON TYPE pod_wiring IS 'How a pod is wired (podwire_node_state::resolver::Wiring).';

-- Columns are ordered fixed-width first to avoid alignment padding.
CREATE TABLE current_pod_attachments (
    valid_from    timestamptz NOT NULL,
    netns_inode   bigint      NOT NULL,
    node_id       integer     NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    route_table   integer,
    pod_key       integer,
    wiring        pod_wiring  NOT NULL,
    vlan_id       smallint,
    ip            inet,
    mac           macaddr,
    eni_mac       macaddr,
    interface     text        NOT NULL,
    pod_namespace text,
    pod_name      text,
    host_veth     text,
    bridge        text,
    egress_device text,
    problem_codes text[],
    PRIMARY KEY (node_id, netns_inode, interface)
)
-- Rows are inserted and deleted, never updated: let autovacuum reclaim deleted ones early so the
-- table stays the size of the live pods.
WITH (autovacuum_vacuum_scale_factor = 0.05);
CREATE INDEX current_pod_attachments_ip ON current_pod_attachments (ip);
CREATE INDEX current_pod_attachments_pod ON current_pod_attachments (pod_key);

CREATE TABLE pod_attachment_history (
    valid_from    timestamptz NOT NULL,
    valid_to      timestamptz NOT NULL,
    netns_inode   bigint      NOT NULL,
    node_id       integer     NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    route_table   integer,
    pod_key       integer,
    wiring        pod_wiring  NOT NULL,
    vlan_id       smallint,
    ip            inet,
    mac           macaddr,
    eni_mac       macaddr,
    interface     text        NOT NULL,
    pod_namespace text,
    pod_name      text,
    host_veth     text,
    bridge        text,
    egress_device text,
    problem_codes text[],
    CHECK (valid_to >= valid_from)
);
-- "As of T" per node (and per cluster through its nodes): node = N and valid_to > T, with
-- valid_from <= T checked inside the index. A btree (about 36 bytes an entry) rather than a GiST
-- over (node_id, tstzrange) (about 80): the scan covers the node's intervals closed since T, short
-- for the recent times asked about most, and the open intervals are in current_pod_attachments.
CREATE INDEX pod_attachment_history_as_of ON pod_attachment_history (node_id, valid_to, valid_from);
-- "Who held IP X at T": the few intervals of one address, latest first.
CREATE INDEX pod_attachment_history_ip ON pod_attachment_history (ip, valid_from);
-- "Timeline of pod P": by a 4-byte hash of namespace/name (names are checked on the row).
CREATE INDEX pod_attachment_history_pod ON pod_attachment_history (pod_key);
-- Retention: rows arrive roughly in valid_from order; closed long ago means started long ago.
CREATE INDEX pod_attachment_history_valid_from_brin ON pod_attachment_history USING brin (valid_from);

CREATE VIEW pod_attachments AS
    SELECT valid_from, NULL::timestamptz AS valid_to, netns_inode, node_id, route_table, pod_key, wiring,
           vlan_id, ip, mac, eni_mac, interface, pod_namespace, pod_name, host_veth, bridge,
           egress_device, problem_codes
      FROM current_pod_attachments
    UNION ALL
    SELECT valid_from, valid_to, netns_inode, node_id, route_table, pod_key, wiring,
           vlan_id, ip, mac, eni_mac, interface, pod_namespace, pod_name, host_veth, bridge,
           egress_device, problem_codes
      FROM pod_attachment_history;

-- The same with valid_to 'infinity' while current, for queries: "valid at T" is then
-- valid_from <= T AND valid_to > T on both tables, a range condition on each one's indexes.
CREATE VIEW pod_attachment_spans AS
    SELECT valid_from, 'infinity'::timestamptz AS valid_to, netns_inode, node_id, route_table, pod_key,
           wiring, vlan_id, ip, mac, eni_mac, interface, pod_namespace, pod_name, host_veth, bridge,
           egress_device, problem_codes
      FROM current_pod_attachments
    UNION ALL
    SELECT valid_from, valid_to, netns_inode, node_id, route_table, pod_key, wiring,
           vlan_id, ip, mac, eni_mac, interface, pod_namespace, pod_name, host_veth, bridge,
           egress_device, problem_codes
      FROM pod_attachment_history;

COMMENT ON TABLE current_pod_attachments IS 'Open intervals: one row per pod interface that exists now (its valid_to is NULL).';
COMMENT ON TABLE pod_attachment_history IS 'Closed intervals of every pod interface''s wiring: a row per state that has ended.';
COMMENT ON VIEW pod_attachments IS 'Every interval, open (valid_to NULL) and closed.';
COMMENT ON VIEW pod_attachment_spans IS 'Every interval, open (valid_to infinity) and closed: what the server queries.';
COMMENT ON COLUMN current_pod_attachments.valid_from IS 'Start of the interval (inclusive): the clamped collection time of the snapshot that first showed this state.';
COMMENT ON COLUMN current_pod_attachments.netns_inode IS 'Inode of the pod''s network namespace: with interface, the key of a pod interface on its node.';
COMMENT ON COLUMN current_pod_attachments.node_id IS 'The node (and so the cluster).';
COMMENT ON COLUMN current_pod_attachments.route_table IS 'Route table the pod''s in-VPC egress path looked up (254 = main).';
COMMENT ON COLUMN current_pod_attachments.pod_key IS 'First 4 bytes of SHA-256(''namespace/name''), as a signed integer: a lean index key for a pod''s timeline.';
COMMENT ON COLUMN current_pod_attachments.wiring IS 'Detected wiring.';
COMMENT ON COLUMN current_pod_attachments.vlan_id IS 'Branch ENI (security groups for pods): the vlan id on the trunk ENI.';
COMMENT ON COLUMN current_pod_attachments.ip IS 'The pod interface''s address, without prefix length.';
COMMENT ON COLUMN current_pod_attachments.mac IS 'The pod interface''s MAC.';
COMMENT ON COLUMN current_pod_attachments.eni_mac IS 'MAC of the ENI (or NIC) carrying the pod''s traffic off the node.';
COMMENT ON COLUMN current_pod_attachments.interface IS 'Interface name inside the pod (eth0).';
COMMENT ON COLUMN current_pod_attachments.pod_namespace IS 'Kubernetes namespace from the CNI cache; NULL when no entry names the pod.';
COMMENT ON COLUMN current_pod_attachments.pod_name IS 'Kubernetes pod name from the CNI cache; NULL when no entry names the pod.';
COMMENT ON COLUMN current_pod_attachments.host_veth IS 'Host end of the pod''s veth.';
COMMENT ON COLUMN current_pod_attachments.bridge IS 'Bridge the host veth is enslaved to, if any.';
COMMENT ON COLUMN current_pod_attachments.egress_device IS 'Output device of the route the pod''s egress path chose.';
COMMENT ON COLUMN current_pod_attachments.problem_codes IS 'Sorted resolver problem codes; NULL when there were none.';
COMMENT ON COLUMN pod_attachment_history.valid_from IS 'Start of the interval (inclusive): the clamped collection time of the snapshot that first showed this state.';
COMMENT ON COLUMN pod_attachment_history.netns_inode IS 'Inode of the pod''s network namespace: with interface, the key of a pod interface on its node.';
COMMENT ON COLUMN pod_attachment_history.node_id IS 'The node (and so the cluster).';
COMMENT ON COLUMN pod_attachment_history.route_table IS 'Route table the pod''s in-VPC egress path looked up (254 = main).';
COMMENT ON COLUMN pod_attachment_history.pod_key IS 'First 4 bytes of SHA-256(''namespace/name''), as a signed integer: a lean index key for a pod''s timeline.';
COMMENT ON COLUMN pod_attachment_history.wiring IS 'Detected wiring.';
COMMENT ON COLUMN pod_attachment_history.vlan_id IS 'Branch ENI (security groups for pods): the vlan id on the trunk ENI.';
COMMENT ON COLUMN pod_attachment_history.ip IS 'The pod interface''s address, without prefix length.';
COMMENT ON COLUMN pod_attachment_history.mac IS 'The pod interface''s MAC.';
COMMENT ON COLUMN pod_attachment_history.eni_mac IS 'MAC of the ENI (or NIC) carrying the pod''s traffic off the node.';
COMMENT ON COLUMN pod_attachment_history.interface IS 'Interface name inside the pod (eth0).';
COMMENT ON COLUMN pod_attachment_history.pod_namespace IS 'Kubernetes namespace from the CNI cache; NULL when no entry names the pod.';
COMMENT ON COLUMN pod_attachment_history.pod_name IS 'Kubernetes pod name from the CNI cache; NULL when no entry names the pod.';
COMMENT ON COLUMN pod_attachment_history.host_veth IS 'Host end of the pod''s veth.';
COMMENT ON COLUMN pod_attachment_history.bridge IS 'Bridge the host veth is enslaved to, if any.';
COMMENT ON COLUMN pod_attachment_history.egress_device IS 'Output device of the route the pod''s egress path chose.';
COMMENT ON COLUMN pod_attachment_history.problem_codes IS 'Sorted resolver problem codes; NULL when there were none.';
COMMENT ON COLUMN pod_attachment_history.valid_to IS 'End of the interval (exclusive): when a snapshot first showed it changed or gone.';

CREATE TABLE node_ipam_samples (
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz,
    assigned   bigint      NOT NULL,
    free       bigint      NOT NULL,
    total      bigint      NOT NULL,
    node_id    integer     NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    source     text        NOT NULL CHECK (source IN ('ipamd', 'host-local')),
    pool       text        NOT NULL,
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
COMMENT ON TABLE node_ipam_samples IS 'History of each node IP pool''s figures: a new row whenever they change.';
COMMENT ON COLUMN node_ipam_samples.valid_from IS 'Start of the interval (inclusive).';
COMMENT ON COLUMN node_ipam_samples.valid_to IS 'End of the interval (exclusive); NULL while current.';
COMMENT ON COLUMN node_ipam_samples.assigned IS 'Addresses handed to pods.';
COMMENT ON COLUMN node_ipam_samples.free IS 'Addresses the pool can still hand out (total - assigned).';
COMMENT ON COLUMN node_ipam_samples.total IS 'Addresses in the pool: ipamd''s TotalIPs, or the usable addresses of the host-local ranges.';
COMMENT ON COLUMN node_ipam_samples.source IS 'ipamd (Amazon VPC CNI) or host-local.';
COMMENT ON COLUMN node_ipam_samples.pool IS 'network-card-N for ipamd, the CNI network name for host-local.';

CREATE UNIQUE INDEX node_ipam_samples_current ON node_ipam_samples (node_id, source, pool)
    WHERE valid_to IS NULL;
CREATE INDEX node_ipam_samples_as_of ON node_ipam_samples (node_id, valid_from);
