//! aws-sdk-ec2 behind [`Ec2Api`]: the standard AWS settings (region, the default credential
//! chain, `AWS_ENDPOINT_URL_EC2` / `AWS_ENDPOINT_URL`), rustls on ring through the HTTP client
//! passed in explicitly, and one attempt per call: retries are the refresh's, with its backoff,
//! so an emulator's 500 for something it lacks is not retried three times more by the SDK.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{Filter, InstanceType};
use aws_smithy_http_client::tls;
use podwire_node_state::ec2::{Ec2Attachment, Ec2Eni, Ec2PrivateIp, Ec2SecurityGroup, Ec2Tag};

use super::model::{DescribedSubnet, InstanceTypeLimits};
use super::refresh::{Ec2Api, Ec2CallError, Page};

/// Pages asked for: EC2's largest for DescribeNetworkInterfaces and DescribeSubnets.
const PAGE_SIZE: i32 = 1000;

/// EC2 through the SDK.
#[derive(Debug, Clone)]
pub struct SdkEc2 {
    client: Client,
}

impl SdkEc2 {
    /// A client from the environment, as every AWS tool reads it. Installs ring as rustls's
    /// process-wide provider first (a no-op if one is installed already).
    pub async fn from_env() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .build(),
            )
            .load()
            .await;
        SdkEc2 {
            client: Client::new(&config),
        }
    }
}

fn call_error<E>(operation: &'static str, err: SdkError<E>) -> Ec2CallError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    let retryable = match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error()
                || matches!(
                    err.code(),
                    Some("RequestLimitExceeded" | "Throttling" | "ThrottlingException")
                )
        }
        _ => false,
    };
    Ec2CallError {
        operation,
        retryable,
        source: Box::new(err),
    }
}

fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

/// The SDK's ENI in the shared crate's plain form: the one conversion.
fn plain_eni(eni: &aws_sdk_ec2::types::NetworkInterface) -> Ec2Eni {
    let owned = |s: Option<&str>| s.map(str::to_owned);
    Ec2Eni {
        network_interface_id: eni.network_interface_id().unwrap_or_default().to_owned(),
        interface_type: eni.interface_type().map(|t| t.as_str().to_owned()),
        description: owned(eni.description()),
        mac_address: owned(eni.mac_address()),
        subnet_id: owned(eni.subnet_id()),
        vpc_id: owned(eni.vpc_id()),
        availability_zone: owned(eni.availability_zone()),
        status: eni.status().map(|s| s.as_str().to_owned()),
        private_ip_address: owned(eni.private_ip_address()),
        private_ip_addresses: eni
            .private_ip_addresses()
            .iter()
            .filter_map(|ip| {
                Some(Ec2PrivateIp {
                    private_ip_address: ip.private_ip_address()?.to_owned(),
                    primary: ip.primary().unwrap_or(false),
                })
            })
            .collect(),
        groups: eni
            .groups()
            .iter()
            .filter_map(|g| {
                Some(Ec2SecurityGroup {
                    group_id: g.group_id()?.to_owned(),
                    group_name: owned(g.group_name()),
                })
            })
            .collect(),
        attachment: eni.attachment().map(|a| Ec2Attachment {
            instance_id: owned(a.instance_id()),
            device_index: a.device_index(),
            network_card_index: a.network_card_index(),
            status: a.status().map(|s| s.as_str().to_owned()),
        }),
        tag_set: eni
            .tag_set()
            .iter()
            .filter_map(|t| {
                Some(Ec2Tag {
                    key: t.key()?.to_owned(),
                    value: owned(t.value()),
                })
            })
            .collect(),
    }
}

impl Ec2Api for SdkEc2 {
    async fn describe_enis(
        &self,
        name: &'static str,
        values: &[String],
        token: Option<String>,
    ) -> Result<Page<Ec2Eni>, Ec2CallError> {
        let out = self
            .client
            .describe_network_interfaces()
            .filters(filter(name, values))
            .max_results(PAGE_SIZE)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| call_error("DescribeNetworkInterfaces", e))?;
        Ok(Page {
            items: out.network_interfaces().iter().map(plain_eni).collect(),
            next_token: out.next_token().map(str::to_owned),
        })
    }

    async fn describe_subnets(
        &self,
        ids: &[String],
        token: Option<String>,
    ) -> Result<Page<DescribedSubnet>, Ec2CallError> {
        let out = self
            .client
            .describe_subnets()
            .filters(filter("subnet-id", ids))
            .max_results(PAGE_SIZE)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| call_error("DescribeSubnets", e))?;
        Ok(Page {
            items: out
                .subnets()
                .iter()
                .map(|s| DescribedSubnet {
                    subnet_id: s.subnet_id().unwrap_or_default().to_owned(),
                    vpc_id: s.vpc_id().map(str::to_owned),
                    cidr: s.cidr_block().and_then(|c| c.parse().ok()),
                    availability_zone: s.availability_zone().map(str::to_owned),
                    available: s.available_ip_address_count(),
                })
                .collect(),
            next_token: out.next_token().map(str::to_owned),
        })
    }

    async fn describe_instances(
        &self,
        ids: &[String],
        token: Option<String>,
    ) -> Result<Page<(String, String)>, Ec2CallError> {
        let out = self
            .client
            .describe_instances()
            .filters(filter("instance-id", ids))
            .max_results(PAGE_SIZE)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| call_error("DescribeInstances", e))?;
        Ok(Page {
            items: out
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .filter_map(|i| {
                    Some((
                        i.instance_id()?.to_owned(),
                        i.instance_type()?.as_str().to_owned(),
                    ))
                })
                .collect(),
            next_token: out.next_token().map(str::to_owned),
        })
    }

    async fn describe_instance_types(
        &self,
        types: &[String],
        token: Option<String>,
    ) -> Result<Page<InstanceTypeLimits>, Ec2CallError> {
        let out = self
            .client
            .describe_instance_types()
            .set_instance_types(Some(
                types
                    .iter()
                    .map(|t| InstanceType::from(t.as_str()))
                    .collect(),
            ))
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| call_error("DescribeInstanceTypes", e))?;
        Ok(Page {
            items: out
                .instance_types()
                .iter()
                .filter_map(|t| {
                    let network = t.network_info()?;
                    Some(InstanceTypeLimits {
                        instance_type: t.instance_type()?.as_str().to_owned(),
                        max_enis: network.maximum_network_interfaces()?,
                        ipv4_per_eni: network.ipv4_addresses_per_interface()?,
                        ipv6_per_eni: network.ipv6_addresses_per_interface(),
                    })
                })
                .collect(),
            next_token: out.next_token().map(str::to_owned),
        })
    }
}
