//! A container's record (`container.json`): what the user asked for, and
//! what happened to it. The status is re-derived from the process table on
//! every load, so a supervisor that died shows its container as exited.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, IoContext, Result};
use crate::mounts::MountSpec;
use crate::store::Store;

/// What `run`/`create` asked for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunConfig {
    /// Image reference, or the rootfs directory for `--rootfs`.
    pub image: String,
    pub rootfs: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    /// `UID[:GID]` inside the container.
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub tty: bool,
    /// Keep stdin open for attached clients (`-i`).
    #[serde(default)]
    pub interactive: bool,
    pub auto_remove: bool,
    pub read_only: bool,
    pub init: bool,
    pub labels: BTreeMap<String, String>,
    /// The `-v` arguments as given (Docker's `HostConfig.Binds`); what is
    /// mounted is `mounts`.
    #[serde(default)]
    pub binds: Vec<String>,
    /// Bind, volume and tmpfs mounts (from `-v`, `--mount`, `--tmpfs` and
    /// `--volumes-from`), resolved by `create`.
    #[serde(default)]
    pub mounts: Vec<MountSpec>,
    /// `--volumes-from CONTAINER[:ro|rw]`, expanded into `mounts` by `create`.
    #[serde(default)]
    pub volumes_from: Vec<String>,
    /// `none` (loopback only) or `host`.
    pub network: String,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u64>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// The image's id when the container runs an image (empty for `--rootfs`).
    #[serde(default)]
    pub image_id: String,
    /// The image's unpacked layers, top first: the overlay's lower layers.
    #[serde(default)]
    pub layers: Vec<PathBuf>,
    /// `-p` specs as given (`[IP:]HOSTPORT:CONTAINERPORT[/PROTO]`).
    #[serde(default)]
    pub publish: Vec<String>,
    /// `--network-alias`: more names other members of its network find it by.
    #[serde(default)]
    pub network_aliases: Vec<String>,
    /// The networks after `network`, in join order (`--network` given again,
    /// `network connect`): the container gets one interface on each.
    #[serde(default)]
    pub more_networks: Vec<NetworkAttachment>,
    /// The address asked for on `network` (`--ip`, `network connect --ip`).
    #[serde(default)]
    pub network_ip: Option<std::net::Ipv4Addr>,
    /// `--dns` servers written to the container's resolv.conf.
    #[serde(default)]
    pub dns: Vec<String>,
    /// `--add-host NAME:IP` entries for the container's /etc/hosts.
    #[serde(default)]
    pub add_hosts: Vec<String>,
    /// `--restart`: what the supervisor does when the container exits.
    #[serde(default)]
    pub restart: crate::restart::RestartPolicy,
    /// `--security-opt` values.
    #[serde(default)]
    pub security_opt: Vec<String>,
    #[serde(default)]
    pub privileged: bool,
    /// `--ulimit NAME=SOFT[:HARD]`.
    #[serde(default)]
    pub ulimits: Vec<String>,
    /// `--memory` as given (`512m`).
    #[serde(default)]
    pub memory: Option<String>,
    #[serde(default)]
    pub pids_limit: Option<i64>,
    /// `--cpus` as given (`1.5`).
    #[serde(default)]
    pub cpus: Option<String>,
    /// `--userns=keep-id`: the user's ids inside (None: the supervisor's namespace).
    #[serde(default)]
    pub keep_id: Option<crate::idshift::KeepId>,
}

/// One more network of a container: its name and the names it is known by
/// there (`network connect --alias`), and the address asked for (`--ip`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAttachment {
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ip: Option<std::net::Ipv4Addr>,
}

impl RunConfig {
    /// Every network the container is on with an interface of its own, in
    /// join order (none for `host` and `none`; `network` may be empty after
    /// the last network was disconnected).
    pub fn attachments(&self) -> Vec<NetworkAttachment> {
        if matches!(self.network.as_str(), "host" | "none") {
            return Vec::new();
        }
        let first = (!self.network.is_empty()).then(|| NetworkAttachment {
            name: self.network.clone(),
            aliases: self.network_aliases.clone(),
            ip: self.network_ip,
        });
        first
            .into_iter()
            .chain(self.more_networks.iter().cloned())
            .collect()
    }

    /// Whether the container is on network `name`.
    pub fn is_on(&self, name: &str) -> bool {
        self.attachments().iter().any(|a| a.name == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    Created,
    Running,
    Exited,
}

impl std::fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Exited => "exited",
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub created: String,
    pub config: RunConfig,
    pub status: ContainerStatus,
    #[serde(default)]
    pub pid: i32,
    #[serde(default)]
    pub pid_start_time: u64,
    #[serde(default)]
    pub supervisor_pid: i32,
    #[serde(default)]
    pub supervisor_start_time: u64,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Published ports as bound by the running supervisor
    /// (`HOSTIP:HOSTPORT->CONTAINERPORT/PROTO`).
    #[serde(default)]
    pub ports: Vec<String>,
    /// Every process of the running container is stopped (`pause`).
    #[serde(default)]
    pub paused: bool,
    /// Times the supervisor restarted the container under its restart policy.
    #[serde(default)]
    pub restart_count: u32,
    /// A user stopped or killed the container: its restart policy must not
    /// bring it back (the supervisor reads it again after the exit).
    #[serde(default)]
    pub stopped_by_user: bool,
}

impl ContainerRecord {
    /// A container just created: not started yet, no process, no exit code.
    pub fn new(id: String, name: String, config: RunConfig) -> Self {
        ContainerRecord {
            id,
            name,
            created: burrow_runtime::state::rfc3339_now(),
            config,
            status: ContainerStatus::Created,
            pid: 0,
            pid_start_time: 0,
            supervisor_pid: 0,
            supervisor_start_time: 0,
            started_at: None,
            finished_at: None,
            exit_code: None,
            ports: Vec::new(),
            paused: false,
            restart_count: 0,
            stopped_by_user: false,
        }
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    /// Docker's state word: `paused` for a paused running container, else the status.
    pub fn state_name(&self) -> String {
        if self.is_paused() {
            "paused".into()
        } else {
            self.status.to_string()
        }
    }

    pub fn is_paused(&self) -> bool {
        self.paused && self.status == ContainerStatus::Running
    }

    /// Re-derives the status: a running record whose supervisor is gone has
    /// exited (its init died with it: parent-death signal SIGKILL).
    fn refresh(&mut self) {
        if self.status == ContainerStatus::Running
            && !burrow_runtime::state::is_alive(self.supervisor_pid, self.supervisor_start_time)
        {
            self.status = ContainerStatus::Exited;
            self.exit_code.get_or_insert(128 + libc::SIGKILL);
        }
        if self.status != ContainerStatus::Running {
            self.paused = false;
        }
    }
}

impl Store {
    /// Saves `record`, keeping the name on disk: names change only through
    /// [`Store::save_renamed`], so a writer holding an older copy of the
    /// record (the supervisor, for the container's whole life) cannot undo
    /// a `rename`.
    pub fn save(&self, record: &ContainerRecord) -> Result<()> {
        match self.load(&record.id) {
            Ok(on_disk) if on_disk.name != record.name => {
                let mut record = record.clone();
                record.name = on_disk.name;
                self.save_renamed(&record)
            }
            _ => self.save_renamed(&record.clone()),
        }
    }

    /// Saves `record` as it is, name included (`create`, `rename`; hold the
    /// store lock).
    pub fn save_renamed(&self, record: &ContainerRecord) -> Result<()> {
        let dir = self.container_dir(&record.id);
        std::fs::create_dir_all(&dir).context(|| format!("cannot create {}", dir.display()))?;
        let tmp = dir.join(".container.json.tmp");
        let bytes =
            serde_json::to_vec_pretty(record).map_err(|e| EngineError::Other(e.to_string()))?;
        std::fs::write(&tmp, bytes).context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join("container.json"))
            .context(|| "cannot save the container record".into())
    }

    pub fn load(&self, id: &str) -> Result<ContainerRecord> {
        let path = self.container_dir(id).join("container.json");
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => EngineError::NoSuchContainer(id.into()),
            _ => EngineError::Io {
                context: format!("cannot read {}", path.display()),
                error: e,
            },
        })?;
        let mut record: ContainerRecord = serde_json::from_str(&text)
            .map_err(|e| EngineError::Other(format!("corrupt record {}: {e}", path.display())))?;
        record.refresh();
        Ok(record)
    }

    /// Every container, oldest first. Half-written entries are skipped.
    pub fn list(&self) -> Result<Vec<ContainerRecord>> {
        let dir = self.data.join("containers");
        let mut records: Vec<ContainerRecord> = std::fs::read_dir(&dir)
            .context(|| format!("cannot read {}", dir.display()))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.'))
            .filter_map(|name| self.load(&name).ok())
            .collect();
        records.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(records)
    }

    /// Finds a container by full id, name, or unique id prefix.
    pub fn resolve(&self, reference: &str) -> Result<ContainerRecord> {
        let all = self.list()?;
        if let Some(r) = all
            .iter()
            .find(|r| r.id == reference || r.name == reference)
        {
            return Ok(r.clone());
        }
        let matches: Vec<&ContainerRecord> =
            all.iter().filter(|r| r.id.starts_with(reference)).collect();
        match matches.as_slice() {
            [one] if !reference.is_empty() => Ok((*one).clone()),
            [] | [_] => Err(EngineError::NoSuchContainer(reference.into())),
            _ => Err(EngineError::Other(format!(
                "container id prefix {reference:?} is ambiguous"
            ))),
        }
    }

    /// Removes container `id` whole. The directory is first renamed out of
    /// the listing (one atomic step: of two concurrent removals, one wins and
    /// the other finds no container), then deleted, from inside the user
    /// namespace when the container wrote files of subordinate ids.
    pub fn remove_record(&self, id: &str) -> Result<()> {
        let dir = self.container_dir(id);
        let trash = self.data.join("containers").join(format!(".removing-{id}"));
        match std::fs::rename(&dir, &trash) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(EngineError::NoSuchContainer(id.into()))
            }
            Err(e) => return Err(e).context(|| format!("cannot remove {}", dir.display())),
        }
        crate::userns::remove_tree(&trash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_written_before_mounts_existed_still_load() {
        let old = r#"{"image":"/r","rootfs":"/r","args":["true"],"env":[],"workdir":null,
            "user":null,"hostname":null,"tty":false,"auto_remove":false,"read_only":false,
            "init":false,"labels":{},"binds":["/tmp:/tmp"],"network":"host",
            "stop_signal":null,"stop_timeout":null,"cap_add":[],"cap_drop":[]}"#;
        let config: RunConfig = serde_json::from_str(old).unwrap();
        assert!(config.mounts.is_empty());
        assert!(config.volumes_from.is_empty());
        assert_eq!(config.binds, ["/tmp:/tmp"]);
    }
}
