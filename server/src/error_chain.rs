//! One line for an error and its causes: what logs, status rows and client-facing messages show.

/// The error and its causes, `: `-separated. A cause whose text the line already holds is left
/// out: kube's and the AWS SDK's errors often repeat their cause in their own message.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        cause: Option<Box<Layer>>,
    }

    fn layer(text: &'static str, cause: Option<Layer>) -> Layer {
        Layer {
            text,
            cause: cause.map(Box::new),
        }
    }

    #[test]
    fn causes_follow_in_order_and_repeats_are_left_out() {
        let err = layer(
            "refresh failed",
            Some(layer(
                "DescribeSubnets: connection refused",
                Some(layer("connection refused", None)),
            )),
        );
        assert_eq!(
            error_chain(&err),
            "refresh failed: DescribeSubnets: connection refused"
        );
        assert_eq!(error_chain(&layer("alone", None)), "alone");
    }
}
