//! CNI state read from files under the host root.
