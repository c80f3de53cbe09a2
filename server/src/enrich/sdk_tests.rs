//! How SDK failures are classified, from real HTTP answers: the SDK asks a local HTTP server
//! that answers every call with one EC2 Query API error document, parses it as it parses EC2's,
//! and [`call_error`] decides whether the refresh retries.

use std::net::{Ipv4Addr, SocketAddr};

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::*;

/// EC2's error document for `code`.
fn error_document(code: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>{code} from the unit test</Message></Error></Errors>\
         <RequestID>3d2b8a0e-0000-4000-8000-000000000001</RequestID></Response>"
    )
}

/// A local endpoint answering every request with `status` and EC2's error document for `code`.
async fn endpoint(status: StatusCode, code: &'static str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let app = axum::Router::new().fallback(move || async move {
        (
            status,
            [("content-type", "text/xml;charset=UTF-8")],
            error_document(code),
        )
            .into_response()
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// The SDK as [`SdkEc2::from_env`] builds it, aimed at `addr` with static credentials.
fn client_for(addr: SocketAddr) -> SdkEc2 {
    let config = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .endpoint_url(format!("http://{addr}"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "unit"))
        .http_client(http_client())
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .build();
    SdkEc2 {
        client: Client::from_conf(config),
    }
}

/// The error and its causes on one line, as the enrichment status shows them.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn describe_failure(status: StatusCode, code: &'static str) -> Ec2CallError {
    let api = client_for(endpoint(status, code).await);
    match api
        .describe_enis("mac-address", &["0a:1b:2c:3d:4e:5f".to_owned()], None)
        .await
    {
        Ok(page) => panic!("{status} {code} answered {} ENIs", page.items.len()),
        Err(err) => err,
    }
}

#[tokio::test]
async fn ec2_throttling_is_retryable_and_named() {
    let err = describe_failure(StatusCode::SERVICE_UNAVAILABLE, "RequestLimitExceeded").await;
    assert_eq!(err.operation, "DescribeNetworkInterfaces");
    assert!(err.retryable, "throttled calls are retried: {err:?}");
    let text = chain(&err);
    assert!(text.contains("RequestLimitExceeded"), "{text}");
}

#[tokio::test]
async fn throttling_codes_are_retryable_whatever_the_status() {
    for code in ["Throttling", "ThrottlingException", "RequestLimitExceeded"] {
        let err = describe_failure(StatusCode::BAD_REQUEST, code).await;
        assert!(err.retryable, "{code} at 400: {err:?}");
        assert!(chain(&err).contains(code), "{}", chain(&err));
    }
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    for code in ["InvalidParameterValue", "UnauthorizedOperation"] {
        let err = describe_failure(StatusCode::BAD_REQUEST, code).await;
        assert!(!err.retryable, "{code}: {err:?}");
        assert!(chain(&err).contains(code), "{}", chain(&err));
    }
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let err = describe_failure(StatusCode::INTERNAL_SERVER_ERROR, "InternalError").await;
    assert!(err.retryable, "{err:?}");
}
