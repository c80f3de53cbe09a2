//! Amazon VPC CNI state: ipamd's introspection API and its checkpoint file.
