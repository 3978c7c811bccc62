//! `burrow-slirp`: burrow's network stack behind slirp4netns's command line and API
//! socket, so that Podman (`network_cmd_path` in containers.conf) or rootlesskit can use
//! it as their network program.
//!
//! `burrow-slirp [OPTION]... PID|PATH [TAPNAME]` creates TAPNAME (default `tap0`) in the
//! network namespace of process PID (joining its user namespace first) or, with
//! `--netns-type=path`, in the namespace file PATH (with `--userns-path`'s user
//! namespace, or the caller's), and serves it with the stack until the `--exit-fd` is
//! closed (or, without one, until killed). The address plan is slirp4netns's:
//! `--cidr` (default 10.0.2.0/24) gives the container network+100, the gateway
//! network+2, the DNS server network+3; IPv6 (`--enable-ipv6`) uses fd00::/64. As in
//! slirp4netns, the host's 127.0.0.1 is reachable through the gateway unless
//! `--disable-host-loopback` is given; the default MTU is 1500.
//!
//! Options slirp4netns has that change nothing here are accepted: `--enable-sandbox`
//! and `--enable-seccomp` (the stack runs as the calling user, with no privileges to
//! drop) and `--outbound-addr[6]` (outbound connections use the host's default source
//! address; a warning says so). Any other option is a one-line error.

mod api;

use std::ffi::OsString;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use anyhow::{Context, Result};
use burrow_net::publish::bind_published;
use burrow_net::tap::TapConfig;
use burrow_net::{NamespaceTarget, NetConfig, PortControl, PortMapping, Stack, Tap};

use api::{Api, Forwards};

const USAGE: &str = "Usage: burrow-slirp [OPTION]... PID|PATH [TAPNAME]
User-mode networking for unprivileged network namespaces (burrow's stack, slirp4netns's command line).

-c, --configure          bring up the interface
-e, --exit-fd=FD         specify the FD for terminating burrow-slirp
-r, --ready-fd=FD        specify the FD to write to when the network is configured
-m, --mtu=MTU            specify MTU (default=1500, max=65521)
-6, --enable-ipv6        enable IPv6
-a, --api-socket=PATH    specify API socket path
--cidr=CIDR              specify network address CIDR (default=10.0.2.0/24)
--disable-host-loopback  prohibit connecting to 127.0.0.1:* on the host namespace
--netns-type=TYPE        specify network namespace type ([path|pid], default=pid)
--userns-path=PATH       specify user namespace path
--enable-sandbox         accepted for compatibility (nothing to drop)
--enable-seccomp         accepted for compatibility
--outbound-addr=IPv4     accepted for compatibility (the host's default address is used)
--outbound-addr6=IPv6    accepted for compatibility (the host's default address is used)
-h, --help               show this help and exit
-v, --version            show version and exit
";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub struct SlirpArgs {
    configure: bool,
    exit_fd: Option<RawFd>,
    ready_fd: Option<RawFd>,
    mtu: u32,
    ipv6: bool,
    api_socket: Option<PathBuf>,
    cidr: (Ipv4Addr, u8),
    disable_host_loopback: bool,
    netns_is_path: bool,
    userns_path: Option<PathBuf>,
    outbound_addr: bool,
    target: String,
    tap_name: String,
}

#[derive(Debug, PartialEq)]
enum Parsed {
    Run(SlirpArgs),
    Help,
    Version,
}

pub fn main(args: Vec<OsString>) -> i32 {
    let args: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let args = match parse(&args) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return 0;
        }
        Ok(Parsed::Version) => {
            println!(
                "burrow-slirp version {} (slirp4netns-compatible)",
                env!("CARGO_PKG_VERSION")
            );
            return 0;
        }
        Err(message) => {
            eprintln!("burrow-slirp: {message}");
            return 1;
        }
    };
    match run(args) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("burrow-slirp: error: {error:#}");
            1
        }
    }
}

fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut parsed = SlirpArgs {
        configure: false,
        exit_fd: None,
        ready_fd: None,
        mtu: 1500,
        ipv6: false,
        api_socket: None,
        cidr: (Ipv4Addr::new(10, 0, 2, 0), 24),
        disable_host_loopback: false,
        netns_is_path: false,
        userns_path: None,
        outbound_addr: false,
        target: String::new(),
        tap_name: "tap0".into(),
    };
    let mut positional = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if !arg.starts_with('-') || arg == "-" {
            positional.push(arg.clone());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match &inline {
                Some(value) => Ok(value.clone()),
                None => args
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("option {name} needs {what}")),
            }
        };
        match name {
            "-c" | "--configure" => parsed.configure = true,
            "-e" | "--exit-fd" => parsed.exit_fd = Some(fd_number(name, &value("an FD")?)?),
            "-r" | "--ready-fd" => parsed.ready_fd = Some(fd_number(name, &value("an FD")?)?),
            "-m" | "--mtu" => parsed.mtu = mtu(&value("a number")?)?,
            "-6" | "--enable-ipv6" => parsed.ipv6 = true,
            "-a" | "--api-socket" => parsed.api_socket = Some(value("a path")?.into()),
            "--cidr" => parsed.cidr = cidr(&value("a CIDR")?)?,
            "--disable-host-loopback" => parsed.disable_host_loopback = true,
            "--netns-type" => {
                parsed.netns_is_path = match value("a type")?.as_str() {
                    "path" => true,
                    "pid" => false,
                    other => return Err(format!("unknown --netns-type {other:?} (path or pid)")),
                }
            }
            "--userns-path" => parsed.userns_path = Some(value("a path")?.into()),
            "--enable-sandbox" | "--enable-seccomp" => {}
            "--outbound-addr" | "--outbound-addr6" => {
                value("an address")?;
                parsed.outbound_addr = true;
            }
            "-h" | "--help" => return Ok(Parsed::Help),
            "-v" | "--version" => return Ok(Parsed::Version),
            other => return Err(format!("unknown option {other} (see burrow-slirp --help)")),
        }
    }
    match positional.as_slice() {
        [target] => parsed.target = target.clone(),
        [target, tap] => {
            parsed.target = target.clone();
            parsed.tap_name = tap.clone();
        }
        [] => return Err("missing PID|PATH (see burrow-slirp --help)".into()),
        _ => return Err(format!("too many arguments: {}", positional.join(" "))),
    }
    if !parsed.netns_is_path && parsed.target.parse::<i32>().map_or(true, |pid| pid <= 0) {
        return Err(format!(
            "{:?} is not a process id (use --netns-type=path for a namespace file)",
            parsed.target
        ));
    }
    if parsed.tap_name.is_empty() || parsed.tap_name.len() > 15 {
        return Err(format!(
            "invalid interface name {:?} (1 to 15 bytes)",
            parsed.tap_name
        ));
    }
    Ok(Parsed::Run(parsed))
}

fn fd_number(option: &str, text: &str) -> Result<RawFd, String> {
    match text.parse::<RawFd>() {
        Ok(fd) if fd >= 0 => Ok(fd),
        _ => Err(format!(
            "option {option}: {text:?} is not a file descriptor"
        )),
    }
}

fn mtu(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(mtu) if (68..=65521).contains(&mtu) => Ok(mtu),
        _ => Err(format!("invalid MTU {text:?} (68 to 65521)")),
    }
}

/// A network CIDR with room for the container at network+100.
fn cidr(text: &str) -> Result<(Ipv4Addr, u8), String> {
    let invalid = || format!("invalid CIDR {text:?} (an IPv4 network like 10.0.2.0/24)");
    let (address, prefix) = text.split_once('/').ok_or_else(invalid)?;
    let address: Ipv4Addr = address.parse().map_err(|_| invalid())?;
    let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
    if prefix > 25 {
        return Err(format!(
            "CIDR {text:?} is too small: the container is at network address + 100"
        ));
    }
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ok((Ipv4Addr::from(u32::from(address) & mask), prefix))
}

/// The stack's configuration for these arguments.
fn net_config(args: &SlirpArgs) -> NetConfig {
    let (network, prefix_len) = args.cidr;
    let at = |offset: u32| Ipv4Addr::from(u32::from(network) + offset);
    NetConfig {
        mtu: args.mtu,
        container_ip: at(100),
        prefix_len,
        gateway_ip: at(2),
        dns_ip: at(3),
        ipv6: args.ipv6,
        host_loopback: !args.disable_host_loopback,
        ..NetConfig::default()
    }
}

fn namespace_target(args: &SlirpArgs) -> NamespaceTarget {
    if args.netns_is_path {
        return NamespaceTarget {
            user_ns: args.userns_path.clone(),
            net_ns: PathBuf::from(&args.target),
        };
    }
    let pid = args.target.parse().unwrap_or(0);
    let mut target = NamespaceTarget::of_pid(pid);
    if let Some(path) = &args.userns_path {
        target.user_ns = Some(path.clone());
    }
    target
}

fn run(args: SlirpArgs) -> Result<()> {
    if args.outbound_addr {
        eprintln!(
            "burrow-slirp: warning: --outbound-addr is not supported; outbound connections use the host's default address"
        );
    }
    let config = net_config(&args);
    let container_ip = config.container_ip;
    let mut tap_config = TapConfig::for_network(&config);
    tap_config.name = args.tap_name.clone();
    tap_config.configure = args.configure;
    let tap = Tap::create_in(&namespace_target(&args), &tap_config)?;
    let mut stack = Stack::new(config, tap, Vec::new())?;
    let api_socket = match &args.api_socket {
        Some(path) => {
            let listener = UnixListener::bind(path)
                .with_context(|| format!("cannot listen on the API socket {}", path.display()))?;
            let control = stack.port_control()?;
            serve_api(listener, control, container_ip)?;
            Some(path.clone())
        }
        None => None,
    };
    if let Some(fd) = args.ready_fd {
        signal_ready(fd)?;
    }
    let result = stack.run_until(args.exit_fd.as_slice());
    if let Some(path) = api_socket {
        let _ = std::fs::remove_file(path);
    }
    result?;
    Ok(())
}

/// Writes "1" to the ready fd and closes it, as slirp4netns does (a pipe or a socket).
fn signal_ready(fd: RawFd) -> Result<()> {
    let failed = || format!("cannot write to the ready fd {fd}");
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).with_context(failed)?;
    // SAFETY: the fd is open (checked above) and was handed to this process on its
    // command line for this one use; the File owns and closes it, nothing else uses it.
    let mut ready = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    ready.write_all(b"1").with_context(failed)?;
    Ok(())
}

/// The running stack's published ports, opened on the API's requests.
struct StackForwards(PortControl);

impl Forwards for StackForwards {
    fn open(&mut self, mapping: PortMapping) -> Result<usize, String> {
        let mut bound = bind_published(&[mapping]).map_err(|e| e.to_string())?;
        let port = bound.pop().ok_or("nothing was bound")?;
        self.0.add(port).map_err(|e| e.to_string())
    }

    fn close(&mut self, handle: usize) -> Result<(), String> {
        match self.0.remove(handle) {
            Ok(true) => Ok(()),
            Ok(false) => Err("the port was not published".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Answers API requests one connection at a time on a thread of its own.
fn serve_api(listener: UnixListener, control: PortControl, container_ip: Ipv4Addr) -> Result<()> {
    let mut api = Api::new(StackForwards(control), container_ip);
    std::thread::Builder::new()
        .name("api".into())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => api.serve(stream),
                    Err(e) => eprintln!("burrow-slirp: cannot accept on the API socket: {e}"),
                }
            }
        })
        .context("cannot start the API thread")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Result<Parsed, String> {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&args)
    }

    fn run_args(line: &str) -> SlirpArgs {
        match parse_line(line) {
            Ok(Parsed::Run(args)) => args,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn podmans_command_line_parses() {
        let args = run_args(
            "--disable-host-loopback --mtu=65520 --enable-sandbox --enable-seccomp \
             --enable-ipv6 -c -e 3 -r 4 --api-socket /run/x.net --netns-type=path \
             /run/user/1000/netns/netns-abc tap0",
        );
        assert!(args.configure && args.ipv6 && args.disable_host_loopback);
        assert_eq!(
            (args.exit_fd, args.ready_fd, args.mtu),
            (Some(3), Some(4), 65520)
        );
        assert_eq!(args.api_socket, Some(PathBuf::from("/run/x.net")));
        assert!(args.netns_is_path);
        assert_eq!(args.target, "/run/user/1000/netns/netns-abc");
        let target = namespace_target(&args);
        assert_eq!(target.user_ns, None);
        let config = net_config(&args);
        assert!(!config.host_loopback);
        assert_eq!(config.container_ip, Ipv4Addr::new(10, 0, 2, 100));
    }

    #[test]
    fn defaults_and_cidr_follow_slirp4netns() {
        let args = run_args("1234");
        assert_eq!(args.tap_name, "tap0");
        assert_eq!(args.mtu, 1500);
        let config = net_config(&args);
        assert!(
            config.host_loopback,
            "slirp4netns allows the host loopback by default"
        );
        assert!(!config.ipv6);
        let target = namespace_target(&args);
        assert_eq!(target.net_ns, PathBuf::from("/proc/1234/ns/net"));
        let args = run_args("--cidr=192.168.77.0/24 --userns-path=/proc/9/ns/user 1234 eth9");
        let config = net_config(&args);
        assert_eq!(config.container_ip, Ipv4Addr::new(192, 168, 77, 100));
        assert_eq!(config.gateway_ip, Ipv4Addr::new(192, 168, 77, 2));
        assert_eq!(config.dns_ip, Ipv4Addr::new(192, 168, 77, 3));
        assert_eq!(args.tap_name, "eth9");
        assert_eq!(
            namespace_target(&args).user_ns,
            Some(PathBuf::from("/proc/9/ns/user"))
        );
        assert_eq!(parse_line("--help 1"), Ok(Parsed::Help));
        assert_eq!(parse_line("-v"), Ok(Parsed::Version));
    }

    #[test]
    fn mistakes_are_one_line() {
        for line in [
            "--frobnicate 1 tap0",
            "--macaddress=02:00:00:00:00:01 1",
            "--mtu=70000 1",
            "--mtu 1",
            "--cidr=10.0.2.0/30 1",
            "--cidr=banana 1",
            "--netns-type=fd 1",
            "-e x 1",
            "",
            "notapid tap0",
            "1 tap0 extra",
            "1 averyveryverylongname",
        ] {
            let error = parse_line(line).expect_err(line);
            assert!(!error.contains('\n'), "{line}: {error}");
        }
    }

    #[test]
    fn the_help_names_what_podman_looks_for() {
        for flag in [
            "--disable-host-loopback",
            "--mtu",
            "--enable-sandbox",
            "--enable-seccomp",
            "--cidr",
            "--outbound-addr",
            "--enable-ipv6",
            "--netns-type",
            "--userns-path",
            "--api-socket",
        ] {
            assert!(USAGE.contains(flag), "{flag}");
        }
    }
}
