//! The container's network: one tap device per network it is on (`eth0`,
//! `eth1`, … in join order) in its network namespace, each served by its own
//! instance of burrow's userspace stack on a thread of the supervisor — NAT
//! to host sockets, DNS forwarding and published ports for the default
//! (`bridge`) network, the network's switch for a user-defined one — until
//! the container's init exits or the interface is removed. Only the first
//! interface not on an internal network carries the default route; every
//! stack's DNS answers the members of all the container's user networks.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use burrow_net::publish::bind_published;
use burrow_net::tap::TapConfig;
use burrow_net::{parse_publish, BoundPort, NamespaceTarget, NetConfig, Stack, Tap};

use burrow_runtime::spec::oci::{LinuxNamespace, LinuxNamespaceType, Spec};
use nix::mount::MsFlags;
use nix::sched::CloneFlags;

use burrow_net::NameSource;

use crate::container::etc_files::Addresses;
use crate::error::{EngineError, IoContext, Result};
use crate::networks::members::{self, MemberNames};
use crate::networks::{self, NetworkRecord};
use crate::record::{NetworkAttachment, RunConfig};
use crate::store::Store;

/// Whether `config` asks for a network served by the supervisor.
pub fn is_served(config: &RunConfig) -> bool {
    !matches!(config.network.as_str(), "host" | "none")
}

/// The `-p` ports, bound on the host before the container exists so that a
/// taken port fails the start with nothing left behind.
pub fn bind_ports(config: &RunConfig) -> Result<Vec<BoundPort>> {
    let mut mappings = Vec::new();
    for spec in &config.publish {
        mappings.extend(parse_publish(spec).map_err(|e| EngineError::Other(e.to_string()))?);
    }
    bind_published(&mappings).map_err(|e| EngineError::Other(e.to_string()))
}

/// Makes a network namespace (owned by the supervisor's user namespace) and
/// pins it at `path` in the supervisor's mount namespace, for the container
/// to join: its eth0 can then be set up before the container exists.
pub fn new_namespace(path: &Path) -> Result<()> {
    std::fs::File::create(path).context(|| format!("cannot create {}", path.display()))?;
    let target = path.to_path_buf();
    // A network namespace is per thread: a short-lived thread enters a new one
    // and bind-mounts it; the rest of the supervisor stays where it is.
    let made = std::thread::spawn(move || -> std::result::Result<(), String> {
        nix::sched::unshare(CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("cannot create a network namespace: {e}"))?;
        nix::mount::mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| format!("cannot pin the network namespace: {e}"))
    })
    .join()
    .map_err(|_| EngineError::Other("the network namespace thread panicked".into()))?;
    made.map_err(EngineError::Other)
}

/// One interface's stack; it stops when the container's init exits or when
/// dropped (its stop pipe closes), and the tap device goes with it.
pub struct RunningNetwork {
    thread: Option<JoinHandle<()>>,
    stop: Option<OwnedFd>,
}

/// The container's place on a user-defined network: its address, the
/// network's switch and its members' names.
pub struct UserNetwork {
    pub network: NetworkRecord,
    pub ip: Ipv4Addr,
    pub switch: PathBuf,
}

impl UserNetwork {
    /// Registers container `id` on the user network of `attachment` under
    /// its name, aliases and short id.
    pub fn join(
        store: &Store,
        id: &str,
        name: &str,
        attachment: &NetworkAttachment,
    ) -> Result<UserNetwork> {
        let network = networks::find(store, &attachment.name)?;
        let mut names = vec![name.to_string(), id[..12.min(id.len())].to_string()];
        names.extend(attachment.aliases.iter().cloned());
        let ip = members::join(store, &network, id, names, attachment.ip)?;
        Ok(UserNetwork {
            switch: networks::switch::socket_path(store, &network),
            ip,
            network,
        })
    }

    pub fn leave(&self, store: &Store, id: &str) {
        members::leave(store, &self.network.name, id);
    }

    pub fn addresses(&self) -> Result<Addresses> {
        let gateway = self.network.gateway_ip()?;
        Ok(Addresses {
            container: self.ip,
            gateway,
            dns: gateway,
            container6: self.network.ipv6_of(self.ip)?,
            gateway6: self.network.gateway_ip6()?,
        })
    }

    fn configure(&self, config: &mut NetConfig) -> Result<()> {
        let (_, prefix_len) = self.network.prefix()?;
        let gateway = self.network.gateway_ip()?;
        config.container_ip = self.ip;
        config.prefix_len = prefix_len;
        config.gateway_ip = gateway;
        config.dns_ip = gateway;
        // IPv6 only where the network has it (`network create --ipv6`).
        config.ipv6 = false;
        if let (Some(own), Some(gateway6)) =
            (self.network.ipv6_of(self.ip)?, self.network.gateway_ip6()?)
        {
            config.ipv6 = true;
            config.container_ip6 = own;
            config.gateway_ip6 = gateway6;
            config.dns_ip6 = gateway6;
        }
        config.switch = Some(self.switch.clone());
        config.internal = self.network.internal;
        if let Some(mtu) = self.network.mtu()? {
            config.mtu = mtu;
        }
        Ok(())
    }
}

/// The names every stack of a container answers: the members of each user
/// network it is on (and only those); changes with `network connect`.
#[derive(Default)]
pub struct ContainerNames {
    networks: Mutex<Vec<(String, MemberNames)>>,
}

impl ContainerNames {
    pub fn add(&self, store: &Store, network: &str) {
        let mut list = self.networks.lock().unwrap_or_else(|e| e.into_inner());
        list.push((network.to_string(), MemberNames::new(store, network)));
    }

    pub fn remove(&self, network: &str) {
        let mut list = self.networks.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|(name, _)| name != network);
    }
}

impl NameSource for ContainerNames {
    fn lookup(&self, name: &str) -> Option<Ipv4Addr> {
        let list = self.networks.lock().unwrap_or_else(|e| e.into_inner());
        list.iter().find_map(|(_, names)| names.lookup(name))
    }

    /// From the same network as [`ContainerNames::lookup`]'s answer.
    fn lookup6(&self, name: &str) -> Option<std::net::Ipv6Addr> {
        let list = self.networks.lock().unwrap_or_else(|e| e.into_inner());
        let (_, names) = list
            .iter()
            .find(|(_, names)| names.lookup(name).is_some())?;
        names.lookup6(name)
    }
}

/// How one interface is served.
pub struct NicSetup<'a> {
    pub namespace: &'a Path,
    /// The container's init: the stack stops when it exits.
    pub pid: i32,
    pub name: &'a str,
    pub default_route: bool,
    pub ports: Vec<BoundPort>,
    /// `None`: the default network (NAT of its own).
    pub user: Option<&'a UserNetwork>,
    pub names: Arc<ContainerNames>,
    /// The engine's user networks: never NATed to the host.
    pub refused_subnets: RefusedSubnets,
}

/// Creates interface `setup.name` in the pinned network namespace and serves
/// it until the container's init exits or the returned handle is dropped.
pub fn attach(setup: NicSetup) -> Result<RunningNetwork> {
    let mut config = NetConfig {
        publish: setup.ports.iter().map(BoundPort::mapping).collect(),
        refused_subnets: setup.refused_subnets.v4,
        refused_subnets6: setup.refused_subnets.v6,
        ..NetConfig::default()
    };
    if let Some(user) = setup.user {
        user.configure(&mut config)?;
    }
    let names: Arc<dyn NameSource> = setup.names;
    config.names = Some(names);
    let mut tap_config = TapConfig::for_network(&config);
    tap_config.name = setup.name.to_string();
    tap_config.default_route = setup.default_route;
    // The default network's fixed IPv6 address only where it has the route.
    tap_config.ipv6 = tap_config
        .ipv6
        .filter(|_| setup.default_route || setup.user.is_some());
    let failed = |e: &dyn std::fmt::Display| {
        EngineError::Other(format!(
            "cannot set up the container's network interface {}: {e}",
            setup.name
        ))
    };
    let exited = burrow_net::process_exit_fd(setup.pid).map_err(|e| failed(&e))?;
    let (stop_read, stop_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| failed(&e))?;
    let target = NamespaceTarget {
        user_ns: None,
        net_ns: setup.namespace.to_path_buf(),
    };
    let tap = Tap::create_in(&target, &tap_config).map_err(|e| failed(&e))?;
    let mut stack = Stack::new(config, tap, setup.ports).map_err(|e| failed(&e))?;
    let thread = std::thread::Builder::new()
        .name("network".into())
        .spawn(move || {
            let stops = [exited.as_raw_fd(), stop_read.as_raw_fd()];
            if let Err(e) = stack.run_until(&stops) {
                eprintln!("burrow: the container's network stopped: {e}");
            }
        })
        .map_err(|e| failed(&e))?;
    Ok(RunningNetwork {
        thread: Some(thread),
        stop: Some(stop_write),
    })
}

impl RunningNetwork {
    /// Waits for the stack to stop (it does when the container's init exits).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RunningNetwork {
    /// Stops the stack now; its tap device (and so the interface) goes.
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The subnets of the engine's user networks, and the pool they come from.
pub fn burrow_subnets(store: &Store) -> RefusedSubnets {
    let mut subnets = RefusedSubnets {
        v4: vec![networks::POOL],
        v6: vec![networks::ipv6::POOL],
    };
    for network in networks::list(store).unwrap_or_default() {
        if let Ok(prefix) = network.prefix() {
            subnets.v4.push(prefix);
        }
        if let Ok(Some(prefix)) = network.ipv6_prefix() {
            subnets.v6.push((prefix, networks::ipv6::PREFIX_LEN));
        }
    }
    subnets
}

/// Subnets a stack never NATs to the host: the engine's own networks'.
#[derive(Clone, Debug, Default)]
pub struct RefusedSubnets {
    pub v4: Vec<(Ipv4Addr, u8)>,
    pub v6: Vec<(std::net::Ipv6Addr, u8)>,
}

/// Points the bundle's network namespace at the pinned one.
pub fn join_in_bundle(bundle: &Path, namespace: &Path) -> Result<()> {
    let config = bundle.join("config.json");
    let bad = |e: &dyn std::fmt::Display| {
        EngineError::Other(format!("cannot update {}: {e}", config.display()))
    };
    let mut spec = Spec::load(&config).map_err(|e| bad(&e))?;
    if let Some(linux) = spec.linux_mut() {
        let mut namespaces = linux.namespaces().clone().unwrap_or_default();
        namespaces.retain(|ns| ns.typ() != LinuxNamespaceType::Network);
        let mut ns = LinuxNamespace::default();
        ns.set_typ(LinuxNamespaceType::Network);
        ns.set_path(Some(namespace.to_path_buf()));
        namespaces.push(ns);
        linux.set_namespaces(Some(namespaces));
    }
    spec.save(&config).map_err(|e| bad(&e))
}
