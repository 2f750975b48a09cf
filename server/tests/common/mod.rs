//! Test helpers: a server started in-process on a free loopback port, and a minimal
//! HTTP/1.1 client over a plain `TcpStream`, so tests control every byte they send
//! (malformed, oversized, slow bodies).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use charter_log::DecisionLog;
use charter_runtime::Engine;
use charter_server::{Server, ServerConfig};
use serde_json::Value as Json;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh temporary folder, unique to the test.
pub fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("charter-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

/// A sample request of `examples/requests/` without its facts (the server's fact store
/// holds `facts.json`).
pub fn sample(name: &str) -> Json {
    let text =
        std::fs::read_to_string(root().join(format!("examples/requests/{name}.json"))).unwrap();
    let mut v: Json = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("facts");
    v
}

/// The Zhenjiang bundle with the sample facts in its store.
pub fn engine() -> Engine {
    engine_at(&root().join("policies"))
}

pub fn engine_at(dir: &Path) -> Engine {
    let e = Engine::load(dir).unwrap();
    e.facts()
        .load_file(&root().join("examples/requests/facts.json"))
        .unwrap();
    e
}

/// A server running on its own thread and runtime; stopped (gracefully) on drop.
pub struct Running {
    pub addr: SocketAddr,
    pub log: Option<Arc<DecisionLog>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub fn start(engine: Engine, mut config: ServerConfig) -> Running {
    config.listen = "127.0.0.1:0".parse().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = Server::bind(engine, config).await.unwrap();
            tx.send((server.local_addr().unwrap(), server.log()))
                .unwrap();
            server
                .run(async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
        });
    });
    let (addr, log) = rx.recv().unwrap();
    Running {
        addr,
        log,
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

impl Running {
    pub fn conn(&self) -> Conn {
        Conn::new(self.addr)
    }

    /// Stops the server and waits until it has flushed its log.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// An answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The error code of an error answer.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// One keep-alive connection.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends a request with a body and a correct length.
    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: test\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method != "GET" {
            head.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        self.raw(head.as_bytes());
        self.raw(body.as_bytes());
        self.read()
    }

    pub fn get(&mut self, path: &str) -> Resp {
        self.send("GET", path, &[], "")
    }

    pub fn post(&mut self, path: &str, body: &str) -> Resp {
        self.send("POST", path, &[], body)
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }

    /// Reads one response.
    pub fn read(&mut self) -> Resp {
        let end = loop {
            if let Some(e) = find(&self.buf, b"\r\n\r\n") {
                break e;
            }
            assert!(self.fill(), "the connection closed before a response");
        };
        let head = String::from_utf8(self.buf[..end].to_vec()).unwrap();
        self.buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
            .collect();
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let body = if let Some(len) = get("content-length") {
            let len: usize = len.parse().unwrap();
            while self.buf.len() < len {
                assert!(self.fill(), "the connection closed mid-body");
            }
            self.buf.drain(..len).collect::<Vec<u8>>()
        } else if get("transfer-encoding").as_deref() == Some("chunked") {
            let mut out = Vec::new();
            loop {
                let line_end = loop {
                    if let Some(e) = find(&self.buf, b"\r\n") {
                        break e;
                    }
                    assert!(self.fill());
                };
                let size = usize::from_str_radix(
                    std::str::from_utf8(&self.buf[..line_end]).unwrap().trim(),
                    16,
                )
                .unwrap();
                self.buf.drain(..line_end + 2);
                while self.buf.len() < size + 2 {
                    assert!(self.fill());
                }
                out.extend(self.buf.drain(..size));
                self.buf.drain(..2);
                if size == 0 {
                    break out;
                }
            }
        } else {
            Vec::new()
        };
        Resp {
            status,
            headers,
            body: String::from_utf8(body).unwrap(),
        }
    }
}
