//! A real distribution in burrow containers: Debian bookworm (debootstrap minbase, made
//! by `tests/fixtures/debian-rootfs.sh`; `.ci/run` builds it once and points
//! `BURROW_TEST_DEBIAN_TAR` at it). Package managers, users, owners and tar work on
//! burrow's FUSE overlay as they do on a real system, and a container's changes commit
//! into an image. Without `BURROW_TEST_DEBIAN_TAR` the tests say they are skipped.

use std::time::Duration;

use burrow_tests::engine::Engine;
use burrow_tests::unique_name;

/// Imports the Debian tarball as `debian`; false (and a line saying so) when there is none.
fn import_debian(e: &Engine) -> bool {
    let Some(tar) = std::env::var_os("BURROW_TEST_DEBIAN_TAR") else {
        eprintln!("skipped: BURROW_TEST_DEBIAN_TAR is not set (.ci/run builds it)");
        return false;
    };
    e.burrow(["import"])
        .arg(&tar)
        .arg("debian")
        .timeout(Duration::from_secs(300))
        .run()
        .assert_success();
    true
}

const BUILD_AND_INSTALL_PACKAGE: &str = r#"
mkdir -p /tmp/pkg/DEBIAN /tmp/pkg/usr/local/bin /tmp/pkg/var/lib/burrow-hello
printf 'Package: burrow-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: burrow <burrow@localhost>\nDescription: test package\n' > /tmp/pkg/DEBIAN/control
printf '#!/bin/sh\nchown 33:33 /var/lib/burrow-hello\n' > /tmp/pkg/DEBIAN/postinst
printf '#!/bin/sh\necho hello from a package\n' > /tmp/pkg/usr/local/bin/burrow-hello
chmod 0755 /tmp/pkg/DEBIAN/postinst /tmp/pkg/usr/local/bin/burrow-hello
dpkg-deb --build --root-owner-group /tmp/pkg /tmp/burrow-hello.deb >/dev/null
apt-get install -y -q /tmp/burrow-hello.deb >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
burrow-hello
dpkg-query -W -f='${Package} ${Version} ${Status}\n' burrow-hello
stat -c '%U:%G' /var/lib/burrow-hello
"#;

#[test]
fn apt_installs_a_package_and_commit_keeps_it() {
    let e = Engine::new("debian-apt");
    if !import_debian(&e) {
        return;
    }
    let name = unique_name("deb");
    let out = e
        .burrow(["run", "--name", &name, "debian", "sh", "-ec"])
        .arg(BUILD_AND_INSTALL_PACKAGE)
        .timeout(Duration::from_secs(120))
        .run();
    out.assert_success();
    assert_eq!(
        out.stdout_lines(),
        [
            "hello from a package",
            "burrow-hello 1.0 install ok installed",
            "www-data:www-data",
        ],
        "{out}"
    );
    e.burrow(["commit", &name, "debian-hello"])
        .run()
        .assert_success();
    let out = e
        .burrow(["run", "--rm", "debian-hello", "sh", "-ec"])
        .arg("burrow-hello; dpkg -r burrow-hello >/dev/null; dpkg-query -W burrow-hello 2>/dev/null || echo unknown to dpkg; test ! -e /usr/local/bin/burrow-hello && echo removed")
        .timeout(Duration::from_secs(60))
        .run();
    out.assert_success();
    assert_eq!(
        out.stdout_lines(),
        ["hello from a package", "unknown to dpkg", "removed"],
        "{out}"
    );
    e.burrow(["rm", &name]).run().assert_success();
}

#[test]
fn debian_owners_users_and_tar_behave_as_on_a_real_system() {
    let e = Engine::new("debian-users");
    if !import_debian(&e) {
        return;
    }
    let script = r#"
stat -c '%U:%G %a' /etc/shadow
useradd --create-home --uid 1234 alice
runuser -u alice -- sh -c 'id -un; touch ~/mine; stat -c "%U %u" ~/mine'
runuser -u alice -- cat /etc/shadow 2>/dev/null || echo 'shadow unreadable for alice'
mkdir /tmp/copy
tar -C /usr/lib -cf - x86_64-linux-gnu/perl-base | tar -C /tmp/copy -xpf -
diff -r /usr/lib/x86_64-linux-gnu/perl-base /tmp/copy/x86_64-linux-gnu/perl-base && echo tar round trip
perl -e 'print "perl ", $^V ge v5.30 ? "ok" : "old", "\n"'
"#;
    let out = e
        .burrow(["run", "--rm", "debian", "sh", "-ec", script])
        .timeout(Duration::from_secs(120))
        .run();
    out.assert_success();
    assert_eq!(
        out.stdout_lines(),
        [
            "root:shadow 640",
            "alice",
            "alice 1234",
            "shadow unreadable for alice",
            "tar round trip",
            "perl ok",
        ],
        "{out}"
    );
}
