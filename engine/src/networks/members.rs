//! A network's members: one file per running container
//! (`DATA/networks/<name>.members/<id>.json`) with its address, its names
//! (container name, `--network-alias`es, short id) and its supervisor's pid,
//! written when the supervisor joins and removed when it leaves. Addresses
//! are given out under a lock; a member whose supervisor is gone is stale
//! and its address free again.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use burrow_net::dns::NameSource;
use serde::{Deserialize, Serialize};

use super::NetworkRecord;
use crate::error::{EngineError, IoContext, Result};
use crate::store::Store;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub container_id: String,
    pub names: Vec<String>,
    pub ip: Ipv4Addr,
    pub supervisor_pid: i32,
    #[serde(default)]
    pub supervisor_start_time: u64,
}

impl Member {
    fn is_live(&self) -> bool {
        burrow_runtime::state::proc_stat(self.supervisor_pid).is_some_and(|(_, start)| {
            self.supervisor_start_time == 0 || start == self.supervisor_start_time
        })
    }
}

pub fn members_dir(store: &Store, network: &str) -> PathBuf {
    super::networks_dir(store).join(format!("{network}.members"))
}

/// The live members of `dir`.
pub fn read_members(dir: &Path) -> Vec<Member> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|bytes| serde_json::from_slice::<Member>(&bytes).ok())
        .filter(Member::is_live)
        .collect()
}

/// Registers container `id` (this process being its supervisor) on
/// `network` with `names`, at `wanted` when given (`--ip`); returns the
/// address it got.
pub fn join(
    store: &Store,
    network: &NetworkRecord,
    id: &str,
    names: Vec<String>,
    wanted: Option<Ipv4Addr>,
) -> Result<Ipv4Addr> {
    let dir = members_dir(store, &network.name);
    std::fs::create_dir_all(&dir).context(|| format!("cannot create {}", dir.display()))?;
    let lock_path = dir.join(".lock");
    let _lock = crate::store::lock_file(&lock_path)?;
    let (base, len) = network.prefix()?;
    let gateway = network.gateway_ip()?;
    let taken: Vec<Ipv4Addr> = read_members(&dir)
        .into_iter()
        .filter(|m| m.container_id != id)
        .map(|m| m.ip)
        .collect();
    let hosts = (1u32 << (32 - u32::from(len))) - 2;
    let ip = match wanted {
        Some(ip) => {
            check_address(network, ip)?;
            if taken.contains(&ip) {
                return Err(EngineError::Other(format!(
                    "address {ip} is already in use on network {}",
                    network.name
                )));
            }
            ip
        }
        None => (1..=hosts)
            .map(|n| Ipv4Addr::from(u32::from(base) + n))
            .find(|ip| *ip != gateway && !taken.contains(ip))
            .ok_or_else(|| {
                EngineError::Other(format!("network {} has no free address", network.name))
            })?,
    };
    let pid = std::process::id() as i32;
    let member = Member {
        container_id: id.to_string(),
        names,
        ip,
        supervisor_pid: pid,
        supervisor_start_time: burrow_runtime::state::proc_stat(pid)
            .map(|(_, s)| s)
            .unwrap_or(0),
    };
    let path = dir.join(format!("{id}.json"));
    let tmp = dir.join(format!(".{id}.tmp"));
    let bytes = serde_json::to_vec(&member).map_err(|e| EngineError::Other(e.to_string()))?;
    std::fs::write(&tmp, bytes).context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).context(|| format!("cannot write {}", path.display()))?;
    Ok(ip)
}

/// Whether `ip` can be a member's address on `network`: inside its subnet,
/// neither the gateway nor the network or broadcast address.
pub fn check_address(network: &NetworkRecord, ip: Ipv4Addr) -> Result<()> {
    let (base, len) = network.prefix()?;
    let mask = match len {
        0 => 0,
        n => u32::MAX << (32 - u32::from(n.min(32))),
    };
    let inside = u32::from(ip) & mask == u32::from(base) & mask;
    let host = u32::from(ip) & !mask;
    if !inside || host == 0 || host == !mask || ip == network.gateway_ip()? {
        return Err(EngineError::Other(format!(
            "invalid address {ip} for network {}: not a free host address of its subnet {}",
            network.name, network.subnet
        )));
    }
    Ok(())
}

/// Unregisters container `id` from `network`.
pub fn leave(store: &Store, network: &str, id: &str) {
    let _ = std::fs::remove_file(members_dir(store, network).join(format!("{id}.json")));
}

/// DNS answers from a network's member files, read on every query (members
/// come and go while a stack runs; the directory is small).
pub struct MemberNames {
    dir: PathBuf,
    /// The network, for its members' IPv6 addresses (`None`: no record).
    network: Option<NetworkRecord>,
}

impl MemberNames {
    pub fn new(store: &Store, network: &str) -> MemberNames {
        MemberNames {
            dir: members_dir(store, network),
            network: super::find(store, network).ok(),
        }
    }
}

impl NameSource for MemberNames {
    fn lookup(&self, name: &str) -> Option<Ipv4Addr> {
        let name = name.trim_end_matches('.');
        read_members(&self.dir)
            .into_iter()
            .find(|m| m.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .map(|m| m.ip)
    }

    fn lookup6(&self, name: &str) -> Option<std::net::Ipv6Addr> {
        let ip = self.lookup(name)?;
        self.network.as_ref()?.ipv6_of(ip).ok().flatten()
    }
}
