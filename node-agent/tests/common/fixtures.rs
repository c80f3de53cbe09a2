//! Helpers shared by the collector tests: fixture paths, copies of fixture host roots to break,
//! and a real HTTP/1 server on a loopback port that answers exactly what a test scripts.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

pub fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative)
}

pub fn read_fixture(relative: &str) -> Vec<u8> {
    fs::read(fixture(relative)).expect("fixture exists")
}

/// Copies a fixture host root into a fresh temporary directory, symlinks kept as links.
pub fn copy_host(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    copy_tree(&fixture(&format!("hosts/{name}")), dir.path());
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create directory");
    for entry in fs::read_dir(from).expect("read fixture directory") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_symlink() {
            let link = fs::read_link(entry.path()).expect("read link");
            std::os::unix::fs::symlink(link, &target).expect("copy link");
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// What the scripted server does with the one connection it accepts.
pub enum Reply {
    /// Writes these bytes as the whole response, then closes.
    Raw(Vec<u8>),
    /// Reads the request and closes without a word.
    Close,
}

/// A server that accepts one connection on an ephemeral 127.0.0.1 port, reads the request head,
/// replies, and hands the request head back through `join`.
pub struct OneShotServer {
    pub addr: SocketAddr,
    handle: JoinHandle<String>,
}

impl OneShotServer {
    pub fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let head = read_head(&stream);
            let mut stream = stream;
            match reply {
                Reply::Raw(bytes) => {
                    // The client may already have given up; the test asserts on its side.
                    let _ = stream.write_all(&bytes);
                    let _ = stream.flush();
                }
                Reply::Close => {}
            }
            head
        });
        OneShotServer { addr, handle }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The request head the server received.
    pub fn join(self) -> String {
        self.handle.join().expect("server thread")
    }
}

fn read_head(stream: &TcpStream) -> String {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("read request") == 0 || line == "\r\n" {
            return head;
        }
        head.push_str(&line);
    }
}

/// A complete response with a `Content-Length` body.
pub fn content_length_response(status: &str, body: &[u8]) -> Vec<u8> {
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);
    response
}

/// A complete response with the body sent in chunks of `chunk` bytes, as Go's net/http sends
/// answers it has not buffered whole.
pub fn chunked_response(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut response =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for piece in body.chunks(chunk) {
        response.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        response.extend_from_slice(piece);
        response.extend_from_slice(b"\r\n");
    }
    response.extend_from_slice(b"0\r\n\r\n");
    response
}

/// A loopback port nothing listens on: bound, then released.
pub fn refused_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{addr}")
}
