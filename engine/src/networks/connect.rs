//! `network connect` and `disconnect`: the container's record says which
//! networks it is on (taking effect at its next start); a running container
//! also changes now, through its supervisor's control socket (the supervisor
//! holds its network namespace and adds or removes the interface).

use std::net::Ipv4Addr;
use std::path::Path;

use super::{find, members, switch, BUILTIN};
use crate::error::{EngineError, Result};
use crate::record::{ContainerStatus, NetworkAttachment, RunConfig};
use crate::store::Store;
use crate::supervisor::control;

/// What `network connect` asks for.
pub struct ConnectRequest<'a> {
    pub network: &'a str,
    pub container: &'a str,
    pub aliases: Vec<String>,
    pub ip: Option<Ipv4Addr>,
}

/// Connects a container to a network; `program` (the burrow binary) starts
/// the network's switch when a running container needs it.
pub fn connect(store: &Store, request: &ConnectRequest, program: &Path) -> Result<()> {
    let network = find(store, request.network)?;
    let record = store.resolve(request.container)?;
    let config = &record.config;
    if matches!(config.network.as_str(), "host" | "none")
        || network.name == "host"
        || network.name == "none"
    {
        return Err(EngineError::Other(format!(
            "container {} cannot be connected to network {}: host and none stand alone",
            record.name, network.name
        )));
    }
    if config.is_on(&network.name) {
        return Err(EngineError::Other(format!(
            "endpoint with name {} already exists in network {}",
            record.name, network.name
        )));
    }
    if let Some(ip) = request.ip {
        members::check_address(&network, ip)?;
    }
    let attachment = NetworkAttachment {
        name: network.name.clone(),
        aliases: request.aliases.clone(),
        ip: request.ip,
    };
    change(store, &record.id, |c| add(c, attachment.clone()))?;
    if record.status != ContainerStatus::Running {
        return Ok(());
    }
    let live = (|| {
        if !BUILTIN.contains(&network.name.as_str()) {
            switch::ensure_running(store, &network, program)?;
        }
        control::request(
            &control::socket_path(store, &record.id),
            &format!("connect {}", network.name),
        )
    })();
    if let Err(e) = live {
        let _ = change(store, &record.id, |c| remove(c, &network.name));
        return Err(e);
    }
    Ok(())
}

/// Disconnects a container from a network. `force` (Docker's `-f`) also
/// takes the network off the record when the supervisor cannot be reached.
pub fn disconnect(store: &Store, network: &str, container: &str, force: bool) -> Result<()> {
    let record = store.resolve(container)?;
    let network = match find(store, network) {
        Ok(found) => found.name,
        Err(_) if force => network.to_string(),
        Err(e) => return Err(e),
    };
    if !record.config.is_on(&network) {
        return Err(EngineError::Other(format!(
            "container {} is not connected to network {network}",
            record.name
        )));
    }
    if record.status == ContainerStatus::Running {
        let asked = control::request(
            &control::socket_path(store, &record.id),
            &format!("disconnect {network}"),
        );
        if let Err(e) = asked {
            if !force {
                return Err(e);
            }
        }
    }
    change(store, &record.id, |c| remove(c, &network))
}

/// One network of a container, as `inspect` shows it.
pub struct Endpoint {
    pub network: super::NetworkRecord,
    pub aliases: Vec<String>,
    /// Its address, while the container runs.
    pub ip: Option<Ipv4Addr>,
}

/// Every network `record`'s container is on, in join order.
pub fn endpoints(store: &Store, record: &crate::record::ContainerRecord) -> Vec<Endpoint> {
    let running = record.status == ContainerStatus::Running;
    record
        .config
        .attachments()
        .into_iter()
        .filter_map(|a| {
            let network = find(store, &a.name).ok()?;
            let ip = match (running, network.name.as_str()) {
                (false, _) => None,
                (true, "bridge") => Some(burrow_net::NetConfig::default().container_ip),
                (true, _) => members::read_members(&members::members_dir(store, &network.name))
                    .into_iter()
                    .find(|m| m.container_id == record.id)
                    .map(|m| m.ip),
            };
            Some(Endpoint {
                network,
                aliases: a.aliases,
                ip,
            })
        })
        .collect()
}

fn change(store: &Store, id: &str, edit: impl FnOnce(&mut RunConfig)) -> Result<()> {
    let _lock = store.lock()?;
    let mut record = store.load(id)?;
    edit(&mut record.config);
    store.save(&record)
}

fn add(config: &mut RunConfig, attachment: NetworkAttachment) {
    if config.network.is_empty() {
        config.network = attachment.name;
        config.network_aliases = attachment.aliases;
        config.network_ip = attachment.ip;
    } else {
        config.more_networks.push(attachment);
    }
}

/// Takes `network` off the config; the next network (if any) becomes the
/// first.
fn remove(config: &mut RunConfig, network: &str) {
    if config.network == network {
        match config.more_networks.is_empty() {
            true => {
                config.network.clear();
                config.network_aliases.clear();
                config.network_ip = None;
            }
            false => {
                let next = config.more_networks.remove(0);
                config.network = next.name;
                config.network_aliases = next.aliases;
                config.network_ip = next.ip;
            }
        }
    } else {
        config.more_networks.retain(|a| a.name != network);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_network_becomes_the_first() {
        let mut config = RunConfig {
            network: "a".into(),
            network_aliases: vec!["x".into()],
            ..RunConfig::default()
        };
        add(
            &mut config,
            NetworkAttachment {
                name: "b".into(),
                aliases: vec!["y".into()],
                ip: None,
            },
        );
        assert_eq!(
            config
                .attachments()
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        remove(&mut config, "a");
        assert_eq!(config.network, "b");
        assert_eq!(config.network_aliases, ["y"]);
        remove(&mut config, "b");
        assert!(config.attachments().is_empty());
        add(
            &mut config,
            NetworkAttachment {
                name: "c".into(),
                ..Default::default()
            },
        );
        assert_eq!(config.network, "c");
    }
}
