//! The container's interfaces, one per network it is on, as the supervisor
//! holds them for the container's whole life (across restarts).
//!
//! Joining a user network (taking an address in its member files) happens
//! once, when the supervisor starts or at `network connect`; the stacks
//! serving the interfaces run per run of the program (they stop with its
//! init). `connect` adds a network while the program runs: the member file,
//! a new tap device (`ethN`, the lowest free N) and its stack, at once;
//! `disconnect` stops the stack (the tap device goes with it) and frees the
//! address. Every change rewrites the container's `/etc/hosts` (one line per
//! address) and `resolv.conf` (the first interface's DNS). One mutex orders
//! these changes with the starts and stops of the program.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use burrow_net::BoundPort;

use super::network::{self, ContainerNames, NicSetup, RunningNetwork, UserNetwork};
use crate::container::etc_files::{self, Addresses};
use crate::error::{EngineError, Result};
use crate::networks;
use crate::record::{NetworkAttachment, RunConfig};
use crate::store::Store;

struct Nic {
    network: String,
    ifname: String,
    /// `None` for the default network (its own NAT).
    user: Option<UserNetwork>,
    default_route: bool,
    running: Option<RunningNetwork>,
}

impl Nic {
    fn addresses(&self) -> Result<Addresses> {
        match &self.user {
            Some(user) => user.addresses(),
            None => {
                let net = burrow_net::NetConfig::default();
                Ok(Addresses {
                    container: net.container_ip,
                    gateway: net.gateway_ip,
                    dns: net.dns_ip,
                    container6: None,
                    gateway6: None,
                })
            }
        }
    }
}

#[derive(Default)]
struct State {
    nics: Vec<Nic>,
    /// The running program's init, while it runs.
    pid: Option<i32>,
}

pub struct Nics {
    id: String,
    name: String,
    dir: PathBuf,
    hostname: String,
    namespace: PathBuf,
    names: Arc<ContainerNames>,
    state: Mutex<State>,
}

impl Nics {
    /// Joins every network of `config` (no interface yet: see [`Nics::start`]).
    pub fn join_all(
        store: &Store,
        id: &str,
        name: &str,
        config: &RunConfig,
        namespace: &Path,
        hostname: &str,
    ) -> Result<Nics> {
        let nics = Nics {
            id: id.to_string(),
            name: name.to_string(),
            dir: store.container_dir(id),
            hostname: hostname.to_string(),
            namespace: namespace.to_path_buf(),
            names: Arc::new(ContainerNames::default()),
            state: Mutex::new(State::default()),
        };
        {
            let mut state = nics.lock();
            for attachment in config.attachments() {
                if let Err(e) = nics.add(store, &mut state, &attachment) {
                    nics.leave_locked(store, &mut state);
                    return Err(e);
                }
            }
            nics.write_etc_files(config, &state)?;
        }
        Ok(nics)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, store: &Store, state: &mut State, attachment: &NetworkAttachment) -> Result<()> {
        if state.nics.iter().any(|n| n.network == attachment.name) {
            return Err(EngineError::Other(format!(
                "endpoint with name {} already exists in network {}",
                self.name, attachment.name
            )));
        }
        let user = match networks::BUILTIN.contains(&attachment.name.as_str()) {
            true => None,
            false => Some(UserNetwork::join(store, &self.id, &self.name, attachment)?),
        };
        let ifname = (0..)
            .map(|n| format!("eth{n}"))
            .find(|candidate| state.nics.iter().all(|n| &n.ifname != candidate))
            .unwrap_or_default();
        let internal = user.as_ref().is_some_and(|u| u.network.internal);
        let default_route = !internal && state.nics.iter().all(|n| !n.default_route);
        if user.is_some() {
            self.names.add(store, &attachment.name);
        }
        state.nics.push(Nic {
            network: attachment.name.clone(),
            ifname,
            user,
            default_route,
            running: None,
        });
        Ok(())
    }

    /// Brings up every interface for the program whose init is `pid`; the
    /// published `ports` go to the first.
    pub fn start(&self, store: &Store, pid: i32, ports: Vec<BoundPort>) -> Result<()> {
        let mut state = self.lock();
        state.pid = Some(pid);
        let mut ports = Some(ports);
        let refused = network::burrow_subnets(store);
        for nic in &mut state.nics {
            nic.running = Some(self.serve(nic, pid, ports.take().unwrap_or_default(), &refused)?);
        }
        Ok(())
    }

    fn serve(
        &self,
        nic: &Nic,
        pid: i32,
        ports: Vec<BoundPort>,
        refused: &network::RefusedSubnets,
    ) -> Result<RunningNetwork> {
        network::attach(NicSetup {
            namespace: &self.namespace,
            pid,
            name: &nic.ifname,
            default_route: nic.default_route,
            ports,
            user: nic.user.as_ref(),
            names: self.names.clone(),
            refused_subnets: refused.clone(),
        })
    }

    /// After the program's init exited: waits for every stack to stop.
    pub fn wait_stopped(&self) {
        let running: Vec<RunningNetwork> = {
            let mut state = self.lock();
            state.pid = None;
            state
                .nics
                .iter_mut()
                .filter_map(|n| n.running.take())
                .collect()
        };
        for stack in running {
            stack.wait();
        }
    }

    /// `network connect` while the supervisor runs: joins `attachment`'s
    /// network and, while the program runs, adds its interface now.
    pub fn connect(&self, store: &Store, attachment: &NetworkAttachment) -> Result<()> {
        let mut state = self.lock();
        self.add(store, &mut state, attachment)?;
        if let Some(pid) = state.pid {
            let refused = network::burrow_subnets(store);
            let served = match state.nics.last() {
                Some(nic) => self.serve(nic, pid, Vec::new(), &refused).map(Some),
                None => Ok(None),
            };
            match served {
                Ok(running) => {
                    if let Some(nic) = state.nics.last_mut() {
                        nic.running = running;
                    }
                }
                Err(e) => {
                    self.remove(store, &mut state, &attachment.name);
                    return Err(e);
                }
            }
        }
        let config = store.load(&self.id)?.config;
        self.write_etc_files(&config, &state)
    }

    /// `network disconnect`: removes the interface on `network` and frees
    /// its address.
    pub fn disconnect(&self, store: &Store, network: &str) -> Result<()> {
        let mut state = self.lock();
        if !state.nics.iter().any(|n| n.network == network) {
            return Err(EngineError::Other(format!(
                "container {} is not connected to network {network}",
                self.name
            )));
        }
        self.remove(store, &mut state, network);
        let config = store.load(&self.id)?.config;
        self.write_etc_files(&config, &state)
    }

    fn remove(&self, store: &Store, state: &mut State, network: &str) {
        let Some(at) = state.nics.iter().position(|n| n.network == network) else {
            return;
        };
        let nic = state.nics.remove(at);
        // Stops the stack: the tap device, and so the interface, goes.
        drop(nic.running);
        if let Some(user) = &nic.user {
            user.leave(store, &self.id);
            self.names.remove(network);
        }
        if nic.default_route {
            self.move_default_route(state);
        }
    }

    /// The interface that carried the default route went: the first one left
    /// that is not on an internal network takes it (now, while the program
    /// runs; at each start otherwise), as Docker moves the gateway.
    fn move_default_route(&self, state: &mut State) {
        let pid = state.pid;
        let Some(next) = state
            .nics
            .iter_mut()
            .find(|n| !n.user.as_ref().is_some_and(|u| u.network.internal))
        else {
            return;
        };
        next.default_route = true;
        if pid.is_none() || next.running.is_none() {
            return;
        }
        let moved = next.addresses().and_then(|addresses| {
            let target = burrow_net::NamespaceTarget {
                user_ns: None,
                net_ns: self.namespace.clone(),
            };
            burrow_net::add_default_route(
                &target,
                &next.ifname,
                addresses.gateway,
                addresses.gateway6,
            )
            .map_err(|e| EngineError::Other(e.to_string()))
        });
        if let Err(e) = moved {
            eprintln!(
                "burrow: cannot move the default route to {} (network {}): {e}",
                next.ifname, next.network
            );
        }
    }

    /// Leaves every user network (the supervisor is ending).
    pub fn leave_all(&self, store: &Store) {
        let mut state = self.lock();
        self.leave_locked(store, &mut state);
    }

    fn leave_locked(&self, store: &Store, state: &mut State) {
        for nic in state.nics.drain(..) {
            drop(nic.running);
            if let Some(user) = &nic.user {
                user.leave(store, &self.id);
            }
        }
    }

    fn write_etc_files(&self, config: &RunConfig, state: &State) -> Result<()> {
        // The default network alone keeps the files `create` wrote.
        if let [only] = state.nics.as_slice() {
            if only.user.is_none() {
                return Ok(());
            }
        }
        let addresses = state
            .nics
            .iter()
            .map(Nic::addresses)
            .collect::<Result<Vec<_>>>()?;
        etc_files::rewrite_for_network(&self.dir, config, &self.hostname, &addresses)
    }
}
