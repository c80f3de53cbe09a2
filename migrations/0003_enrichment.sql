-- EC2 enrichment: what EC2 says about the ENIs, subnets and instances the agents report, kept
-- apart from what the nodes report (node_eni_samples) and written only by the enrichment task,
-- never by ingest. ENIs and subnets keep validity intervals [valid_from, valid_to) like the rest
-- of the history; a subnet's free addresses are samples over time.

CREATE TABLE ec2_enis (
    valid_from    timestamptz NOT NULL,
    valid_to      timestamptz NOT NULL DEFAULT 'infinity',
    device_index  integer,
    eni_id        text        NOT NULL,
    mac           macaddr,
    kind          text        NOT NULL CHECK (kind IN ('primary', 'secondary', 'trunk', 'branch')),
    subnet_id     text,
    vpc_id        text,
    instance_id   text,
    described     jsonb       NOT NULL,
    CHECK (valid_to >= valid_from)
);
COMMENT ON TABLE ec2_enis IS 'ENIs as EC2 DescribeNetworkInterfaces describes them: a new row whenever a described field changes, the open row closed when EC2 no longer knows the MAC.';
COMMENT ON COLUMN ec2_enis.valid_from IS 'Server time of the refresh that first described this state.';
COMMENT ON COLUMN ec2_enis.valid_to IS 'Server time of the refresh that saw it change or vanish; infinity while current.';
COMMENT ON COLUMN ec2_enis.device_index IS 'Attachment device index (0 for the primary ENI); NULL when not attached (branch ENIs).';
COMMENT ON COLUMN ec2_enis.eni_id IS 'EC2 ENI id (eni-…).';
COMMENT ON COLUMN ec2_enis.mac IS 'The ENI''s MAC: what pod paths are joined on.';
COMMENT ON COLUMN ec2_enis.kind IS 'primary, secondary, trunk or branch (podwire_node_state::ec2::classify: InterfaceType, else the descriptions and tags EKS sets, else device index).';
COMMENT ON COLUMN ec2_enis.subnet_id IS 'Subnet the ENI is in.';
COMMENT ON COLUMN ec2_enis.vpc_id IS 'VPC the ENI is in.';
COMMENT ON COLUMN ec2_enis.instance_id IS 'Instance it is attached to, if any.';
COMMENT ON COLUMN ec2_enis.described IS 'The whole description (podwire_node_state::ec2::Ec2Eni as JSON): type, description, security groups with names, private IPs, attachment, tags.';

CREATE UNIQUE INDEX ec2_enis_current ON ec2_enis (eni_id) WHERE valid_to = 'infinity';
-- By MAC as of T: mac = M and valid_to > T, valid_from <= T checked inside the index.
CREATE INDEX ec2_enis_mac_as_of ON ec2_enis (mac, valid_to, valid_from);
CREATE INDEX ec2_enis_eni ON ec2_enis (eni_id, valid_from);

CREATE TABLE ec2_subnets (
    valid_from        timestamptz NOT NULL,
    valid_to          timestamptz NOT NULL DEFAULT 'infinity',
    subnet_id         text        NOT NULL,
    vpc_id            text,
    cidr              cidr,
    availability_zone text,
    CHECK (valid_to >= valid_from)
);
COMMENT ON TABLE ec2_subnets IS 'Subnets as EC2 DescribeSubnets describes them: a new row whenever VPC, CIDR or zone change.';
COMMENT ON COLUMN ec2_subnets.valid_from IS 'Server time of the refresh that first described this state.';
COMMENT ON COLUMN ec2_subnets.valid_to IS 'Server time of the refresh that saw it change or vanish; infinity while current.';
COMMENT ON COLUMN ec2_subnets.subnet_id IS 'EC2 subnet id (subnet-…).';
COMMENT ON COLUMN ec2_subnets.vpc_id IS 'VPC of the subnet.';
COMMENT ON COLUMN ec2_subnets.cidr IS 'The subnet''s IPv4 CIDR block.';
COMMENT ON COLUMN ec2_subnets.availability_zone IS 'Availability zone of the subnet.';
CREATE UNIQUE INDEX ec2_subnets_current ON ec2_subnets (subnet_id) WHERE valid_to = 'infinity';
CREATE INDEX ec2_subnets_as_of ON ec2_subnets (subnet_id, valid_to, valid_from);

CREATE TABLE ec2_subnet_free_samples (
    sampled_at    timestamptz NOT NULL,
    available     integer     NOT NULL,
    subnet_id     text        NOT NULL,
    PRIMARY KEY (subnet_id, sampled_at)
);
COMMENT ON TABLE ec2_subnet_free_samples IS 'A subnet''s AvailableIpAddressCount over time: a sample is written when the count differs from the subnet''s latest one, so the count at T is the latest sample at or before T.';
COMMENT ON COLUMN ec2_subnet_free_samples.sampled_at IS 'Server time of the refresh that read the count.';
COMMENT ON COLUMN ec2_subnet_free_samples.available IS 'AvailableIpAddressCount: addresses of the subnet EC2 can still hand out.';
COMMENT ON COLUMN ec2_subnet_free_samples.subnet_id IS 'The subnet.';

CREATE TABLE ec2_instance_types (
    instance_type     text        PRIMARY KEY,
    max_enis          integer     NOT NULL,
    ipv4_per_eni      integer     NOT NULL,
    ipv6_per_eni      integer,
    described_at      timestamptz NOT NULL
);
COMMENT ON TABLE ec2_instance_types IS 'Network limits of instance types from DescribeInstanceTypes; they never change, so each type is described once.';
COMMENT ON COLUMN ec2_instance_types.instance_type IS 'Instance type (m5.large).';
COMMENT ON COLUMN ec2_instance_types.max_enis IS 'MaximumNetworkInterfaces.';
COMMENT ON COLUMN ec2_instance_types.ipv4_per_eni IS 'Ipv4AddressesPerInterface (primary address included).';
COMMENT ON COLUMN ec2_instance_types.ipv6_per_eni IS 'Ipv6AddressesPerInterface.';
COMMENT ON COLUMN ec2_instance_types.described_at IS 'When it was described.';

CREATE TABLE ec2_node_instances (
    node_id        integer     PRIMARY KEY REFERENCES nodes (id) ON DELETE CASCADE,
    instance_id    text        NOT NULL,
    instance_type  text,
    described_at   timestamptz NOT NULL
);
COMMENT ON TABLE ec2_node_instances IS 'The EC2 instance behind each node: the instance its primary ENI (by MAC) is attached to.';
COMMENT ON COLUMN ec2_node_instances.node_id IS 'The node.';
COMMENT ON COLUMN ec2_node_instances.instance_id IS 'Instance id (i-…).';
COMMENT ON COLUMN ec2_node_instances.instance_type IS 'Instance type from DescribeInstances; joins ec2_instance_types for the node''s IP capacity and max pods.';
COMMENT ON COLUMN ec2_node_instances.described_at IS 'Server time of the refresh that last confirmed it.';

CREATE TABLE enrichment_status (
    source          text        PRIMARY KEY,
    last_attempt_at timestamptz,
    last_success_at timestamptz,
    last_error_at   timestamptz,
    last_error      text,
    stale           boolean     NOT NULL DEFAULT true,
    last_calls      integer     NOT NULL DEFAULT 0
);
COMMENT ON TABLE enrichment_status IS 'How each enrichment source (ec2) is doing: what the API shows as the enrichment marker.';
COMMENT ON COLUMN enrichment_status.source IS 'ec2.';
COMMENT ON COLUMN enrichment_status.last_attempt_at IS 'Start of the latest refresh.';
COMMENT ON COLUMN enrichment_status.last_success_at IS 'End of the latest refresh that completed.';
COMMENT ON COLUMN enrichment_status.last_error_at IS 'When the latest refresh failed.';
COMMENT ON COLUMN enrichment_status.last_error IS 'Why it failed, as the operator should read it (no credentials).';
COMMENT ON COLUMN enrichment_status.stale IS 'True when the latest refresh failed (or none has completed): what is stored may be out of date.';
COMMENT ON COLUMN enrichment_status.last_calls IS 'EC2 API calls the latest completed refresh made.';
