"""Seeds a moto EC2 the way an EKS node with security groups for pods looks, and reads it back.

Run with the moto venv's python (boto3 comes with moto). Subcommands print JSON on stdout:
  seed ENDPOINT BRANCHES        VPC, subnet, security groups, an m5.large instance (primary ENI),
                                a secondary ENI (device 1), a trunk ENI (device 2) and BRANCHES
                                branch ENIs, described and tagged as the EKS VPC resource
                                controller does (moto stores InterfaceType trunk/branch as
                                `interface`)
  describe ENDPOINT             describe-network-interfaces, as the AWS CLI prints it
  assign ENDPOINT ENI COUNT     assigns COUNT more secondary private IPs to ENI
  subnet ENDPOINT SUBNET        describe-subnets of one subnet
"""
import json
import sys
import urllib.request

import boto3


def ec2(endpoint):
    return boto3.client(
        "ec2",
        endpoint_url=endpoint,
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def tags(pairs):
    return [{"ResourceType": "network-interface",
             "Tags": [{"Key": k, "Value": v} for k, v in pairs]}]


def seed(client, endpoint, branches):
    # moto draws ids and MACs from one random generator that its API can seed. Seeding before
    # each create makes a restarted, empty moto seeded again hand out the same ids and MACs,
    # whatever other requests (the server's refreshes) came in between.
    step = [0]
    real_create = {}

    def reseed():
        step[0] += 1
        urllib.request.urlopen(urllib.request.Request(
            f"{endpoint}/moto-api/seed?a={1000 + step[0]}", method="POST")).read()

    for name in ("create_vpc", "create_subnet", "create_security_group", "run_instances",
                 "create_network_interface"):
        real_create[name] = getattr(client, name)

        def wrapped(*args, _name=name, **kwargs):
            reseed()
            return real_create[_name](*args, **kwargs)
        setattr(client, name, wrapped)

    vpc = client.create_vpc(CidrBlock="192.168.0.0/16")["Vpc"]["VpcId"]
    subnet = client.create_subnet(VpcId=vpc, CidrBlock="192.168.0.0/19",
                                  AvailabilityZone="us-west-2a")["Subnet"]["SubnetId"]
    node_sg = client.create_security_group(GroupName="eks-node", Description="node",
                                           VpcId=vpc)["GroupId"]
    pod_sg = client.create_security_group(GroupName="payments-pods", Description="pods",
                                          VpcId=vpc)["GroupId"]
    image = client.describe_images()["Images"][0]["ImageId"]
    instance = client.run_instances(ImageId=image, InstanceType="m5.large", MinCount=1,
                                    MaxCount=1, SubnetId=subnet,
                                    SecurityGroupIds=[node_sg])["Instances"][0]
    instance_id = instance["InstanceId"]
    primary = instance["NetworkInterfaces"][0]

    def create(description, groups, tag_pairs, interface_type=None):
        args = dict(SubnetId=subnet, Groups=groups, Description=description,
                    TagSpecifications=tags(tag_pairs))
        if interface_type:
            args["InterfaceType"] = interface_type
        return client.create_network_interface(**args)["NetworkInterface"]

    secondary = create(f"aws-K8S-{instance_id}", [node_sg],
                       [("node.k8s.amazonaws.com/instance_id", instance_id)])
    client.attach_network_interface(NetworkInterfaceId=secondary["NetworkInterfaceId"],
                                    InstanceId=instance_id, DeviceIndex=1)
    owner = ("eks:eni:owner", "eks-vpc-resource-controller")
    trunk = create("aws-k8s-trunk-eni", [node_sg], [owner], "trunk")
    client.attach_network_interface(NetworkInterfaceId=trunk["NetworkInterfaceId"],
                                    InstanceId=instance_id, DeviceIndex=2)
    branch_enis = []
    for vlan in range(1, branches + 1):
        branch = create("aws-k8s-branch-eni", [pod_sg],
                        [owner, ("vpcresources.k8s.aws/vlan-id", str(vlan)),
                         ("vpcresources.k8s.aws/trunk-eni-id", trunk["NetworkInterfaceId"])],
                        "branch")
        branch_enis.append({"id": branch["NetworkInterfaceId"],
                            "mac": branch["MacAddress"], "vlan": vlan})

    def eni(e):
        return {"id": e["NetworkInterfaceId"], "mac": e["MacAddress"]}

    return {
        "vpc_id": vpc, "subnet_id": subnet, "instance_id": instance_id,
        "node_sg": node_sg, "pod_sg": pod_sg,
        "primary": eni(primary), "secondary": eni(secondary), "trunk": eni(trunk),
        "branches": branch_enis,
    }


def main():
    command, endpoint = sys.argv[1], sys.argv[2]
    client = ec2(endpoint)
    if command == "seed":
        out = seed(client, endpoint, int(sys.argv[3]))
    elif command == "describe":
        out = {"NetworkInterfaces":
               client.describe_network_interfaces()["NetworkInterfaces"]}
    elif command == "assign":
        client.assign_private_ip_addresses(NetworkInterfaceId=sys.argv[3],
                                           SecondaryPrivateIpAddressCount=int(sys.argv[4]))
        out = {}
    elif command == "subnet":
        out = client.describe_subnets(SubnetIds=[sys.argv[3]])["Subnets"][0]
    else:
        raise SystemExit(f"unknown command {command}")
    json.dump(out, sys.stdout, default=str)


main()
