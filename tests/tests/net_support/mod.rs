//! Shared by the `net_*` tests: a running container with its own network namespace and
//! burrow's userspace network attached by `burrow net-helper`.
//!
//! The container is started with `oci run -d` (a created container's init is not yet
//! dumpable, so its namespaces cannot be opened by the user); the helper then joins its
//! user and network namespaces, creates `eth0`, and prints `ready`. Client commands run
//! inside with `oci exec` once the network is up. The sandbox kills the helper (by the
//! pid it was told and by its marker) and deletes the container when the test ends,
//! also on failure.

#![allow(dead_code)] // each test file uses a part

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use burrow_tests::binary::burrow_binary;
use burrow_tests::command::Output;
use burrow_tests::{fsutil, Bundle, Running, Sandbox};

/// What the network looks like, as `net-helper` flags.
#[derive(Default, Clone)]
pub struct NetOptions {
    pub publish: Vec<String>,
    pub host_loopback: bool,
    pub no_icmp_forward: bool,
    /// Splice loopback clients of published ports into the namespace's loopback.
    pub splice: bool,
    pub dns_upstreams: Vec<SocketAddr>,
    /// Put the UDP probe at /bin/net-probe.
    pub with_probe: bool,
    /// A user network's switch socket (`--switch`).
    pub switch: Option<PathBuf>,
    /// The container's address, A.B.C.D/NN (`--ip`).
    pub ip: Option<String>,
    /// The gateway and DNS address (`--gateway`); also written to /etc/resolv.conf.
    pub gateway: Option<String>,
    /// NAME=IP names the DNS server answers (`--name`).
    pub names: Vec<String>,
    pub internal: bool,
}

/// A published port as the helper reported it.
#[derive(Clone, Debug)]
pub struct Published {
    pub protocol: String,
    pub host: SocketAddr,
    pub container_port: u16,
}

pub struct NetContainer<'a> {
    pub sandbox: &'a Sandbox,
    pub id: String,
    pub pid: i32,
    pub bundle: Bundle,
    pub helper: Running,
    pub published: Vec<Published>,
}

/// Starts a container running `script` (sh -c) and attaches the network to it.
pub fn start<'a>(sandbox: &'a Sandbox, script: &str, options: &NetOptions) -> NetContainer<'a> {
    let bundle = prepare_bundle(sandbox, script, options);
    let (id, pid) = run_detached(sandbox, &bundle);
    let helper = sandbox
        .command(&burrow_binary().burrow)
        .args(helper_args(pid, options))
        .timeout(Duration::from_secs(600))
        .spawn();
    sandbox.track_pid(helper.pid());
    let mut container = NetContainer {
        sandbox,
        id,
        pid,
        bundle,
        helper,
        published: Vec::new(),
    };
    container.wait_until_ready();
    container
}

/// A bundle with a network namespace running `script`.
pub fn prepare_bundle(sandbox: &Sandbox, script: &str, options: &NetOptions) -> Bundle {
    let bundle = sandbox.bundle(&burrow_tests::unique_name("net"));
    bundle.edit(|spec| {
        spec.add_namespace("network", None)
            .args(&["sh", "-c", script])
            // busybox ping uses a raw socket (or an ICMP socket where the range allows).
            .capabilities(&[
                "CAP_NET_RAW",
                "CAP_NET_BIND_SERVICE",
                "CAP_KILL",
                "CAP_AUDIT_WRITE",
            ])
            .set(
                "/linux/sysctl/net.ipv4.ping_group_range",
                serde_json::json!("0 0"),
            );
    });
    if let Some(gateway) = &options.gateway {
        let path = bundle.rootfs().join("etc/resolv.conf");
        let _ = std::fs::remove_file(&path);
        fsutil::write_file(
            &path,
            format!("nameserver {gateway}\n"),
            0o644,
            sandbox.user(),
        );
    }
    if options.with_probe {
        let path = bundle.rootfs().join("bin/net-probe");
        let bytes = std::fs::read(probe_binary()).expect("read the probe binary");
        fsutil::write_file(&path, bytes, 0o755, sandbox.user());
    }
    bundle
}

/// `oci run -d`; returns the id and the container's pid.
pub fn run_detached(sandbox: &Sandbox, bundle: &Bundle) -> (String, i32) {
    let id = sandbox.container_id("net");
    sandbox
        .oci(["run", "-d", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run()
        .assert_success();
    let state = sandbox.state(&id);
    let pid = state["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("no pid in state: {state}")) as i32;
    (id, pid)
}

pub fn helper_args(pid: i32, options: &NetOptions) -> Vec<String> {
    let mut args = vec!["net-helper".to_string(), "--pid".into(), pid.to_string()];
    for spec in &options.publish {
        args.push("--publish".into());
        args.push(spec.clone());
    }
    if options.host_loopback {
        args.push("--host-loopback".into());
    }
    if options.splice {
        args.push("--splice".into());
    }
    if options.no_icmp_forward {
        args.push("--no-icmp-forward".into());
    }
    if let Some(switch) = &options.switch {
        args.push("--switch".into());
        args.push(switch.display().to_string());
    }
    if let Some(ip) = &options.ip {
        args.push("--ip".into());
        args.push(ip.clone());
    }
    if let Some(gateway) = &options.gateway {
        args.push("--gateway".into());
        args.push(gateway.clone());
    }
    for name in &options.names {
        args.push("--name".into());
        args.push(name.clone());
    }
    if options.internal {
        args.push("--internal".into());
    }
    for upstream in &options.dns_upstreams {
        args.push("--dns-upstream".into());
        args.push(upstream.to_string());
    }
    args
}

impl NetContainer<'_> {
    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.helper.stdout_so_far();
            if out.lines().any(|l| l == "ready") {
                self.published = parse_published(&out);
                return;
            }
            if self.helper.has_exited() || Instant::now() > deadline {
                let pid = self.helper.pid();
                panic!("net-helper (pid {pid}) not ready: stdout {out:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `sh -c SCRIPT` inside the container.
    pub fn exec(&self, script: &str) -> Output {
        self.sandbox
            .oci(["exec", &self.id, "sh", "-c", script])
            .timeout(Duration::from_secs(60))
            .run()
    }

    /// The host address of the published container port `port`.
    pub fn host_port(&self, port: u16, protocol: &str) -> SocketAddr {
        self.published
            .iter()
            .find(|p| p.container_port == port && p.protocol == protocol)
            .unwrap_or_else(|| panic!("{port}/{protocol} not published: {:?}", self.published))
            .host
    }

    /// A file in the container's rootfs, as the host sees it.
    pub fn rootfs_path(&self, relative: &str) -> PathBuf {
        self.bundle.rootfs().join(relative.trim_start_matches('/'))
    }
}

fn parse_published(out: &str) -> Vec<Published> {
    out.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next()? != "published" {
                return None;
            }
            Some(Published {
                protocol: words.next()?.to_string(),
                host: words.next()?.parse().ok()?,
                container_port: words.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// Retries `attempt` until it returns Some or `timeout` passes (servers in the container
/// start asynchronously).
pub fn retry<T>(timeout: Duration, mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = attempt() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The static UDP probe (see probe.rs), compiled once per test process into cargo's
/// temp dir for tests (renamed into place, so parallel test processes do not clash).
pub fn probe_binary() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let partial = dir.join(format!("net-probe-{}", std::process::id()));
        let out = dir.join("net-probe");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/net_support/probe.rs");
        // cargo sets CARGO for the tests it runs; rustc sits next to it.
        let rustc = std::env::var_os("RUSTC")
            .map(PathBuf::from)
            .or_else(|| {
                let cargo = PathBuf::from(std::env::var_os("CARGO")?);
                Some(cargo.with_file_name("rustc")).filter(|p| p.is_file())
            })
            .unwrap_or_else(|| "rustc".into());
        let status = std::process::Command::new(rustc)
            .args([
                "--edition",
                "2021",
                "-O",
                "-C",
                "target-feature=+crt-static",
                "-o",
            ])
            .arg(&partial)
            .arg(&source)
            .status()
            .expect("run rustc for the probe");
        assert!(status.success(), "the net probe does not build");
        std::fs::rename(&partial, &out).expect("rename the probe into place");
        out
    })
}

/// A sha256 of a file, computed by the host's sha256sum.
pub fn sha256_of(path: &Path) -> String {
    let output = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("run sha256sum");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}
