//! The container's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`, as
//! Docker makes them: files in the container's directory, bind-mounted over
//! the image's. With the default network the resolver is burrow's network
//! stack (which forwards to the host's resolvers); `--dns` names others;
//! `--network host` and `none` see the host's resolvers.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use burrow_net::NetConfig;
use burrow_runtime::spec::oci::{Mount, Spec};

use crate::error::{EngineError, IoContext, Result};
use crate::record::RunConfig;

/// Writes the three files into `dir` and adds their mounts to `spec`.
pub fn add(spec: &mut Spec, dir: &Path, config: &RunConfig) -> Result<()> {
    let hostname = spec.hostname().clone().unwrap_or_default();
    let own_network = config.network != "host" && config.network != "none";
    let net = NetConfig::default();
    let addresses = own_network.then_some(Addresses {
        container: net.container_ip,
        gateway: net.gateway_ip,
        dns: net.dns_ip,
        container6: None,
        gateway6: None,
    });
    let files = [
        ("hostname", format!("{hostname}\n")),
        ("hosts", hosts(config, &hostname, addresses)?),
        ("resolv.conf", resolv_conf(config, addresses)?),
    ];
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for (name, content) in files {
        let path = dir.join(name);
        std::fs::write(&path, content).context(|| format!("cannot write {}", path.display()))?;
        let mut mount = Mount::default();
        mount.set_destination(Path::new("/etc").join(name));
        mount.set_typ(Some("bind".into()));
        mount.set_source(Some(path));
        mount.set_options(Some(vec!["rbind".into(), "rprivate".into()]));
        mounts.push(mount);
    }
    spec.set_mounts(Some(mounts));
    Ok(())
}

/// The container's addresses on a network of its own.
#[derive(Clone, Copy, Debug)]
pub struct Addresses {
    pub container: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub dns: Ipv4Addr,
    /// On a network with IPv6.
    pub container6: Option<std::net::Ipv6Addr>,
    pub gateway6: Option<std::net::Ipv6Addr>,
}

/// Rewrites `/etc/hosts` and `/etc/resolv.conf` in `dir` (already mounted in
/// the container) for the addresses its supervisor got, one per network in
/// join order: every address names the container, the first network's DNS
/// serves it.
pub fn rewrite_for_network(
    dir: &Path,
    config: &RunConfig,
    hostname: &str,
    addresses: &[Addresses],
) -> Result<()> {
    let mut hosts = hosts(config, hostname, addresses.first().copied())?;
    for more in addresses.iter().skip(1) {
        hosts.push_str(&format!("{}\t{hostname}\n", more.container));
    }
    for address6 in addresses.iter().filter_map(|a| a.container6) {
        hosts.push_str(&format!("{address6}\t{hostname}\n"));
    }
    let files = [
        ("hosts", hosts),
        (
            "resolv.conf",
            resolv_conf(config, addresses.first().copied())?,
        ),
    ];
    for (name, content) in files {
        let path = dir.join(name);
        // In place: the file is bind-mounted, a rename would not be seen.
        std::fs::write(&path, content).context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn hosts(config: &RunConfig, hostname: &str, own: Option<Addresses>) -> Result<String> {
    if config.network == "host" {
        let mut text = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        append_added_hosts(&mut text, config, None)?;
        return Ok(text);
    }
    let mut text = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    match own {
        Some(addresses) => text.push_str(&format!("{}\t{hostname}\n", addresses.container)),
        None => text.push_str(&format!("127.0.1.1\t{hostname}\n")),
    }
    append_added_hosts(&mut text, config, own.map(|a| a.gateway.into()))?;
    Ok(text)
}

/// `--add-host NAME:IP` lines; `host-gateway` is the address that reaches the host.
fn append_added_hosts(
    text: &mut String,
    config: &RunConfig,
    gateway: Option<IpAddr>,
) -> Result<()> {
    for entry in &config.add_hosts {
        let invalid = || {
            EngineError::Other(format!(
                "invalid argument {entry:?} for --add-host: use NAME:IP"
            ))
        };
        let (name, address) = entry
            .split_once(':')
            .or_else(|| entry.split_once('='))
            .ok_or_else(invalid)?;
        let address: IpAddr = match address {
            "host-gateway" => gateway.unwrap_or(IpAddr::from([127, 0, 0, 1])),
            other => other
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| invalid())?,
        };
        if name.is_empty() {
            return Err(invalid());
        }
        text.push_str(&format!("{address}\t{name}\n"));
    }
    Ok(())
}

fn resolv_conf(config: &RunConfig, own: Option<Addresses>) -> Result<String> {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut servers = Vec::new();
    for server in &config.dns {
        let address: IpAddr = server.parse().map_err(|_| {
            EngineError::Other(format!(
                "invalid argument {server:?} for --dns: not an IP address"
            ))
        })?;
        servers.push(address.to_string());
    }
    if servers.is_empty() {
        match own {
            Some(addresses) => servers.push(addresses.dns.to_string()),
            None => return Ok(host),
        }
    }
    let mut text: String = host
        .lines()
        .filter(|l| l.starts_with("search") || l.starts_with("options"))
        .map(|l| format!("{l}\n"))
        .collect();
    for server in servers {
        text.push_str(&format!("nameserver {server}\n"));
    }
    Ok(text)
}
