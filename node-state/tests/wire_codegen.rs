//! The wire code under `src/wire/generated/` is checked in, so that building podwire needs neither
//! protoc nor protox. This test regenerates it from `proto/` into a temporary directory and fails
//! when the two differ.
//!
//! After changing a `.proto` file, refresh the checked-in code with
//!
//! ```text
//! PODWIRE_REGENERATE=1 cargo test -p podwire-node-state --test wire_codegen
//! ```
//!
//! and commit the result.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const REGENERATE_VAR: &str = "PODWIRE_REGENERATE";

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn checked_in_dir() -> PathBuf {
    crate_dir().join("src/wire/generated")
}

/// Every `.proto` file under `proto/`, as paths relative to it, in a stable order.
fn proto_files(proto_root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let entries =
            fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("reading a directory entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|ext| ext == "proto") {
                let relative = path
                    .strip_prefix(root)
                    .expect("a path under the proto root");
                out.push(relative.to_path_buf());
            }
        }
    }
    let mut files = Vec::new();
    walk(proto_root, proto_root, &mut files);
    files.sort();
    assert!(
        !files.is_empty(),
        "no .proto files under {}",
        proto_root.display()
    );
    files
}

/// Runs the code generator exactly as the checked-in code was produced.
fn generate_into(out_dir: &Path) {
    let proto_root = crate_dir().join("proto");
    let descriptors = protox::compile(proto_files(&proto_root), [&proto_root])
        .unwrap_or_else(|e| panic!("the .proto files do not compile: {e}"));
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // The shared crate depends on tonic's `codegen` feature only; the binaries bring `transport`
        // and build their `Channel` themselves. (With transport code, tonic would also generate an
        // `AgentIngestClient::connect` constructor, which collides with the `Connect` RPC.)
        .build_transport(false)
        // `Bytes`, not `Vec<u8>`: tonic decodes from a shared buffer, so addresses and MACs are
        // then slices of it instead of thousands of small allocations per snapshot.
        .bytes(".")
        .emit_rerun_if_changed(false)
        .out_dir(out_dir)
        .compile_fds(descriptors)
        .unwrap_or_else(|e| panic!("code generation failed: {e}"));
}

/// The `.rs` files of a directory, by name.
fn rust_files(dir: &Path) -> BTreeMap<String, String> {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
    entries
        .map(|entry| entry.expect("reading a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| {
            let name = path
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            (name, text)
        })
        .collect()
}

#[test]
fn checked_in_wire_code_matches_the_proto_files() {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    generate_into(scratch.path());
    let fresh = rust_files(scratch.path());
    let checked_in_dir = checked_in_dir();

    if std::env::var_os(REGENERATE_VAR).is_some_and(|v| v == "1") {
        for (name, _) in rust_files(&checked_in_dir) {
            if !fresh.contains_key(&name) {
                fs::remove_file(checked_in_dir.join(&name))
                    .expect("removing a stale generated file");
            }
        }
        for (name, text) in &fresh {
            fs::write(checked_in_dir.join(name), text).expect("writing generated code");
        }
        return;
    }

    let checked_in = rust_files(&checked_in_dir);
    let mut drift = Vec::new();
    for (name, text) in &fresh {
        match checked_in.get(name) {
            None => drift.push(format!("{name}: missing from src/wire/generated/")),
            Some(old) if old != text => {
                let line = old
                    .lines()
                    .zip(text.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| old.lines().count().min(text.lines().count()));
                drift.push(format!("{name}: differs from line {}", line + 1));
            }
            Some(_) => {}
        }
    }
    for name in checked_in.keys().filter(|name| !fresh.contains_key(*name)) {
        drift.push(format!("{name}: generated by nothing in proto/"));
    }
    assert!(
        drift.is_empty(),
        "the checked-in wire code is out of date with proto/:\n  {}\nrefresh it with \
         `{REGENERATE_VAR}=1 cargo test -p podwire-node-state --test wire_codegen` and commit the result",
        drift.join("\n  ")
    );
}
