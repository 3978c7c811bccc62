//! HTTPS registries end to end, as the unprivileged test user: Debian's
//! `docker-registry` serving TLS with a certificate from a CA made here with
//! `openssl`, trusted per registry through a `certs.d` directory (Podman's
//! `~/.config/containers/certs.d/HOST:PORT/ca.crt`, Docker's
//! `~/.docker/certs.d/HOST:PORT/` with `client.cert`/`client.key`). A wrong CA
//! is refused, the right one verifies, `--tls-verify=false` skips the check,
//! and a registry that asks for client certificates gets the one in `certs.d`.
//!
//! Each test gives burrow its own HOME and XDG_CONFIG_HOME in the sandbox, so
//! the machine user's configuration is never read.

mod image_support;

use std::path::{Path, PathBuf};

use burrow_tests::Cmd;
use image_support::cli_env::Env;
use image_support::Registry;

/// TLS material made with `openssl` in the sandbox, and `certs.d` entries.
trait Certificates {
    fn openssl(&self, args: &[&str]);
    fn make_ca(&self, name: &str) -> PathBuf;
    fn make_certificate(&self, ca: &str, name: &str, extension: &str) -> (PathBuf, PathBuf);
    fn certs_d(&self, certs_d: &str, host: &str, files: &[(&str, &Path)]);
    /// `burrow --root STORE ARGS…`, a store per label.
    fn burrow_in<I, S>(&self, store: &str, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>;
}

impl Certificates for Env {
    fn openssl(&self, args: &[&str]) {
        self.sandbox
            .command("openssl")
            .args(args)
            .current_dir(self.sandbox.dir())
            .run()
            .assert_success();
    }

    /// A CA: `NAME.key` and `NAME.crt` in the sandbox.
    fn make_ca(&self, name: &str) -> PathBuf {
        let (key, crt) = (format!("{name}.key"), format!("{name}.crt"));
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &crt,
            "-days",
            "2",
            "-subj",
            &format!("/CN=burrow test {name}"),
        ]);
        self.sandbox.dir().join(crt)
    }

    /// A certificate for 127.0.0.1 (server) or a client, signed by CA `ca`:
    /// `NAME.key` and `NAME.crt`.
    fn make_certificate(&self, ca: &str, name: &str, extension: &str) -> (PathBuf, PathBuf) {
        let (key, csr, crt) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
        );
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={name}"),
        ]);
        let extfile = self
            .sandbox
            .write_file(&format!("{name}.ext"), format!("{extension}\n"));
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &extfile.display().to_string(),
        ]);
        let dir = self.sandbox.dir();
        (dir.join(crt), dir.join(key))
    }

    /// Puts `files` (name → source) in `home/CERTS_D/HOST/`, replacing what was there.
    fn certs_d(&self, certs_d: &str, host: &str, files: &[(&str, &Path)]) {
        let relative = format!("home/{certs_d}/{host}");
        let _ = std::fs::remove_dir_all(self.sandbox.dir().join(&relative));
        self.sandbox.make_dir(&relative);
        for (name, source) in files {
            let bytes =
                std::fs::read(source).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
            self.sandbox
                .write_file(&format!("{relative}/{name}"), bytes);
        }
    }

    fn burrow_in<I, S>(&self, store: &str, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.burrow_at(&self.store(store), args)
    }
}

const PODMAN_CERTS: &str = "config/containers/certs.d";
const DOCKER_CERTS: &str = ".docker/certs.d";

#[test]
fn an_https_registry_is_verified_with_the_ca_its_certs_d_directory_holds() {
    let env = Env::new("reg-tls");
    let ca = env.make_ca("ca");
    let wrong_ca = env.make_ca("wrong-ca");
    let (cert, key) = env.make_certificate("ca", "server", "subjectAltName=IP:127.0.0.1");
    let registry = Registry::start_tls(&env.sandbox, "tls", &cert, &key, None);
    let host = registry.host.as_str();
    let remote = format!("{host}/tls/busybox:v1");

    // Loopback with nothing configured: HTTPS without checks, as before.
    env.burrow_in("src", ["import"])
        .arg(env.sandbox.busybox_rootfs_tar())
        .arg(&remote)
        .run()
        .assert_success();
    env.burrow_in("src", ["push", "-q", &remote])
        .run()
        .assert_success();
    let id = env.image_id(&env.store("src"), &remote);

    // A CA that did not sign the registry's certificate: refused, nothing stored.
    env.certs_d(PODMAN_CERTS, host, &[("ca.crt", &wrong_ca)]);
    env.burrow_in("wrong", ["pull", "-q", &remote])
        .run()
        .assert_one_line_error(&[host, "certificate"])
        .assert_code(1);
    assert_eq!(env.image_count(&env.store("wrong")), 0);
    // --tls-verify=false skips the check.
    env.burrow_in("unchecked", ["pull", "-q", "--tls-verify=false", &remote])
        .run()
        .assert_success();
    assert_eq!(env.image_id(&env.store("unchecked"), &remote), id);

    // The CA that signed it: verified, pulled.
    env.certs_d(PODMAN_CERTS, host, &[("ca.crt", &ca)]);
    env.burrow_in("right", ["pull", "-q", &remote])
        .run()
        .assert_success();
    assert_eq!(env.image_id(&env.store("right"), &remote), id);

    // A certificate file that is not one: one line naming it.
    let junk = env.sandbox.write_file("junk.crt", "not a certificate\n");
    env.certs_d(PODMAN_CERTS, host, &[("ca.crt", &junk)]);
    env.burrow_in("junk", ["pull", "-q", &remote])
        .run()
        .assert_one_line_error(&["ca.crt"]);
}

#[test]
fn a_registry_that_wants_client_certificates_gets_the_one_in_certs_d() {
    let env = Env::new("reg-mtls");
    let ca = env.make_ca("ca");
    let (cert, key) = env.make_certificate("ca", "server", "subjectAltName=IP:127.0.0.1");
    let (client_cert, client_key) =
        env.make_certificate("ca", "client", "extendedKeyUsage=clientAuth");
    let registry = Registry::start_tls(&env.sandbox, "mtls", &cert, &key, Some(&ca));
    let host = registry.host.as_str();
    let remote = format!("{host}/mtls/busybox:v1");
    env.burrow_in("src", ["import"])
        .arg(env.sandbox.busybox_rootfs_tar())
        .arg(&remote)
        .run()
        .assert_success();

    // The CA alone: the registry refuses the handshake.
    env.certs_d(DOCKER_CERTS, host, &[("ca.crt", &ca)]);
    env.burrow_in("src", ["push", "-q", &remote])
        .run()
        .assert_one_line_error(&[host]);
    // A certificate without its key: one line naming the missing key.
    env.certs_d(
        DOCKER_CERTS,
        host,
        &[("ca.crt", &ca), ("client.cert", &client_cert)],
    );
    env.burrow_in("src", ["push", "-q", &remote])
        .run()
        .assert_one_line_error(&["client.key"]);
    // With it: push and pull go through.
    env.certs_d(
        DOCKER_CERTS,
        host,
        &[
            ("ca.crt", &ca),
            ("client.cert", &client_cert),
            ("client.key", &client_key),
        ],
    );
    env.burrow_in("src", ["push", "-q", &remote])
        .run()
        .assert_success();
    env.burrow_in("pulled", ["pull", "-q", &remote])
        .run()
        .assert_success();
    assert_eq!(
        env.image_id(&env.store("pulled"), &remote),
        env.image_id(&env.store("src"), &remote)
    );
}
