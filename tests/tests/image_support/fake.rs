//! A scripted HTTP/1.1 server on 127.0.0.1 for registry misbehaviour that a real
//! registry never shows: bytes that do not match their digest, a connection cut in
//! the middle of a blob, a server that disappears. Each route answers one path with
//! fixed status, headers and body; `Connection: close` keeps the protocol trivial.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use burrow_image::testing::TestImage;

#[derive(Clone)]
pub struct Route {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send only this many body bytes, then close the connection and stop the server.
    pub vanish_after: Option<usize>,
    /// Send only this many body bytes, then hold the connection until the server stops.
    pub stall_after: Option<usize>,
    /// Answer 401 with this `WWW-Authenticate` unless the request's Authorization
    /// header is exactly the first value.
    pub require: Option<(String, String)>,
}

impl Route {
    pub fn ok(content_type: &str, body: Vec<u8>) -> Route {
        Route {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
            vanish_after: None,
            stall_after: None,
            require: None,
        }
    }
}

pub struct FakeRegistry {
    pub host: String,
    stop: Arc<AtomicBool>,
    pub requests: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl FakeRegistry {
    pub fn start(routes: HashMap<String, Route>) -> FakeRegistry {
        FakeRegistry::start_with(|_| routes)
    }

    /// Like `start`, with routes that may name the server's own address.
    pub fn start_with(routes: impl FnOnce(&str) -> HashMap<String, Route>) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let host = format!(
            "127.0.0.1:{}",
            listener.local_addr().expect("address").port()
        );
        let routes = routes(&host);
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let thread = {
            let stop = stop.clone();
            let requests = requests.clone();
            std::thread::spawn(move || serve(listener, routes, stop, requests))
        };
        FakeRegistry {
            host,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    pub fn reference(&self, name: &str) -> burrow_image::Reference {
        burrow_image::Reference::parse(&format!("{}/{name}", self.host))
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Routes serving `image` as `name:tag` (and by digest), like a registry would.
pub fn routes_for(image: &TestImage, name: &str, tag: &str) -> HashMap<String, Route> {
    let mut routes = HashMap::new();
    routes.insert(
        "/v2/".to_string(),
        Route::ok("application/json", b"{}".to_vec()),
    );
    let manifest = Route::ok(&image.manifest_media_type, image.manifest.clone());
    routes.insert(format!("/v2/{name}/manifests/{tag}"), manifest.clone());
    routes.insert(
        format!("/v2/{name}/manifests/{}", image.manifest_digest()),
        manifest,
    );
    for (digest, bytes) in image.blobs() {
        routes.insert(
            format!("/v2/{name}/blobs/{digest}"),
            Route::ok("application/octet-stream", bytes.to_vec()),
        );
    }
    routes
}

fn serve(
    listener: TcpListener,
    routes: HashMap<String, Route>,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                requests.fetch_add(1, Ordering::Relaxed);
                if answer(stream, &routes, &stop) {
                    // The server "goes away": the listener closes with this thread.
                    return;
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Answers one request; true when the server must vanish now.
fn answer(mut stream: TcpStream, routes: &HashMap<String, Route>, stop: &AtomicBool) -> bool {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut words = text.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let path = words
        .next()
        .unwrap_or("")
        .split('?')
        .next()
        .unwrap_or("")
        .to_string();
    let not_found = Route {
        status: 404,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#.to_vec(),
        vanish_after: None,
        stall_after: None,
        require: None,
    };
    let authorization = text
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("authorization")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default();
    let mut route = routes.get(&path).unwrap_or(&not_found);
    let denied;
    if let Some((expected, challenge)) = &route.require {
        if authorization != *expected {
            denied = Route {
                status: 401,
                headers: vec![("WWW-Authenticate".into(), challenge.clone())],
                body:
                    br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                        .to_vec(),
                vanish_after: None,
                stall_after: None,
                require: None,
            };
            route = &denied;
        }
    }
    let mut response = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        route.status,
        route.body.len()
    );
    for (name, value) in &route.headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    let _ = stream.write_all(response.as_bytes());
    if method == "HEAD" {
        return false;
    }
    if let Some(n) = route.stall_after {
        let _ = stream.write_all(&route.body[..n.min(route.body.len())]);
        let _ = stream.flush();
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        return false;
    }
    match route.vanish_after {
        None => {
            let _ = stream.write_all(&route.body);
            false
        }
        Some(n) => {
            let _ = stream.write_all(&route.body[..n.min(route.body.len())]);
            let _ = stream.flush();
            true
        }
    }
}
