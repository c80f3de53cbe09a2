-- The dashboard's read paths: the ENIs each node reports (from ipamd) with validity intervals, and
-- the indexes that make its lookups (as of T per node, by ENI, by subnet, by MAC, by pod name)
-- index scans rather than scans of the whole history.

CREATE TABLE node_eni_samples (
    valid_from     timestamptz NOT NULL,
    valid_to       timestamptz NOT NULL DEFAULT 'infinity',
    node_id        integer     NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    device_number  integer     NOT NULL,
    network_card   integer     NOT NULL,
    route_table    integer,
    ip_capacity    integer     NOT NULL,
    assigned       integer     NOT NULL,
    is_primary     boolean     NOT NULL,
    is_trunk       boolean     NOT NULL,
    mac            macaddr,
    eni_id         text        NOT NULL,
    device         text,
    subnet_id      text,
    CHECK (valid_to >= valid_from)
);
COMMENT ON TABLE node_eni_samples IS 'The ENIs each node''s ipamd manages, as the node sees them: a new row whenever one''s figures change. EC2''s own view of an ENI (security groups, subnet CIDR) is enrichment''s, kept apart.';
COMMENT ON COLUMN node_eni_samples.valid_from IS 'Start of the interval (inclusive): the clamped collection time of the snapshot that first showed this state.';
COMMENT ON COLUMN node_eni_samples.valid_to IS 'End of the interval (exclusive); infinity while current, so "valid at T" is a range condition.';
COMMENT ON COLUMN node_eni_samples.node_id IS 'The node the ENI is attached to.';
COMMENT ON COLUMN node_eni_samples.device_number IS 'Attachment device number: 0 for the primary ENI.';
COMMENT ON COLUMN node_eni_samples.network_card IS 'Network card index ipamd lists the ENI under.';
COMMENT ON COLUMN node_eni_samples.route_table IS 'Route table of the ENI''s pods: main (254) for the primary ENI, device number + 1 otherwise.';
COMMENT ON COLUMN node_eni_samples.ip_capacity IS 'Addresses ipamd holds on the ENI for pods (secondary IPs, and 16 per /28 prefix).';
COMMENT ON COLUMN node_eni_samples.assigned IS 'Of those, the addresses assigned to pods.';
COMMENT ON COLUMN node_eni_samples.is_primary IS 'The instance''s primary ENI.';
COMMENT ON COLUMN node_eni_samples.is_trunk IS 'A trunk ENI (security groups for pods): branch ENIs ride on it as vlans.';
COMMENT ON COLUMN node_eni_samples.mac IS 'The host link''s MAC: the device of the ENI''s route table default route (or ethN); NULL when no link could be matched.';
COMMENT ON COLUMN node_eni_samples.eni_id IS 'EC2 ENI id as ipamd reports it (eni-…).';
COMMENT ON COLUMN node_eni_samples.device IS 'The host link carrying the ENI (eth1).';
COMMENT ON COLUMN node_eni_samples.subnet_id IS 'Subnet id as ipamd reports it (subnet-…), when it does.';

CREATE UNIQUE INDEX node_eni_samples_current ON node_eni_samples (node_id, eni_id)
    WHERE valid_to = 'infinity';
-- As of T per node: node = N and valid_to > T, valid_from <= T checked inside the index.
CREATE INDEX node_eni_samples_as_of ON node_eni_samples (node_id, valid_to, valid_from);
-- One ENI's history (it can move between nodes), and one subnet's over time.
CREATE INDEX node_eni_samples_eni ON node_eni_samples (eni_id, valid_from);
CREATE INDEX node_eni_samples_subnet ON node_eni_samples (subnet_id, valid_from);
CREATE INDEX node_eni_samples_mac ON node_eni_samples (mac);

-- IP pools as of a past T per node: the existing (node_id, valid_from) index would read every
-- sample a node ever had before T; this one starts at the first interval still open at T.
CREATE INDEX node_ipam_samples_open_at ON node_ipam_samples
    (node_id, (COALESCE(valid_to, 'infinity'::timestamptz)), valid_from);
