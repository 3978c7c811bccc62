//! Editing a runtime-spec `config.json` as plain JSON.
//!
//! Tests start from what the runtime's `spec --rootless` writes and change only what a
//! scenario is about, so the rest stays what a real user would get. Plain JSON (not a typed
//! model) lets the bad-input tests write what no typed model accepts, e.g. an unknown
//! namespace type. Setters create missing parent objects.

use serde_json::{json, Map, Value};

use crate::user::TestUser;

/// A `config.json` document.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec(pub Value);

impl Spec {
    pub fn from_json(text: &str) -> Result<Spec, serde_json::Error> {
        serde_json::from_str(text).map(Spec)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.0).expect("a JSON value always serializes")
    }

    /// The value at a JSON pointer (`/process/args`), if present.
    pub fn get(&self, pointer: &str) -> Option<&Value> {
        self.0.pointer(pointer)
    }

    /// Sets the value at a `/`-separated path of object keys, creating objects on the way.
    pub fn set(&mut self, path: &str, value: Value) -> &mut Spec {
        let mut node = &mut self.0;
        let keys: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (last, parents) = keys.split_last().expect("a non-empty path");
        for key in parents {
            node = object(node)
                .entry(key.to_string())
                .or_insert_with(|| json!({}));
        }
        object(node).insert(last.to_string(), value);
        self
    }

    /// Removes the value at a path of object keys (no-op when absent).
    pub fn remove(&mut self, path: &str) -> &mut Spec {
        let (parent, last) = match path.rsplit_once('/') {
            Some((parent, last)) => (parent, last),
            None => ("", path),
        };
        if let Some(Value::Object(map)) = self.0.pointer_mut(parent) {
            map.remove(last);
        }
        self
    }

    /// The array at a path, created empty when missing.
    pub fn array(&mut self, path: &str) -> &mut Vec<Value> {
        if !matches!(self.0.pointer(path), Some(Value::Array(_))) {
            self.set(path, json!([]));
        }
        match self.0.pointer_mut(path) {
            Some(Value::Array(items)) => items,
            _ => unreachable!("just set to an array"),
        }
    }

    pub fn args(&mut self, args: &[&str]) -> &mut Spec {
        self.set("/process/args", json!(args))
    }

    /// Sets `NAME=value` in process.env, replacing an existing NAME.
    pub fn env(&mut self, name: &str, value: &str) -> &mut Spec {
        let prefix = format!("{name}=");
        let env = self.array("/process/env");
        env.retain(|entry| !entry.as_str().is_some_and(|e| e.starts_with(&prefix)));
        env.push(json!(format!("{name}={value}")));
        self
    }

    pub fn cwd(&mut self, cwd: &str) -> &mut Spec {
        self.set("/process/cwd", json!(cwd))
    }

    pub fn terminal(&mut self, terminal: bool) -> &mut Spec {
        self.set("/process/terminal", json!(terminal))
    }

    /// process.user: uid, gid and additionalGids.
    pub fn user(&mut self, uid: u32, gid: u32, additional_gids: &[u32]) -> &mut Spec {
        let mut user = json!({ "uid": uid, "gid": gid });
        if !additional_gids.is_empty() {
            user["additionalGids"] = json!(additional_gids);
        }
        self.set("/process/user", user)
    }

    pub fn hostname(&mut self, hostname: &str) -> &mut Spec {
        self.set("/hostname", json!(hostname))
    }

    pub fn readonly_root(&mut self, readonly: bool) -> &mut Spec {
        self.set("/root/readonly", json!(readonly))
    }

    pub fn root_path(&mut self, path: &str) -> &mut Spec {
        self.set("/root/path", json!(path))
    }

    pub fn masked_path(&mut self, path: &str) -> &mut Spec {
        self.array("/linux/maskedPaths").push(json!(path));
        self
    }

    pub fn readonly_path(&mut self, path: &str) -> &mut Spec {
        self.array("/linux/readonlyPaths").push(json!(path));
        self
    }

    /// Sets the bounding, effective and permitted sets to `caps`, and empties the
    /// inheritable and ambient sets.
    pub fn capabilities(&mut self, caps: &[&str]) -> &mut Spec {
        self.set(
            "/process/capabilities",
            json!({
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
                "inheritable": [],
                "ambient": [],
            }),
        )
    }

    pub fn no_new_privileges(&mut self, on: bool) -> &mut Spec {
        self.set("/process/noNewPrivileges", json!(on))
    }

    /// Sets one rlimit (e.g. `RLIMIT_NOFILE`), replacing an existing one of that type.
    pub fn rlimit(&mut self, kind: &str, soft: u64, hard: u64) -> &mut Spec {
        let rlimits = self.array("/process/rlimits");
        rlimits.retain(|r| r.get("type").and_then(Value::as_str) != Some(kind));
        rlimits.push(json!({ "type": kind, "soft": soft, "hard": hard }));
        self
    }

    /// A seccomp profile allowing everything but `syscalls`, which fail with `errno`.
    pub fn seccomp_errno(&mut self, syscalls: &[&str], errno: u32) -> &mut Spec {
        self.set(
            "/linux/seccomp",
            json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{
                    "names": syscalls,
                    "action": "SCMP_ACT_ERRNO",
                    "errnoRet": errno,
                }],
            }),
        )
    }

    /// Appends a mount.
    pub fn mount(
        &mut self,
        destination: &str,
        kind: &str,
        source: &str,
        options: &[&str],
    ) -> &mut Spec {
        self.array("/mounts").push(json!({
            "destination": destination,
            "type": kind,
            "source": source,
            "options": options,
        }));
        self
    }

    /// Appends a recursive bind mount of a host path (extra options such as `ro` added).
    pub fn bind_mount(
        &mut self,
        host: &std::path::Path,
        destination: &str,
        options: &[&str],
    ) -> &mut Spec {
        let mut all = vec!["rbind"];
        all.extend_from_slice(options);
        let source = host.to_str().expect("a UTF-8 host path");
        self.mount(destination, "bind", source, &all)
    }

    /// Maps container uid/gid 0 to the user and 1..=65536 to the start of the user's
    /// /etc/subuid and /etc/subgid ranges (what podman does; needs newuidmap).
    pub fn map_subordinate_ids(&mut self, user: &TestUser) -> &mut Spec {
        let subuid = user.subuid();
        let subgid = user.subgid();
        let size = 65536.min(subuid.count).min(subgid.count);
        self.set(
            "/linux/uidMappings",
            json!([
                { "containerID": 0, "hostID": user.uid, "size": 1 },
                { "containerID": 1, "hostID": subuid.start, "size": size },
            ]),
        );
        self.set(
            "/linux/gidMappings",
            json!([
                { "containerID": 0, "hostID": user.gid, "size": 1 },
                { "containerID": 1, "hostID": subgid.start, "size": size },
            ]),
        )
    }

    /// Runs in the host's pid namespace: removes the pid namespace and, since a user
    /// namespace cannot mount a new proc without owning a pid namespace, replaces the
    /// proc mount with a recursive bind of the host's /proc. The process is then not pid 1
    /// and can be killed by its own signals.
    pub fn share_host_pid_namespace(&mut self) -> &mut Spec {
        self.remove_namespace("pid");
        for mount in self.array("/mounts").iter_mut() {
            if mount.get("destination").and_then(Value::as_str) == Some("/proc") {
                *mount = json!({
                    "destination": "/proc",
                    "type": "bind",
                    "source": "/proc",
                    "options": ["rbind"],
                });
            }
        }
        self
    }

    /// Adds an annotation.
    pub fn annotation(&mut self, key: &str, value: &str) -> &mut Spec {
        let path = format!("/annotations/{key}");
        if key.contains('/') {
            panic!("annotation keys with '/' are not supported by this helper: {key}");
        }
        self.set(&path, json!(value))
    }

    /// process.user.umask.
    pub fn umask(&mut self, umask: u32) -> &mut Spec {
        self.set("/process/user/umask", json!(umask))
    }

    /// The namespace types in linux.namespaces.
    pub fn namespace_types(&self) -> Vec<String> {
        self.get("/linux/namespaces")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|ns| ns.get("type").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Adds a namespace entry (any string, so invalid types can be written too).
    pub fn add_namespace(&mut self, kind: &str, path: Option<&str>) -> &mut Spec {
        let mut entry = json!({ "type": kind });
        if let Some(path) = path {
            entry["path"] = json!(path);
        }
        self.array("/linux/namespaces").push(entry);
        self
    }

    pub fn remove_namespace(&mut self, kind: &str) -> &mut Spec {
        self.array("/linux/namespaces")
            .retain(|ns| ns.get("type").and_then(Value::as_str) != Some(kind));
        self
    }
}

fn object(node: &mut Value) -> &mut Map<String, Value> {
    if !node.is_object() {
        *node = json!({});
    }
    match node {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Spec {
        Spec::from_json(
            r#"{"process":{"args":["sh"],"env":["PATH=/bin","TERM=xterm"],
                "rlimits":[{"type":"RLIMIT_NOFILE","soft":1024,"hard":1024}]},
                "linux":{"namespaces":[{"type":"pid"},{"type":"user"}]}}"#,
        )
        .unwrap()
    }

    #[test]
    fn setters_create_and_replace() {
        let mut spec = sample();
        spec.args(&["sh", "-c", "true"])
            .env("TERM", "dumb")
            .env("FOO", "bar");
        spec.hostname("box").readonly_root(true).terminal(false);
        assert_eq!(
            spec.get("/process/args"),
            Some(&json!(["sh", "-c", "true"]))
        );
        assert_eq!(
            spec.get("/process/env"),
            Some(&json!(["PATH=/bin", "TERM=dumb", "FOO=bar"]))
        );
        assert_eq!(spec.get("/hostname"), Some(&json!("box")));
        assert_eq!(spec.get("/root/readonly"), Some(&json!(true)));
        spec.rlimit("RLIMIT_NOFILE", 10, 20);
        assert_eq!(
            spec.get("/process/rlimits"),
            Some(&json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}]))
        );
    }

    #[test]
    fn namespaces_and_lists() {
        let mut spec = sample();
        spec.remove_namespace("pid")
            .add_namespace("bogus", None)
            .masked_path("/secret");
        assert_eq!(spec.namespace_types(), ["user", "bogus"]);
        assert_eq!(spec.get("/linux/maskedPaths"), Some(&json!(["/secret"])));
        spec.remove("/linux/maskedPaths");
        assert_eq!(spec.get("/linux/maskedPaths"), None);
    }

    #[test]
    fn user_and_capabilities() {
        let mut spec = sample();
        spec.user(1000, 1000, &[10, 20]).capabilities(&["CAP_KILL"]);
        assert_eq!(
            spec.get("/process/user"),
            Some(&json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20]}))
        );
        assert_eq!(
            spec.get("/process/capabilities/effective"),
            Some(&json!(["CAP_KILL"]))
        );
        assert_eq!(spec.get("/process/capabilities/ambient"), Some(&json!([])));
    }

    #[test]
    fn mappings_use_the_subordinate_ranges() {
        let user = crate::user::TestUser::get();
        let mut spec = sample();
        spec.map_subordinate_ids(user);
        let maps = spec
            .get("/linux/uidMappings")
            .and_then(Value::as_array)
            .unwrap();
        assert_eq!(
            maps[0],
            json!({"containerID": 0, "hostID": user.uid, "size": 1})
        );
        assert_eq!(maps[1]["hostID"], json!(user.subuid().start));
    }
}
