//! `burrow network create|ls|inspect|rm|prune|connect|disconnect`:
//! user-defined networks, on which containers reach each other by name,
//! apart from other networks.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use burrow_engine::networks::{self, CreateRequest, NetworkRecord};
use burrow_engine::ContainerStatus;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a network (prints its id).
    Create(CreateArgs),
    /// List networks.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show networks as JSON.
    Inspect(InspectArgs),
    /// Remove networks.
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove every user-defined network no container uses.
    Prune(PruneArgs),
    /// Connect a container to a network (running: a new interface now).
    Connect(ConnectArgs),
    /// Disconnect a container from a network.
    Disconnect(DisconnectArgs),
}

#[derive(clap::Args)]
pub struct ConnectArgs {
    /// More names other members of the network find the container by.
    #[arg(long)]
    alias: Vec<String>,
    /// The container's IPv4 address on the network.
    #[arg(long)]
    ip: Option<std::net::Ipv4Addr>,
    network: String,
    container: String,
}

#[derive(clap::Args)]
pub struct DisconnectArgs {
    /// Also when the container's supervisor cannot be reached.
    #[arg(short, long)]
    force: bool,
    network: String,
    container: String,
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// Driver (only bridge).
    #[arg(short, long)]
    driver: Option<String>,
    /// Subnet in CIDR form (default: the first free 10.89.N.0/24); given
    /// again with an IPv6 /64, the network's IPv6 subnet.
    #[arg(long)]
    subnet: Vec<String>,
    /// IPv6 alongside IPv4 (a ULA /64 unless --subnet gives one).
    #[arg(long)]
    ipv6: bool,
    /// Gateway address (default: the subnet's first).
    #[arg(long)]
    gateway: Option<String>,
    /// No access to anything outside the network.
    #[arg(long)]
    internal: bool,
    /// Set metadata (KEY=VALUE).
    #[arg(long)]
    label: Vec<String>,
    /// Driver option KEY=VALUE: mtu=N (or com.docker.network.driver.mtu=N).
    #[arg(short = 'o', long = "opt")]
    opt: Vec<String>,
    name: String,
}

#[derive(clap::Args)]
pub struct LsArgs {
    /// Only the ids.
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate the ids.
    #[arg(long)]
    no_trunc: bool,
    /// name=… or driver=… (substring for name, as Docker's).
    #[arg(short, long)]
    filter: Vec<String>,
    /// json, or a template such as '{{.Name}}'.
    #[arg(long)]
    format: Option<String>,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    #[arg(required = true)]
    networks: Vec<String>,
}

#[derive(clap::Args)]
pub struct RmArgs {
    #[arg(required = true)]
    networks: Vec<String>,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Do not ask.
    #[arg(short, long)]
    force: bool,
}

/// Exits 1 on errors, as Docker's network commands do.
pub fn run(root: Option<&std::path::Path>, command: Command) -> Result<i32> {
    let store = super::store(root)?;
    let result = match command {
        Command::Create(a) => create(&store, a),
        Command::Ls(a) => ls(&store, a),
        Command::Inspect(a) => inspect(&store, a),
        Command::Rm(a) => rm(&store, a),
        Command::Prune(a) => prune(&store, a),
        Command::Connect(a) => connect(&store, a),
        Command::Disconnect(a) => {
            networks::connect::disconnect(&store, &a.network, &a.container, a.force)
                .map(|()| 0)
                .map_err(anyhow::Error::from)
        }
    };
    result.or_else(|e| {
        eprintln!("burrow: error: {e:#}");
        Ok(1)
    })
}

fn create(store: &burrow_engine::Store, args: CreateArgs) -> Result<i32> {
    let labels = key_values(&args.label);
    let (mut subnet, mut subnet6) = (None, None);
    for given in args.subnet {
        let slot = match given.contains(':') {
            true => &mut subnet6,
            false => &mut subnet,
        };
        if slot.replace(given.clone()).is_some() {
            bail!("invalid --subnet {given}: one IPv4 and one IPv6 subnet at most");
        }
    }
    if subnet6.is_some() && !args.ipv6 {
        bail!("invalid --subnet: an IPv6 subnet needs --ipv6");
    }
    let record = networks::create(
        store,
        &CreateRequest {
            name: args.name,
            subnet,
            subnet6,
            ipv6: args.ipv6,
            gateway: args.gateway,
            internal: args.internal,
            labels,
            driver: args.driver,
            options: key_values(&args.opt),
        },
    )?;
    println!("{}", record.id);
    Ok(0)
}

/// `KEY=VALUE` flags as a map (a bare `KEY` has an empty value).
fn key_values(flags: &[String]) -> BTreeMap<String, String> {
    flags
        .iter()
        .map(|flag| {
            let (k, v) = flag.split_once('=').unwrap_or((flag, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn connect(store: &burrow_engine::Store, args: ConnectArgs) -> Result<i32> {
    let request = networks::connect::ConnectRequest {
        network: &args.network,
        container: &args.container,
        aliases: args.alias,
        ip: args.ip,
    };
    networks::connect::connect(store, &request, &super::run::self_exe())?;
    Ok(0)
}

fn ls(store: &burrow_engine::Store, args: LsArgs) -> Result<i32> {
    let mut list = networks::list(store)?;
    for filter in &args.filter {
        let (key, value) = filter.split_once('=').unwrap_or((filter, ""));
        match key {
            "name" => list.retain(|n| n.name.contains(value)),
            "driver" => list.retain(|n| n.driver == value),
            "id" => list.retain(|n| n.id.starts_with(value)),
            _ => bail!("invalid filter {filter:?}"),
        }
    }
    let id = |n: &NetworkRecord| -> String {
        match args.no_trunc {
            true => n.id.clone(),
            false => n.id[..12].to_string(),
        }
    };
    if args.quiet {
        for n in &list {
            println!("{}", id(n));
        }
        return Ok(0);
    }
    if let Some(format) = &args.format {
        for n in &list {
            let row = serde_json::json!({
                "ID": id(n), "Name": n.name, "Driver": n.driver, "Scope": "local",
                "Internal": n.internal, "CreatedAt": n.created,
            });
            match format.as_str() {
                "json" => println!("{row}"),
                template => println!("{}", super::ps::render(template, &row)?),
            }
        }
        return Ok(0);
    }
    let width = list.iter().map(|n| n.name.len()).max().unwrap_or(4).max(4) + 3;
    println!(
        "{:<15}{:<width$}{:<10}SCOPE",
        "NETWORK ID", "NAME", "DRIVER"
    );
    for n in &list {
        println!("{:<15}{:<width$}{:<10}local", id(n), n.name, n.driver);
    }
    Ok(0)
}

fn inspect(store: &burrow_engine::Store, args: InspectArgs) -> Result<i32> {
    let mut out = Vec::new();
    let mut failed = false;
    for reference in &args.networks {
        match networks::find(store, reference) {
            Ok(n) => out.push(docker_json(store, &n)?),
            Err(e) => {
                eprintln!("burrow: error: {e}");
                failed = true;
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(if failed { 1 } else { 0 })
}

fn docker_json(store: &burrow_engine::Store, n: &NetworkRecord) -> Result<serde_json::Value> {
    let members = networks::members::read_members(&networks::members::members_dir(store, &n.name));
    let mut containers = BTreeMap::new();
    for c in networks::users(store, &n.name)? {
        if c.status != ContainerStatus::Running {
            continue;
        }
        let member = members.iter().find(|m| m.container_id == c.id);
        let address = member
            .map(|m| format!("{}/{}", m.ip, n.prefix().map(|p| p.1).unwrap_or(24)))
            .unwrap_or_default();
        let address6 = member
            .and_then(|m| n.ipv6_of(m.ip).ok().flatten())
            .map(|ip| format!("{ip}/{}", networks::ipv6::PREFIX_LEN))
            .unwrap_or_default();
        containers.insert(
            c.id.clone(),
            serde_json::json!({"Name": c.name, "IPv4Address": address, "IPv6Address": address6}),
        );
    }
    let mut config = match n.subnet.is_empty() {
        true => Vec::new(),
        false => vec![serde_json::json!({"Subnet": n.subnet, "Gateway": n.gateway})],
    };
    if let (Some(subnet6), Ok(Some(gateway6))) = (&n.subnet6, n.gateway_ip6()) {
        config.push(serde_json::json!({"Subnet": subnet6, "Gateway": gateway6.to_string()}));
    }
    Ok(serde_json::json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": n.subnet6.is_some(),
        "IPAM": {"Driver": "default", "Options": {}, "Config": config},
        "Internal": n.internal,
        "Attachable": false,
        "Containers": containers,
        "Options": n.options,
        "Labels": n.labels,
    }))
}

fn rm(store: &burrow_engine::Store, args: RmArgs) -> Result<i32> {
    let mut failed = false;
    for reference in &args.networks {
        match networks::remove(store, reference) {
            Ok(_) => println!("{reference}"),
            Err(e) => {
                eprintln!("burrow: error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn prune(store: &burrow_engine::Store, args: PruneArgs) -> Result<i32> {
    if !args.force && !super::confirm("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?")? {
        return Ok(0);
    }
    let removed = networks::prune(store)?;
    if !removed.is_empty() {
        println!("Deleted Networks:");
        for name in removed {
            println!("{name}");
        }
    }
    Ok(0)
}
