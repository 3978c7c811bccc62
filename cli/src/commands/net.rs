//! `burrow net-helper` (hidden): runs the userspace network of one running container
//! — its tap device, the smoltcp stack, published ports — until the container exits.
//! It is how tests and benchmarks drive burrow-net before the supervisor does.
//!
//! Prints `ready` on stdout once the container's `eth0` is up and the ports are bound,
//! preceded by one `published PROTO HOSTADDR CONTAINERPORT` line per published port.
//!
//! With `--switch` the container joins a user-defined network's switch (started with
//! `burrow network-switch`); IPv6 is then off, as every container would get the same
//! IPv6 address.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use burrow_net::publish::bind_published;
use burrow_net::tap::TapConfig;
use burrow_net::{parse_publish, NamespaceTarget, NetConfig, Stack, StaticNames, Tap};

#[derive(clap::Args)]
pub struct NetHelperArgs {
    /// A process in the container: its user and network namespaces are joined.
    #[arg(long)]
    pid: i32,
    /// Publish a port: [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|/udp], ranges allowed.
    #[arg(short = 'p', long = "publish")]
    publish: Vec<String>,
    /// Make the gateway address reach the host's 127.0.0.1.
    #[arg(long)]
    host_loopback: bool,
    /// Answer ping to forwarded destinations with "prohibited" instead of using ping sockets.
    #[arg(long)]
    no_icmp_forward: bool,
    /// No IPv6 address (the container gets fd00::100/64 by default).
    #[arg(long)]
    no_ipv6: bool,
    /// Splice loopback clients of published TCP ports into the namespace's loopback
    /// instead of carrying them through the userspace stack.
    #[arg(long)]
    splice: bool,
    /// DNS resolvers to forward to (default: the host's /etc/resolv.conf).
    #[arg(long = "dns-upstream")]
    dns_upstreams: Vec<SocketAddr>,
    /// MTU of the container's eth0.
    #[arg(long, default_value_t = 65520)]
    mtu: u32,
    /// Do not use virtio-net headers (checksums are then computed in software).
    #[arg(long)]
    no_vnet_hdr: bool,
    /// Join the user-defined network whose switch listens on this socket.
    #[arg(long)]
    switch: Option<PathBuf>,
    /// The container's address and prefix length (default 10.0.2.100/24).
    #[arg(long, value_parser = parse_cidr)]
    ip: Option<(Ipv4Addr, u8)>,
    /// The gateway's address, also the DNS server's (default 10.0.2.2, DNS 10.0.2.3).
    #[arg(long)]
    gateway: Option<Ipv4Addr>,
    /// A name the DNS server answers: NAME=IP (repeatable).
    #[arg(long = "name", value_parser = parse_name)]
    names: Vec<(String, Ipv4Addr)>,
    /// Nothing outside the subnet is reachable (Docker's `network create --internal`).
    #[arg(long)]
    internal: bool,
}

fn parse_cidr(value: &str) -> Result<(Ipv4Addr, u8), String> {
    let (ip, len) = value.split_once('/').ok_or("expected A.B.C.D/NN")?;
    let ip = ip.parse().map_err(|e| format!("{ip}: {e}"))?;
    let len: u8 = len.parse().map_err(|e| format!("{len}: {e}"))?;
    if len == 0 || len > 30 {
        return Err(format!("prefix length {len} leaves no room for a gateway"));
    }
    Ok((ip, len))
}

fn parse_name(value: &str) -> Result<(String, Ipv4Addr), String> {
    let (name, ip) = value.split_once('=').ok_or("expected NAME=IP")?;
    let ip = ip.parse().map_err(|e| format!("{ip}: {e}"))?;
    Ok((name.to_string(), ip))
}

pub fn main(args: NetHelperArgs) -> i32 {
    match run(args) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("burrow: error: {error:#}");
            125
        }
    }
}

fn run(args: NetHelperArgs) -> Result<()> {
    let mut config = NetConfig {
        mtu: args.mtu,
        host_loopback: args.host_loopback,
        icmp_forward: !args.no_icmp_forward,
        splice_loopback: args.splice,
        ipv6: !args.no_ipv6,
        dns_upstreams: args.dns_upstreams,
        ..NetConfig::default()
    };
    if let Some((ip, prefix_len)) = args.ip {
        config.container_ip = ip;
        config.prefix_len = prefix_len;
    }
    if let Some(gateway) = args.gateway {
        config.gateway_ip = gateway;
        config.dns_ip = gateway;
    }
    if !config.in_subnet(config.gateway_ip) || config.gateway_ip == config.container_ip {
        bail!(
            "the gateway {} must be another address of {}/{}",
            config.gateway_ip,
            config.container_ip,
            config.prefix_len
        );
    }
    if !args.names.is_empty() {
        config.names = Some(Arc::new(StaticNames::new(args.names)));
    }
    if args.switch.is_some() {
        config.ipv6 = false;
    }
    config.switch = args.switch;
    config.internal = args.internal;
    for spec in &args.publish {
        config.publish.extend(parse_publish(spec)?);
    }
    let published = bind_published(&config.publish)?;
    let exited = burrow_net::process_exit_fd(args.pid)
        .with_context(|| format!("cannot watch process {}", args.pid))?;
    let tap_config = TapConfig {
        vnet_hdr: !args.no_vnet_hdr,
        ..TapConfig::for_network(&config)
    };
    let tap = Tap::create_in(&NamespaceTarget::of_pid(args.pid), &tap_config)?;
    let mut stdout = std::io::stdout().lock();
    for port in &published {
        let m = port.mapping();
        let host = SocketAddr::new(m.host_ip, m.host_port);
        writeln!(
            stdout,
            "published {} {host} {}",
            m.protocol, m.container_port
        )?;
    }
    let mut stack = Stack::new(config, tap, published)?;
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    drop(stdout);
    stack.run(Some(exited.as_raw_fd()))?;
    if std::env::var("BURROW_LOG").is_ok_and(|v| v == "debug") {
        eprintln!("{:?}", stack.stats());
    }
    Ok(())
}
