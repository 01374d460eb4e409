//! A local HTTP server standing in for GitHub's REST API (GitHub cannot be
//! reached from these machines). It records every request and answers
//! through a handler the test supplies; point `GITHUB_API_URL` at `url`.
//!
//! Every request is checked against GitHub's official API description
//! ([`spec`]), and every answer is completed into the documented shape for
//! its status and validated: a request GitHub would refuse is answered 400
//! and, like an answer GitHub would never give, fails the test when the
//! server is dropped.

#![allow(dead_code)]

pub mod spec;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Path and query, e.g. `/repos/o/r/pulls?state=open&page=2`.
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// The path without its query.
    pub fn route(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// An answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, value: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: value.to_string(),
        }
    }
    /// GitHub's error shape: its message and where it is documented.
    pub fn status(status: u16, message: &str) -> Reply {
        Reply::json(
            status,
            serde_json::json!({ "message": message, "documentation_url": "https://docs.github.com/rest" }),
        )
    }
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

type Handler = dyn Fn(&Request, &str) -> Reply + Send + Sync;

/// The running server; stopped when dropped.
pub struct FakeGithub {
    /// Base URL, e.g. `http://127.0.0.1:34567` (use as GITHUB_API_URL).
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    /// What GitHub's API description does not allow, seen so far.
    violations: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl FakeGithub {
    /// Starts a server; `handler(request, base_url)` answers each request
    /// (the base URL lets it build `Link` headers for pagination).
    pub fn start(handler: impl Fn(&Request, &str) -> Reply + Send + Sync + 'static) -> FakeGithub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let violations = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        // Read the description now: a missing package fails here, clearly.
        spec::spec();
        {
            let (requests, violations, stop, url) = (
                requests.clone(),
                violations.clone(),
                stop.clone(),
                url.clone(),
            );
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (requests, violations, handler, url) = (
                        requests.clone(),
                        violations.clone(),
                        handler.clone(),
                        url.clone(),
                    );
                    std::thread::spawn(move || {
                        serve(stream, &requests, &violations, &*handler, &url)
                    });
                }
            });
        }
        FakeGithub {
            url,
            requests,
            violations,
            stop,
            addr,
        }
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// What GitHub's API description does not allow, seen so far (the
    /// server fails the test with these when it is dropped).
    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }

    /// Forgets the violations seen so far: for tests that send what GitHub
    /// would refuse on purpose, after asserting them.
    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut *self.violations.lock().unwrap())
    }

    /// Requests other than GET.
    pub fn writes(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        let violations = self.violations();
        if !violations.is_empty() && !std::thread::panicking() {
            panic!(
                "the fake GitHub saw what GitHub's API description does not allow:\n  {}",
                violations.join("\n  ")
            );
        }
    }
}

/// An address where nothing listens, for "server down" tests.
pub fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn serve(
    stream: TcpStream,
    requests: &Mutex<Vec<Request>>,
    violations: &Mutex<Vec<String>>,
    handler: &Handler,
    url: &str,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0usize);
    let mut body = vec![0; len.min(10 << 20)];
    let _ = reader.read_exact(&mut body);
    let request = Request {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    requests.lock().unwrap().push(request.clone());
    let reply = checked_reply(&request, violations, handler, url);
    let reason = match reply.status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        _ => "Status",
    };
    let mut out = format!("HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n", reply.status, reply.body.len());
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&reply.body);
    let mut stream = stream;
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
}

/// The handler's reply to a request GitHub would accept, completed into
/// GitHub's documented shape; else a 400 (GitHub's refusal) and a violation.
fn checked_reply(
    request: &Request,
    violations: &Mutex<Vec<String>>,
    handler: &Handler,
    url: &str,
) -> Reply {
    let spec = spec::spec();
    let refuse = |why: String| {
        violations.lock().unwrap().push(why.clone());
        Reply::status(400, &format!("fake GitHub: {why}"))
    };
    if request.method == "POST" && request.route() == "/graphql" {
        if let Err(why) = spec.check_graphql(&request.body) {
            return refuse(why);
        }
        let reply = handler(request, url);
        if reply.status == 200 {
            if let Err(why) = spec.check_graphql_answer(&request.body, &reply.body) {
                violations.lock().unwrap().push(why);
            }
        }
        return reply;
    }
    let op = match spec.check_request(
        &request.method,
        &request.path,
        &request.headers,
        &request.body,
    ) {
        Ok(op) => op,
        Err(why) => return refuse(why),
    };
    let mut reply = handler(request, url);
    match spec.shape_response(&op, reply.status, &reply.body) {
        Ok(body) => reply.body = body,
        Err(why) => {
            violations.lock().unwrap().push(why);
        }
    }
    reply
}
