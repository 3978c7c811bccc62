//! slirp4netns's API socket, as Podman's `port_handler=slirp4netns` uses it: one JSON
//! request per connection (`{"execute": …, "arguments": {…}}`, under 4096 bytes, the
//! client shuts its side down after writing), one JSON reply, then the connection is
//! closed. Replies have slirp4netns's shapes: `{"return": {"id": N}}` for
//! `add_hostfwd`, `{"return": {"entries": [...]}}` for `list_hostfwd`,
//! `{"return": {}}` for `remove_hostfwd`, `{"error": {"desc": "…"}}` when a request
//! fails. Ports forward to the container's address only: it is the one address behind
//! the stack, so a `guest_addr` naming another is refused.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::net::UnixStream;

use burrow_net::{PortMapping, Protocol};
use serde_json::{json, Value};

/// The largest request slirp4netns accepts.
pub const MAX_REQUEST: usize = 4096;

/// Where forwards are opened and closed: the running stack, or a fake in tests.
pub trait Forwards {
    /// Binds and serves `mapping`; returns a handle for [`Forwards::close`].
    fn open(&mut self, mapping: PortMapping) -> Result<usize, String>;
    fn close(&mut self, handle: usize) -> Result<(), String>;
}

struct Entry {
    id: u64,
    mapping: PortMapping,
    handle: usize,
}

/// The API's state: the forwards it opened.
pub struct Api<F> {
    forwards: F,
    container_ip: Ipv4Addr,
    entries: Vec<Entry>,
    next_id: u64,
}

impl<F: Forwards> Api<F> {
    pub fn new(forwards: F, container_ip: Ipv4Addr) -> Api<F> {
        Api {
            forwards,
            container_ip,
            entries: Vec::new(),
            next_id: 1,
        }
    }

    /// Reads one request from `stream`, answers it and closes the connection.
    pub fn serve(&mut self, mut stream: UnixStream) {
        let mut request = Vec::new();
        let read = (&mut stream)
            .take(MAX_REQUEST as u64 + 1)
            .read_to_end(&mut request);
        let reply = match read {
            Ok(_) if request.len() > MAX_REQUEST => error("bad request: too large".into()),
            Ok(_) => self.handle(&request),
            Err(e) => error(format!("bad request: cannot read it: {e}")),
        };
        let _ = stream.write_all(reply.to_string().as_bytes());
    }

    /// The reply to one request.
    pub fn handle(&mut self, request: &[u8]) -> Value {
        let request: Value = match serde_json::from_slice(request) {
            Ok(value) => value,
            Err(e) => return error(format!("bad request: not JSON: {e}")),
        };
        let arguments = request.get("arguments").cloned().unwrap_or(json!({}));
        let result = match request.get("execute").and_then(Value::as_str) {
            Some("add_hostfwd") => self.add(&arguments),
            Some("list_hostfwd") => Ok(self.list()),
            Some("remove_hostfwd") => self.remove(&arguments),
            Some(other) => Err(format!("bad request: unknown execute: {other}")),
            None => Err("bad request: no execute".into()),
        };
        match result {
            Ok(value) => json!({ "return": value }),
            Err(desc) => error(desc),
        }
    }

    fn add(&mut self, arguments: &Value) -> Result<Value, String> {
        let bad = |what: &str| format!("bad request: add_hostfwd: bad arguments.{what}");
        let protocol = match arguments.get("proto").and_then(Value::as_str) {
            Some("tcp") => Protocol::Tcp,
            Some("udp") => Protocol::Udp,
            _ => return Err(bad("proto")),
        };
        let host_ip: IpAddr = match arguments.get("host_addr").and_then(Value::as_str) {
            None | Some("") => Ipv4Addr::UNSPECIFIED.into(),
            Some(text) => text.parse().map_err(|_| bad("host_addr"))?,
        };
        match arguments.get("guest_addr").and_then(Value::as_str) {
            None | Some("") => {}
            Some(text) if text.parse::<Ipv4Addr>().ok() == Some(self.container_ip) => {}
            Some(_) => {
                return Err(format!(
                    "bad request: add_hostfwd: guest_addr must be the container's address {}",
                    self.container_ip
                ))
            }
        }
        let port = |name: &str| {
            arguments
                .get(name)
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| bad(name))
        };
        let mapping = PortMapping {
            host_ip,
            host_port: port("host_port")?,
            container_port: port("guest_port")?,
            protocol,
        };
        if mapping.container_port == 0 {
            return Err(bad("guest_port"));
        }
        let handle = self
            .forwards
            .open(mapping)
            .map_err(|e| format!("add_hostfwd failed: {e}"))?;
        let id = self.next_id;
        self.next_id += 1;
        self.entries.push(Entry {
            id,
            mapping,
            handle,
        });
        Ok(json!({ "id": id }))
    }

    fn list(&self) -> Value {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|entry| {
                json!({
                    "id": entry.id,
                    "proto": entry.mapping.protocol.to_string(),
                    "host_addr": entry.mapping.host_ip.to_string(),
                    "host_port": entry.mapping.host_port,
                    "guest_addr": self.container_ip.to_string(),
                    "guest_port": entry.mapping.container_port,
                })
            })
            .collect();
        json!({ "entries": entries })
    }

    fn remove(&mut self, arguments: &Value) -> Result<Value, String> {
        let id = arguments
            .get("id")
            .and_then(Value::as_u64)
            .ok_or("bad request: remove_hostfwd: bad arguments.id")?;
        let index = self
            .entries
            .iter()
            .position(|entry| entry.id == id)
            .ok_or_else(|| format!("remove_hostfwd: no forward with id {id}"))?;
        let entry = self.entries.remove(index);
        self.forwards
            .close(entry.handle)
            .map_err(|e| format!("remove_hostfwd failed: {e}"))?;
        Ok(json!({}))
    }
}

fn error(desc: String) -> Value {
    json!({ "error": { "desc": desc } })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what was opened and closed.
    #[derive(Default)]
    struct Fake {
        open: Vec<(usize, PortMapping)>,
        next: usize,
    }

    impl Forwards for Fake {
        fn open(&mut self, mapping: PortMapping) -> Result<usize, String> {
            if mapping.host_port == 1 {
                return Err("0.0.0.0:1 is already in use".into());
            }
            self.next += 1;
            self.open.push((self.next, mapping));
            Ok(self.next)
        }

        fn close(&mut self, handle: usize) -> Result<(), String> {
            self.open.retain(|(h, _)| *h != handle);
            Ok(())
        }
    }

    fn api() -> Api<Fake> {
        Api::new(Fake::default(), Ipv4Addr::new(10, 0, 2, 100))
    }

    fn call(api: &mut Api<Fake>, request: &str) -> Value {
        api.handle(request.as_bytes())
    }

    #[test]
    fn add_list_remove_answer_like_slirp4netns() {
        let mut api = api();
        // Podman's request: guest_addr empty, a newline at the end.
        let added = call(
            &mut api,
            r#"{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"127.0.0.1","host_port":8080,"guest_addr":"","guest_port":80}}
"#,
        );
        assert_eq!(added, json!({"return": {"id": 1}}));
        let added = call(
            &mut api,
            r#"{"execute":"add_hostfwd","arguments":{"proto":"udp","host_port":5353,"guest_addr":"10.0.2.100","guest_port":53}}"#,
        );
        assert_eq!(added, json!({"return": {"id": 2}}));
        assert_eq!(api.forwards.open.len(), 2);
        assert_eq!(
            api.forwards.open[1].1.host_ip,
            IpAddr::from(Ipv4Addr::UNSPECIFIED)
        );
        let listed = call(&mut api, r#"{"execute": "list_hostfwd"}"#);
        assert_eq!(
            listed,
            json!({"return": {"entries": [
                {"id": 1, "proto": "tcp", "host_addr": "127.0.0.1", "host_port": 8080,
                 "guest_addr": "10.0.2.100", "guest_port": 80},
                {"id": 2, "proto": "udp", "host_addr": "0.0.0.0", "host_port": 5353,
                 "guest_addr": "10.0.2.100", "guest_port": 53},
            ]}})
        );
        let removed = call(
            &mut api,
            r#"{"execute":"remove_hostfwd","arguments":{"id":1}}"#,
        );
        assert_eq!(removed, json!({"return": {}}));
        assert_eq!(api.forwards.open.len(), 1);
        let listed = call(&mut api, r#"{"execute": "list_hostfwd"}"#);
        assert_eq!(
            listed["return"]["entries"].as_array().map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn bad_requests_get_an_error_reply() {
        let mut api = api();
        for request in [
            "not json",
            r#"{"arguments": {}}"#,
            r#"{"execute": "shutdown"}"#,
            r#"{"execute":"add_hostfwd","arguments":{"proto":"sctp","host_port":1,"guest_port":1}}"#,
            r#"{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":70000,"guest_port":1}}"#,
            r#"{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":8080}}"#,
            r#"{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":8080,"guest_port":80,"guest_addr":"10.0.2.5"}}"#,
            r#"{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":1,"guest_port":80}}"#,
            r#"{"execute":"remove_hostfwd","arguments":{"id":9}}"#,
            r#"{"execute":"remove_hostfwd"}"#,
        ] {
            let reply = call(&mut api, request);
            let desc = reply["error"]["desc"].as_str().unwrap_or_default();
            assert!(
                !desc.is_empty() && !desc.contains('\n'),
                "{request}: {reply}"
            );
        }
        assert!(api.forwards.open.is_empty());
        let in_use = call(
            &mut api,
            r#"{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":1,"guest_port":80}}"#,
        );
        assert!(in_use["error"]["desc"]
            .as_str()
            .is_some_and(|d| d.contains("already in use")));
    }
}
