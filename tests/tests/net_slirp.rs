//! `burrow-slirp` as Podman's network program: containers.conf's `network_cmd_path`
//! points at the `burrow-slirp` symlink, and podman 4 (from apt) runs it with
//! slirp4netns's command line. A container reaches a server on the host's 127.0.0.1
//! through 10.0.2.2 with `allow_host_loopback=true` (and not without it), and a port
//! published with `port_handler=slirp4netns` goes through burrow-slirp's API socket
//! (`add_hostfwd`), which also answers `list_hostfwd` and `remove_hostfwd` like
//! slirp4netns. Traffic stays on the machine: the host side is the test's own loopback
//! servers.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use burrow_tests::binary::burrow_binary;
use burrow_tests::names::free_tcp_port;
use burrow_tests::{Cmd, Podman, Sandbox};

const IMAGE: &str = "localhost/burrow-slirp-busybox:latest";
const PATIENCE: Duration = Duration::from_secs(90);

struct Client<'a> {
    podman: Podman<'a>,
    runtime: PathBuf,
    /// Podman's tmp_dir, where it puts the API socket.
    tmp_dir: ShortDir,
}

/// A directory with a short path, removed on drop: Podman's `tmp_dir` holds the API
/// socket `<64-hex-id>.net`, and under the sandbox's own dir the socket's path would
/// pass the 108 bytes a unix socket address holds (Podman could not connect either).
struct ShortDir(PathBuf);

impl ShortDir {
    fn new(sandbox: &Sandbox) -> ShortDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let path = burrow_tests::fsutil::temp_base().join(format!("bsl{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).expect("create podman's tmp_dir");
        burrow_tests::fsutil::give_to_user(&path, sandbox.user());
        ShortDir(path)
    }
}

impl Drop for ShortDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Client<'_> {
    fn podman(&self, args: &[&str]) -> Cmd {
        self.podman
            .command(["--runtime".as_ref(), self.runtime.as_os_str()])
            .args(args)
            .timeout(PATIENCE)
    }
}

/// Podman with burrow-slirp as its network program and runc as its runtime (the
/// runtime is not what this test is about).
fn client(sandbox: &Sandbox) -> Client<'_> {
    let podman = Podman::new(sandbox);
    let tmp_dir = ShortDir::new(sandbox);
    sandbox.track_pid_file(&tmp_dir.0.join("pause.pid"));
    podman.add_engine_config(&format!(
        "network_cmd_path = \"{}\"\ntmp_dir = \"{}\"",
        burrow_binary().burrow_slirp.display(),
        tmp_dir.0.display()
    ));
    podman.import_busybox(IMAGE);
    let runtime = ["/usr/sbin/runc", "/usr/bin/runc"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("runc is not installed (run .ci/run, which installs it)"));
    Client {
        podman,
        runtime,
        tmp_dir,
    }
}

/// A one-page HTTP server on the host's 127.0.0.1, answering `body` until the test ends.
fn host_http_server(body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the host server");
    let port = listener.local_addr().expect("server address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn podman_reaches_the_host_loopback_through_burrow_slirp_only_when_allowed() {
    let sandbox = Sandbox::new("slirp-lo");
    let client = client(&sandbox);
    let port = host_http_server("hello from the host");
    let url = format!("http://10.0.2.2:{port}/");
    let allowed = client
        .podman(&[
            "--log-level",
            "debug",
            "run",
            "--rm",
            "--network",
            "slirp4netns:allow_host_loopback=true",
            IMAGE,
            "wget",
            "-qO-",
            &url,
        ])
        .run();
    allowed.assert_success();
    assert_eq!(allowed.stdout_trimmed(), "hello from the host", "{allowed}");
    // Podman ran our symlink with slirp4netns's command line.
    let program = burrow_binary().burrow_slirp.display().to_string();
    allowed.assert_stderr_contains(&format!("slirp4netns command: {program} "));
    allowed.assert_stderr_contains("--netns-type=path");

    let refused = client
        .podman(&[
            "run",
            "--rm",
            "--network",
            "slirp4netns",
            IMAGE,
            "wget",
            "-qO-",
            "-T",
            "5",
            &url,
        ])
        .run();
    refused.assert_failure();
    assert!(
        !refused.stdout.contains("hello from the host"),
        "podman's default (--disable-host-loopback) must not reach the host: {refused}"
    );
}

/// One request on the API socket, as Podman sends it; the reply as JSON.
fn api_call(socket: &Path, request: &str) -> serde_json::Value {
    let mut stream = UnixStream::connect(socket)
        .unwrap_or_else(|e| panic!("connect to the API socket {}: {e}", socket.display()));
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("shut down the request side");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read the reply");
    serde_json::from_str(&reply).unwrap_or_else(|e| panic!("reply {reply:?}: {e}"))
}

/// GET `path` from 127.0.0.1:`port`, retrying while the server in the container starts.
fn fetch_from_host(port: u16, path: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let attempt = TcpStream::connect(("127.0.0.1", port)).and_then(|mut stream| {
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            write!(stream, "GET {path} HTTP/1.0\r\n\r\n")?;
            let mut response = String::new();
            stream.read_to_string(&mut response)?;
            Ok(response)
        });
        match attempt {
            Ok(response) if response.starts_with("HTTP/1.") => return response,
            _ if Instant::now() > deadline => panic!("no answer on 127.0.0.1:{port}: {attempt:?}"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[test]
fn podman_publishes_ports_through_burrow_slirps_api_socket() {
    let sandbox = Sandbox::new("slirp-pub");
    let client = client(&sandbox);
    let port = free_tcp_port();
    let publish = format!("127.0.0.1:{port}:8080");
    let name = format!("slirp-web-{}", std::process::id());
    let started = client
        .podman(&[
            "run",
            "-d",
            "--name",
            &name,
            "--hostname",
            "slirp-web",
            "-p",
            &publish,
            "--network",
            "slirp4netns:port_handler=slirp4netns",
            IMAGE,
            "httpd",
            "-f",
            "-p",
            "8080",
            "-h",
            "/etc",
        ])
        .run();
    started.assert_success();
    let id = started.stdout_trimmed().to_string();

    let response = fetch_from_host(port, "/hostname");
    assert!(
        response.trim_end().ends_with("\r\n\r\nslirp-web"),
        "{response}"
    );

    // The API socket Podman used: list and remove like slirp4netns.
    let socket = client.tmp_dir.0.join(format!("{id}.net"));
    let listed = api_call(&socket, r#"{"execute": "list_hostfwd"}"#);
    let entries = listed["return"]["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("list_hostfwd: {listed}"));
    assert_eq!(entries.len(), 1, "{listed}");
    let entry = &entries[0];
    assert_eq!(entry["proto"], "tcp", "{listed}");
    assert_eq!(entry["host_addr"], "127.0.0.1", "{listed}");
    assert_eq!(entry["host_port"], u64::from(port), "{listed}");
    assert_eq!(entry["guest_addr"], "10.0.2.100", "{listed}");
    assert_eq!(entry["guest_port"], 8080, "{listed}");
    let forward_id = entry["id"].clone();
    let removed = api_call(
        &socket,
        &format!(r#"{{"execute": "remove_hostfwd", "arguments": {{"id": {forward_id}}}}}"#),
    );
    assert_eq!(removed, serde_json::json!({"return": {}}));
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the removed forward still listens"
    );
    let unknown = api_call(&socket, r#"{"execute": "frobnicate"}"#);
    assert!(unknown["error"]["desc"].is_string(), "{unknown}");

    // Added again through the API (guest_addr empty, as Podman sends it), and served.
    let added = api_call(
        &socket,
        &format!(
            r#"{{"execute":"add_hostfwd","arguments":{{"proto":"tcp","host_addr":"127.0.0.1","host_port":{port},"guest_addr":"","guest_port":8080}}}}"#
        ),
    );
    assert!(added["return"]["id"].is_u64(), "{added}");
    let response = fetch_from_host(port, "/hostname");
    assert!(
        response.trim_end().ends_with("\r\n\r\nslirp-web"),
        "{response}"
    );

    client
        .podman(&["rm", "-f", "-t", "0", &name])
        .run()
        .assert_success();
    // The exit fd closed with the container: burrow-slirp is gone with its socket.
    let deadline = Instant::now() + PATIENCE;
    while socket.exists() {
        assert!(
            Instant::now() < deadline,
            "burrow-slirp outlived its container"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Everything `stream` gives until its end.
fn read_all(mut stream: UnixStream) -> String {
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text
}

/// `ip ARGS` in the network namespace of `pid` (a process of the test user).
fn ip_in(sandbox: &Sandbox, pid: i32, args: &[&str]) -> String {
    let output = sandbox
        .command("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-U",
            "-n",
            "--preserve-credentials",
            "ip",
        ])
        .args(args)
        .run();
    output.assert_success();
    output.stdout.clone()
}

/// slirp4netns's command line without Podman: `PID TAPNAME` joins the process's user and
/// network namespaces; without `-c` the device is only created, with `-c`, `--cidr` and
/// `--mtu` it gets network+100, the default route via network+2 and the MTU; "1" comes
/// on the ready fd, and closing the exit fd ends burrow-slirp with status 0.
#[test]
fn the_command_line_alone_creates_and_configures_the_device() {
    let sandbox = Sandbox::new("slirp-cli");
    let holder = sandbox
        .command("unshare")
        .args(["-Urn", "sleep", "300"])
        .spawn();
    let pid = holder.pid();
    let deadline = Instant::now() + PATIENCE;
    let own = std::fs::read_link("/proc/self/ns/net").expect("own net namespace");
    while std::fs::read_link(format!("/proc/{pid}/ns/net")).ok() == Some(own.clone()) {
        assert!(
            Instant::now() < deadline,
            "unshare did not make a namespace"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let slirp = burrow_binary().burrow_slirp.clone();

    let plain = sandbox
        .command(&slirp)
        .args([&pid.to_string(), "tap7"])
        .spawn();
    let deadline = Instant::now() + PATIENCE;
    while !ip_in(&sandbox, pid, &["-br", "link"]).contains("tap7") {
        assert!(Instant::now() < deadline, "tap7 was not created");
        std::thread::sleep(Duration::from_millis(20));
    }
    let addresses = ip_in(&sandbox, pid, &["-br", "addr", "show", "tap7"]);
    assert!(
        addresses.contains("DOWN") && !addresses.contains("10.0.2.100"),
        "{addresses}"
    );
    drop(plain);

    // Socket pairs, not pipes: slirp4netns writes to and polls whatever fd it gets.
    let (ready_read, ready_write) = UnixStream::pair().expect("ready socket pair");
    let (exit_read, exit_write) = UnixStream::pair().expect("exit socket pair");
    let configured = sandbox
        .command(&slirp)
        .args([
            "-c",
            "--cidr=192.168.50.0/24",
            "--mtu=9000",
            "-r",
            "3",
            "-e",
            "4",
        ])
        .args([&pid.to_string(), "tap8"])
        .inherit_fd(&ready_write, 3)
        .inherit_fd(&exit_read, 4)
        .spawn();
    drop((ready_write, exit_read));
    assert_eq!(read_all(ready_read), "1", "the ready fd");
    let addresses = ip_in(&sandbox, pid, &["-br", "addr", "show", "tap8"]);
    assert!(addresses.contains("192.168.50.100/24"), "{addresses}");
    let link = ip_in(&sandbox, pid, &["link", "show", "tap8"]);
    assert!(link.contains("mtu 9000"), "{link}");
    let routes = ip_in(&sandbox, pid, &["route"]);
    assert!(
        routes.contains("default via 192.168.50.2 dev tap8"),
        "{routes}"
    );
    drop(exit_write);
    configured.wait().assert_success();

    let unknown = sandbox
        .command(&slirp)
        .args(["--macaddress=02:00:00:00:00:01", &pid.to_string()])
        .run();
    unknown.assert_one_line_error(&["unknown option --macaddress"]);
    drop(holder);
}
