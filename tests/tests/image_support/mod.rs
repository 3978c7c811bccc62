//! Shared pieces of the image tests: a real registry (Debian's `docker-registry`) on a
//! free 127.0.0.1 port with storage in the sandbox, skopeo as the independent client,
//! test images built from the host's static busybox, and a tiny scripted HTTP server
//! for the registry misbehaviour a real registry never shows (wrong bytes, a
//! connection cut mid-blob).
//!
//! The registry runs as the test user through the sandbox, in its own process group;
//! dropping [`Registry`] kills it by pid (and the sandbox kills anything left with its
//! marker), so a failing test leaves no registry behind.

#![allow(dead_code)]

pub mod big;
pub mod cli_env;
pub mod fake;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use burrow_image::digest::Digest;
use burrow_image::manifest::Compression;
use burrow_image::progress::ProgressEvent;
use burrow_image::registry::{Client, Credentials, RegistryOptions};
use burrow_image::testing::{LayerBuilder, TestImage};
use burrow_image::Store;
use burrow_tests::{free_tcp_port, Running, Sandbox};

/// A running `docker-registry`.
pub struct Registry {
    pub host: String,
    process: Option<Running>,
}

impl Registry {
    /// Starts a registry; with `user` set it requires basic auth (htpasswd, bcrypt).
    pub fn start(sandbox: &Sandbox, label: &str, user: Option<(&str, &str)>) -> Registry {
        Registry::start_with(sandbox, label, user, "")
    }

    /// Starts a registry serving HTTPS with `certificate` and `key` (PEM files);
    /// with `client_ca`, it also requires client certificates signed by it.
    pub fn start_tls(
        sandbox: &Sandbox,
        label: &str,
        certificate: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Registry {
        let mut tls = format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            certificate.display(),
            key.display()
        );
        if let Some(ca) = client_ca {
            tls.push_str(&format!("    clientcas:\n      - {}\n", ca.display()));
        }
        Registry::start_with(sandbox, label, None, &tls)
    }

    /// Starts a registry with `http_extra` (YAML lines of the `http:` section).
    fn start_with(
        sandbox: &Sandbox,
        label: &str,
        user: Option<(&str, &str)>,
        http_extra: &str,
    ) -> Registry {
        let dir = sandbox.make_dir(&format!("registry-{label}"));
        let storage = sandbox.make_dir(&format!("registry-{label}/storage"));
        let auth = match user {
            None => String::new(),
            Some((name, password)) => {
                let out = sandbox
                    .command("htpasswd")
                    .args(["-Bbn", name, password])
                    .run();
                out.assert_success();
                let file =
                    sandbox.write_file(&format!("registry-{label}/htpasswd"), out.stdout.trim());
                format!(
                    "auth:\n  htpasswd:\n    realm: burrow-test\n    path: {}\n",
                    file.display()
                )
            }
        };
        for _ in 0..5 {
            let port = free_tcp_port();
            let config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n{http_extra}{auth}",
                storage.display()
            );
            let config_path = sandbox.write_file(&format!("registry-{label}/config.yml"), config);
            let mut process = sandbox
                .command("/usr/bin/docker-registry")
                .arg("serve")
                .arg(&config_path)
                .current_dir(&dir)
                .timeout(Duration::from_secs(3600))
                .spawn();
            sandbox.track_pid(process.pid());
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline && !process.has_exited() {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Registry {
                        host: format!("127.0.0.1:{port}"),
                        process: Some(process),
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // Port taken meanwhile, or a slow start: kill it and try another port.
            drop(process);
        }
        panic!("docker-registry did not start (is the docker-registry package installed?)");
    }

    /// Stops the registry now (the "registry gone" cases).
    pub fn stop(&mut self) {
        self.process.take();
    }

    pub fn reference(&self, name: &str) -> burrow_image::Reference {
        burrow_image::Reference::parse(&format!("{}/{name}", self.host))
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// A store in the sandbox.
pub fn store(sandbox: &Sandbox, label: &str) -> Store {
    let root = sandbox.dir().join(format!("store-{label}"));
    Store::open(&root).unwrap_or_else(|e| panic!("{e}"))
}

/// A registry client that uses only the credential files given (never the user's).
pub fn client(credentials: Option<&Path>) -> Client {
    Client::new(RegistryOptions {
        credentials: Credentials {
            store: credentials.map(Path::to_path_buf),
            docker_config: None,
        },
        attempts: 3,
        ..RegistryOptions::default()
    })
}

/// Records progress events for assertions.
#[derive(Default)]
pub struct Events(Mutex<Vec<ProgressEvent>>);

impl burrow_image::Progress for Events {
    fn event(&self, event: ProgressEvent) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(event);
    }
}

impl Events {
    pub fn count(&self, matches: impl Fn(&ProgressEvent) -> bool) -> usize {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|e| matches(e))
            .count()
    }
}

pub fn busybox() -> Vec<u8> {
    std::fs::read("/bin/busybox")
        .unwrap_or_else(|e| panic!("cannot read /bin/busybox (install busybox-static): {e}"))
}

/// The base layer: busybox with applet links, a hard link, a setuid file, files of
/// non-root owners, a directory to be made opaque and files to be deleted above.
pub fn base_layer() -> Vec<u8> {
    let mut layer = LayerBuilder::new()
        .dir("bin", 0o755)
        .file("bin/busybox", &busybox(), 0o755);
    for applet in ["sh", "ls", "cat", "echo", "id"] {
        layer = layer.symlink(&format!("bin/{applet}"), "busybox");
    }
    layer
        .hardlink("bin/busybox-hard", "bin/busybox")
        .dir("etc", 0o755)
        .file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
        .file("etc/doomed", b"deleted by layer 2\n", 0o644)
        .dir("opt", 0o755)
        .file("opt/hidden-by-opaque", b"old\n", 0o644)
        .dir("usr", 0o755)
        .dir("usr/local", 0o755)
        .file("usr/local/suid", b"#!/bin/sh\n", 0o4755)
        .file_owned("usr/local/owned-1000", b"a\n", 0o640, 1000, 1000)
        .file_owned("usr/local/owned-65534", b"b\n", 0o600, 65534, 65534)
        .dir("tmp", 0o1777)
        .finish()
}

/// The upper layer: deletions, an opaque directory, changed and new files.
pub fn upper_layer() -> Vec<u8> {
    LayerBuilder::new()
        .whiteout("etc/doomed")
        .dir("opt", 0o755)
        .opaque("opt")
        .file("opt/fresh", b"new\n", 0o644)
        .file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/:/bin/sh\n",
            0o644,
        )
        .finish()
}

pub fn top_layer(tag: &str) -> Vec<u8> {
    LayerBuilder::new()
        .dir("etc", 0o755)
        .file("etc/image-tag", tag.as_bytes(), 0o644)
        .symlink("etc/alias", "/bin/busybox")
        .finish()
}

/// The three-layer busybox image: gzip base, zstd (or gzip for Docker types) upper,
/// uncompressed top.
pub fn busybox_image(tag: &str, docker: bool) -> TestImage {
    let middle = if docker {
        Compression::Gzip
    } else {
        Compression::Zstd
    };
    TestImage::new(
        vec![
            (base_layer(), Compression::Gzip),
            (upper_layer(), middle),
            (top_layer(tag), Compression::None),
        ],
        docker,
    )
}

/// Writes `image` as an OCI layout in the sandbox and pushes it with skopeo.
pub fn skopeo_push(sandbox: &Sandbox, image: &TestImage, registry: &Registry, name: &str) {
    let layout = sandbox
        .dir()
        .join(format!("layout-{}", burrow_tests::unique_name("dir")));
    image
        .write_dir_layout(&layout)
        .unwrap_or_else(|e| panic!("dir layout: {e}"));
    burrow_tests::fsutil::give_tree_to_user(&layout, sandbox.user());
    skopeo_copy(
        sandbox,
        &format!("dir:{}", layout.display()),
        registry,
        name,
        &[],
    );
}

pub fn skopeo_copy(
    sandbox: &Sandbox,
    source: &str,
    registry: &Registry,
    name: &str,
    extra: &[&str],
) {
    let out = sandbox
        .command("skopeo")
        .args(["--insecure-policy", "copy", "--quiet", "--preserve-digests"])
        .arg("--dest-tls-verify=false")
        .args(extra)
        .arg(source)
        .arg(format!("docker://{}/{name}", registry.host))
        .timeout(Duration::from_secs(120))
        .run();
    out.assert_success();
}

/// Pushes `images` as one multi-platform OCI index (each entry `linux/ARCH`) to
/// `registry` as `name`, with `skopeo copy --all`; returns the index digest.
pub fn push_index(
    sandbox: &Sandbox,
    registry: &Registry,
    name: &str,
    images: &[(&TestImage, &str)],
) -> Digest {
    let layout = sandbox
        .dir()
        .join(format!("index-{}", burrow_tests::unique_name("dir")));
    for (image, _) in images {
        image
            .write_oci_layout(&layout, "x")
            .unwrap_or_else(|e| panic!("oci layout: {e}"));
    }
    let entries: Vec<serde_json::Value> = images
        .iter()
        .map(|(image, arch)| {
            serde_json::json!({
                "mediaType": image.manifest_media_type,
                "digest": image.manifest_digest().to_string(),
                "size": image.manifest.len(),
                "platform": {"os": "linux", "architecture": arch},
            })
        })
        .collect();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    }))
    .unwrap_or_default();
    let index_digest = Digest::sha256_of(&index);
    write(
        &layout.join("blobs/sha256").join(index_digest.hex()),
        &index,
    );
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": index_digest.to_string(), "size": index.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi"}}]});
    write(&layout.join("index.json"), top.to_string().as_bytes());
    burrow_tests::fsutil::give_tree_to_user(&layout, sandbox.user());
    skopeo_copy(
        sandbox,
        &format!("oci:{}:multi", layout.display()),
        registry,
        name,
        &["--all"],
    );
    index_digest
}

/// `skopeo inspect --raw` of a registry image: the manifest bytes as served.
pub fn skopeo_raw_manifest(sandbox: &Sandbox, registry: &Registry, name: &str) -> Vec<u8> {
    let out = sandbox
        .command("skopeo")
        .args([
            "--insecure-policy",
            "inspect",
            "--raw",
            "--tls-verify=false",
        ])
        .arg(format!("docker://{}/{name}", registry.host))
        .timeout(Duration::from_secs(60))
        .run();
    out.assert_success();
    out.stdout.into_bytes()
}

/// Asserts every blob of `image` is in `store` with the same bytes.
pub fn assert_has_blobs(store: &Store, image: &TestImage) {
    for (digest, bytes) in image.blobs() {
        let stored = store
            .read_blob(&digest)
            .unwrap_or_else(|e| panic!("blob {digest}: {e}"));
        assert!(
            stored == bytes,
            "blob {digest} differs from what was pushed"
        );
        store.verify_blob(&digest).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The unpacked layer folders of an image record, bottom first.
pub fn layer_dirs(store: &Store, layers: &[Digest]) -> Vec<PathBuf> {
    layers.iter().map(|chain| store.layer_path(chain)).collect()
}

/// Reads a whole file or panics with its path.
pub fn read(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
}

/// What the store holds, to compare before and after a failed operation.
pub fn snapshot(store: &Store) -> (usize, Vec<Digest>, Vec<Digest>, Vec<String>) {
    let images = store.images().unwrap_or_else(|e| panic!("{e}")).len();
    let blobs = store.blobs().unwrap_or_else(|e| panic!("{e}"));
    let layers = store.layers().unwrap_or_else(|e| panic!("{e}"));
    let temps = store.temp_entries().unwrap_or_else(|e| panic!("{e}"));
    (images, blobs, layers, temps)
}

/// Writes `bytes` to a new file in the sandbox (for `write!` users).
pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(bytes))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
