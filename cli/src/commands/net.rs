//! `burrow net-helper` (hidden): runs the userspace network of one running container
//! — its tap device, the smoltcp stack, published ports — until the container exits.
//! It is how tests and benchmarks drive burrow-net before the supervisor does.
//!
//! Prints `ready` on stdout once the container's `eth0` is up and the ports are bound,
//! preceded by one `published PROTO HOSTADDR CONTAINERPORT` line per published port.

use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use anyhow::{Context, Result};
use burrow_net::publish::bind_published;
use burrow_net::tap::TapConfig;
use burrow_net::{parse_publish, NamespaceTarget, NetConfig, Stack, Tap};

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
    for spec in &args.publish {
        config.publish.extend(parse_publish(spec)?);
    }
    let published = bind_published(&config.publish)?;
    let exited = burrow_net::process_exit_fd(args.pid)
        .with_context(|| format!("cannot watch process {}", args.pid))?;
    let tap_config = TapConfig {
        name: "eth0".into(),
        mtu: config.mtu,
        address: config.container_ip,
        prefix_len: config.prefix_len,
        gateway: config.gateway_ip,
        ipv6: config
            .ipv6
            .then_some((config.container_ip6, config.gateway_ip6)),
        vnet_hdr: !args.no_vnet_hdr,
        keep_namespace_helper: config.splice_loopback,
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
