//! User-defined networks (`burrow network create`), Docker's model without
//! a bridge: each network is a subnet, a record in `DATA/networks/`, and a
//! switch process (`burrow network-switch`, started on first use, gone a
//! while after its last member) that carries frames between its members'
//! stacks. Members register in `DATA/networks/<name>.members/` with their
//! address and names; every member's DNS answers the others' names from
//! there. `bridge`, `host` and `none` are Docker's built-in networks.

pub mod connect;
pub mod ipv6;
pub mod members;
pub mod switch;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, IoContext, Result};
use crate::store::Store;

/// Docker's predefined networks.
pub const BUILTIN: [&str; 3] = ["bridge", "host", "none"];

/// Where subnets of user-defined networks come from (10.89.N.0/24).
pub const POOL: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 89, 0, 0), 16);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkRecord {
    pub name: String,
    pub id: String,
    pub driver: String,
    /// `A.B.C.D/NN`.
    pub subnet: String,
    pub gateway: String,
    #[serde(default)]
    pub internal: bool,
    /// `PREFIX::/64` when the network has IPv6 (`--ipv6`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet6: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Driver options (`-o mtu=1400`), as given.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    pub created: String,
}

impl NetworkRecord {
    /// The subnet's address and prefix length.
    pub fn prefix(&self) -> Result<(Ipv4Addr, u8)> {
        parse_cidr(&self.subnet)
    }

    pub fn gateway_ip(&self) -> Result<Ipv4Addr> {
        self.gateway
            .parse()
            .map_err(|_| EngineError::Other(format!("network {}: bad gateway", self.name)))
    }

    pub fn is_builtin(&self) -> bool {
        BUILTIN.contains(&self.name.as_str())
    }

    /// The members' MTU, when `-o mtu=N` set one.
    pub fn mtu(&self) -> Result<Option<u32>> {
        MTU_OPTIONS
            .iter()
            .find_map(|key| self.options.get(*key))
            .map(|value| parse_mtu(value))
            .transpose()
    }
}

/// The spellings of the MTU option: Podman's and Docker's.
const MTU_OPTIONS: [&str; 2] = ["mtu", "com.docker.network.driver.mtu"];

fn parse_mtu(value: &str) -> Result<u32> {
    match value.parse::<u32>() {
        Ok(mtu) if (1280..=65520).contains(&mtu) => Ok(mtu),
        _ => Err(EngineError::Other(format!(
            "invalid mtu {value:?}: use 1280 to 65520"
        ))),
    }
}

/// Checks `-o KEY=VALUE` options: only the MTU is known.
fn check_options(options: &BTreeMap<String, String>) -> Result<()> {
    for (key, value) in options {
        match MTU_OPTIONS.contains(&key.as_str()) {
            true => {
                parse_mtu(value)?;
            }
            false => {
                return Err(EngineError::Other(format!(
                    "unknown network option {key:?} (known: mtu)"
                )))
            }
        }
    }
    Ok(())
}

pub fn networks_dir(store: &Store) -> PathBuf {
    store.data.join("networks")
}

fn record_path(store: &Store, name: &str) -> PathBuf {
    networks_dir(store).join(format!("{name}.json"))
}

/// What `network create` asks for.
#[derive(Debug, Default, Clone)]
pub struct CreateRequest {
    pub name: String,
    pub subnet: Option<String>,
    /// `--subnet` given an IPv6 /64.
    pub subnet6: Option<String>,
    /// `--ipv6`.
    pub ipv6: bool,
    pub gateway: Option<String>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    pub driver: Option<String>,
    /// `-o KEY=VALUE`.
    pub options: BTreeMap<String, String>,
}

/// Creates a user-defined network: its subnet (the first free 10.89.N.0/24
/// unless given) and its record.
pub fn create(store: &Store, request: &CreateRequest) -> Result<NetworkRecord> {
    crate::ids::validate_name(&request.name)
        .map_err(|_| EngineError::Other(format!("invalid network name {:?}", request.name)))?;
    if let Some(driver) = request.driver.as_deref().filter(|d| *d != "bridge") {
        return Err(EngineError::Other(format!(
            "network driver {driver:?} is not available (use bridge)"
        )));
    }
    check_options(&request.options)?;
    let dir = networks_dir(store);
    std::fs::create_dir_all(&dir).context(|| format!("cannot create {}", dir.display()))?;
    let _lock = store.lock()?;
    let existing = list(store)?;
    if existing.iter().any(|n| n.name == request.name) {
        return Err(EngineError::Other(format!(
            "network with name {} already exists",
            request.name
        )));
    }
    let subnet = match &request.subnet {
        Some(given) => {
            let (address, len) = parse_cidr(given)?;
            let base = Ipv4Addr::from(u32::from(address) & mask(len));
            let taken = existing
                .iter()
                .filter_map(|n| n.prefix().ok())
                .any(|(a, l)| overlaps((a, l), (base, len)));
            if taken {
                return Err(EngineError::Other(format!(
                    "invalid pool request: pool {given} overlaps with another network"
                )));
            }
            (base, len)
        }
        None => (1..=254u8)
            .map(|n| (Ipv4Addr::new(10, 89, n, 0), 24))
            .find(|candidate| {
                !existing
                    .iter()
                    .filter_map(|n| n.prefix().ok())
                    .any(|other| overlaps(other, *candidate))
            })
            .ok_or_else(|| EngineError::Other("no free subnet left in 10.89.0.0/16".into()))?,
    };
    let gateway = match &request.gateway {
        Some(given) => {
            let ip: Ipv4Addr = given
                .parse()
                .map_err(|_| EngineError::Other(format!("invalid gateway {given:?}")))?;
            if u32::from(ip) & mask(subnet.1) != u32::from(subnet.0) {
                return Err(EngineError::Other(format!(
                    "gateway {given} is not in subnet {}/{}",
                    subnet.0, subnet.1
                )));
            }
            ip
        }
        None => Ipv4Addr::from(u32::from(subnet.0) + 1),
    };
    let subnet6 = match (&request.subnet6, request.ipv6) {
        (Some(given), _) => {
            let prefix = ipv6::parse_subnet(given)?;
            let taken = existing
                .iter()
                .filter_map(|n| n.ipv6_prefix().ok().flatten())
                .any(|other| ipv6::same_prefix(other, prefix));
            if taken {
                return Err(EngineError::Other(format!(
                    "invalid pool request: pool {given} overlaps with another network"
                )));
            }
            Some(prefix)
        }
        (None, true) => Some(ipv6::derived_subnet(subnet.0)),
        (None, false) => None,
    };
    let record = NetworkRecord {
        name: request.name.clone(),
        id: crate::ids::new_id()?,
        driver: "bridge".into(),
        subnet: format!("{}/{}", subnet.0, subnet.1),
        gateway: gateway.to_string(),
        internal: request.internal,
        subnet6: subnet6.map(|prefix| format!("{prefix}/{}", ipv6::PREFIX_LEN)),
        labels: request.labels.clone(),
        options: request.options.clone(),
        created: burrow_runtime::state::rfc3339_now(),
    };
    let path = record_path(store, &record.name);
    let tmp = path.with_extension("json.tmp");
    let bytes =
        serde_json::to_vec_pretty(&record).map_err(|e| EngineError::Other(e.to_string()))?;
    std::fs::write(&tmp, bytes).context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).context(|| format!("cannot write {}", path.display()))?;
    Ok(record)
}

/// Docker's built-in networks, as records for `ls` and `inspect`.
pub fn builtin(name: &str) -> NetworkRecord {
    let (subnet, gateway) = match name {
        "bridge" => ("10.0.2.0/24".to_string(), "10.0.2.2".to_string()),
        _ => (String::new(), String::new()),
    };
    NetworkRecord {
        name: name.into(),
        id: format!("{:0<64}", hex_of(name)),
        driver: match name {
            "bridge" => "bridge",
            "host" => "host",
            _ => "null",
        }
        .into(),
        subnet,
        gateway,
        internal: false,
        subnet6: None,
        labels: BTreeMap::new(),
        options: BTreeMap::new(),
        created: String::new(),
    }
}

fn hex_of(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Every network: the built-in ones, then the user's by name.
pub fn list(store: &Store) -> Result<Vec<NetworkRecord>> {
    let mut records: Vec<NetworkRecord> = BUILTIN.iter().map(|n| builtin(n)).collect();
    let dir = networks_dir(store);
    let mut user: Vec<NetworkRecord> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect(),
        Err(_) => Vec::new(),
    };
    user.sort_by(|a, b| a.name.cmp(&b.name));
    records.extend(user);
    Ok(records)
}

/// A network by name, full id or unique id prefix.
pub fn find(store: &Store, reference: &str) -> Result<NetworkRecord> {
    let all = list(store)?;
    if let Some(found) = all
        .iter()
        .find(|n| n.name == reference || n.id == reference)
    {
        return Ok(found.clone());
    }
    let matches: Vec<&NetworkRecord> = all
        .iter()
        .filter(|n| !reference.is_empty() && n.id.starts_with(reference))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(EngineError::Other(format!("network {reference} not found"))),
    }
}

/// The containers (any state) on network `name`.
pub fn users(store: &Store, name: &str) -> Result<Vec<crate::record::ContainerRecord>> {
    Ok(store
        .list()?
        .into_iter()
        .filter(|c| c.config.is_on(name))
        .collect())
}

/// Removes a user-defined network nobody uses.
pub fn remove(store: &Store, reference: &str) -> Result<NetworkRecord> {
    let record = find(store, reference)?;
    if record.is_builtin() {
        return Err(EngineError::Other(format!(
            "{} is a pre-defined network and cannot be removed",
            record.name
        )));
    }
    let _lock = store.lock()?;
    let active: Vec<String> = users(store, &record.name)?
        .into_iter()
        .filter(|c| c.status == crate::record::ContainerStatus::Running)
        .map(|c| c.name)
        .collect();
    if !active.is_empty() {
        return Err(EngineError::Other(format!(
            "error while removing network: network {} has active endpoints (containers: {})",
            record.name,
            active.join(", ")
        )));
    }
    std::fs::remove_file(record_path(store, &record.name))
        .context(|| format!("cannot remove network {}", record.name))?;
    let _ = std::fs::remove_dir_all(members::members_dir(store, &record.name));
    switch::stop(store, &record);
    Ok(record)
}

/// Removes every user-defined network no container uses; their names.
pub fn prune(store: &Store) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for network in list(store)?.into_iter().filter(|n| !n.is_builtin()) {
        if users(store, &network.name)?.is_empty() && remove(store, &network.name).is_ok() {
            removed.push(network.name);
        }
    }
    Ok(removed)
}

pub fn parse_cidr(text: &str) -> Result<(Ipv4Addr, u8)> {
    let invalid = || EngineError::Other(format!("invalid subnet {text:?}: use A.B.C.D/NN"));
    let (address, len) = text.split_once('/').ok_or_else(invalid)?;
    let address: Ipv4Addr = address.parse().map_err(|_| invalid())?;
    let len: u8 = len.parse().map_err(|_| invalid())?;
    if !(8..=30).contains(&len) {
        return Err(EngineError::Other(format!(
            "invalid subnet {text:?}: the prefix length must be 8 to 30"
        )));
    }
    Ok((address, len))
}

fn mask(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn overlaps((a, la): (Ipv4Addr, u8), (b, lb): (Ipv4Addr, u8)) -> bool {
    let len = la.min(lb);
    u32::from(a) & mask(len) == u32::from(b) & mask(len)
}

/// Whether `path` (a switch socket) accepts connections.
pub fn is_listening(path: &Path) -> bool {
    burrow_net::switch::SwitchPort::connect(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_overlap() {
        assert_eq!(
            parse_cidr("10.89.3.0/24").unwrap(),
            (Ipv4Addr::new(10, 89, 3, 0), 24)
        );
        assert!(parse_cidr("10.89.3.0").is_err());
        assert!(parse_cidr("10.89.3.0/31").is_err());
        let a = (Ipv4Addr::new(10, 89, 0, 0), 16);
        let b = (Ipv4Addr::new(10, 89, 3, 0), 24);
        let c = (Ipv4Addr::new(10, 90, 3, 0), 24);
        assert!(overlaps(a, b));
        assert!(!overlaps(b, c));
    }
}
