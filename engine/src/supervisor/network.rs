//! The container's network with the default (`bridge`) mode: an `eth0` tap
//! device in the container's network namespace, served by burrow's userspace
//! stack on a thread of the supervisor (NAT to host sockets, DNS forwarding,
//! published ports), until the container's init exits.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
use crate::record::RunConfig;
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

/// The stack serving one container.
pub struct RunningNetwork {
    thread: JoinHandle<()>,
}

/// The container's place on a user-defined network: its address, the
/// network's switch and its members' names.
pub struct UserNetwork {
    pub network: NetworkRecord,
    pub ip: Ipv4Addr,
    pub switch: PathBuf,
    pub names: Arc<MemberNames>,
}

impl UserNetwork {
    /// Registers container `id` on its network (`config.network`, a user
    /// network) under its name, aliases and short id.
    pub fn join(store: &Store, id: &str, name: &str, config: &RunConfig) -> Result<UserNetwork> {
        let network = networks::find(store, &config.network)?;
        let mut names = vec![name.to_string(), id[..12.min(id.len())].to_string()];
        names.extend(config.network_aliases.iter().cloned());
        let ip = members::join(store, &network, id, names)?;
        Ok(UserNetwork {
            switch: networks::switch::socket_path(store, &network),
            names: Arc::new(MemberNames::new(store, &network.name)),
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
        })
    }

    fn configure(&self, config: &mut NetConfig) -> Result<()> {
        let (_, prefix_len) = self.network.prefix()?;
        let gateway = self.network.gateway_ip()?;
        config.container_ip = self.ip;
        config.prefix_len = prefix_len;
        config.gateway_ip = gateway;
        config.dns_ip = gateway;
        // Every member would get the same IPv6 address: IPv4 only here.
        config.ipv6 = false;
        config.switch = Some(self.switch.clone());
        let names: Arc<dyn NameSource> = self.names.clone();
        config.names = Some(names);
        config.internal = self.network.internal;
        Ok(())
    }
}

/// Creates `eth0` in the network namespace pinned at `namespace` and serves
/// it until process `pid` (the container's init) exits; on `user`'s switch
/// when it is on a user-defined network.
pub fn attach(
    namespace: &Path,
    pid: i32,
    ports: Vec<BoundPort>,
    user: Option<&UserNetwork>,
) -> Result<RunningNetwork> {
    let mut config = NetConfig {
        publish: ports.iter().map(BoundPort::mapping).collect(),
        ..NetConfig::default()
    };
    if let Some(user) = user {
        user.configure(&mut config)?;
    }
    let tap_config = TapConfig::for_network(&config);
    let failed = |e: &dyn std::fmt::Display| {
        EngineError::Other(format!("cannot set up the container's network: {e}"))
    };
    let exited = burrow_net::process_exit_fd(pid).map_err(|e| failed(&e))?;
    let target = NamespaceTarget {
        user_ns: None,
        net_ns: namespace.to_path_buf(),
    };
    let tap = Tap::create_in(&target, &tap_config).map_err(|e| failed(&e))?;
    let mut stack = Stack::new(config, tap, ports).map_err(|e| failed(&e))?;
    let thread = std::thread::Builder::new()
        .name("network".into())
        .spawn(move || {
            if let Err(e) = stack.run(Some(exited.as_raw_fd())) {
                eprintln!("burrow: the container's network stopped: {e}");
            }
        })
        .map_err(|e| failed(&e))?;
    Ok(RunningNetwork { thread })
}

impl RunningNetwork {
    /// Waits for the stack to stop (it does when the container's init exits).
    pub fn wait(self) {
        let _ = self.thread.join();
    }
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
