//! The overlay's semantics, scenario by scenario, against the kernel's overlayfs in a
//! user namespace: same lowers, same operations, same observations (see `fs_support`).
//! Checks that only burrow can pass (the upper dir in OCI form, owners the disk cannot
//! hold, hard links kept through copy-up) follow the comparison in the same test.

mod fs_support;

use burrow_tests::Sandbox;
use fs_support::{assert_same_as_kernel, run, run_in, Scenario};

const BASE_LAYERS: &[&str] = &[
    // top lower
    r#"
    mkdir -p etc var/cache usr/bin opaque
    echo top > etc/a
    wh etc/b
    echo new > opaque/fresh
    opq opaque
    ln -s ../etc/a usr/bin/link-to-a
    "#,
    // bottom lower
    r#"
    mkdir -p etc var/cache/apt usr/bin opaque/old dir/sub
    echo bottom > etc/a
    echo hidden > etc/b
    echo c > etc/c
    echo stale > opaque/old/file
    echo deb > var/cache/apt/pkg
    printf '#!/bin/sh\necho hi\n' > usr/bin/tool && chmod 4755 usr/bin/tool
    echo deep > dir/sub/f
    echo one > dir/hard1 && ln dir/hard1 dir/hard2
    ln -s /etc/passwd dir/host-link
    "#,
];

#[test]
fn lookup_whiteouts_and_opaque_dirs_match_the_kernel() {
    let sandbox = Sandbox::new("fs-lookup");
    assert_same_as_kernel(
        &sandbox,
        &Scenario {
            name: "lookup",
            layers: BASE_LAYERS,
            ops: r#"
            step 'cat etc/a'
            step 'cat etc/b'
            step 'ls opaque'
            step 'readlink dir/host-link'
            step 'ls -a etc'
            "#,
        },
    );
}

#[test]
fn copy_up_on_every_kind_of_change_matches_the_kernel() {
    let sandbox = Sandbox::new("fs-copyup");
    let seen = assert_same_as_kernel(
        &sandbox,
        &Scenario {
            name: "copyup",
            layers: BASE_LAYERS,
            ops: r#"
            step 'echo more >> etc/a; cat etc/a'
            step 'truncate -s 2 etc/c; cat etc/c'
            step 'chmod 600 var/cache/apt/pkg'
            step 'touch -d 2001-01-01 dir/sub/f; stat -c %Y dir/sub/f'
            step 'before=$(stat -c %Y usr/bin/tool); chmod 4750 usr/bin/tool; test $(stat -c %Y usr/bin/tool) = $before && echo mtime-kept'
            step 'python3 -c "import os; os.setxattr(\"etc/c\", \"user.note\", b\"hi\"); print(os.getxattr(\"etc/c\", \"user.note\"))"'
            step 'i=$(stat -c %i dir/sub/f); echo x >> dir/sub/f; test $(stat -c %i dir/sub/f) = $i && echo ino-same'
            step 'dd if=/dev/zero of=usr/bin/tool bs=1 count=0 seek=3 2>/dev/null; stat -c %s usr/bin/tool'
            "#,
        },
    );
    // The upper dir holds real copies with their metadata, in OCI form.
    let upper = seen.dir.join("u");
    assert_eq!(
        std::fs::read_to_string(upper.join("etc/a")).unwrap(),
        "top\nmore\n"
    );
    assert!(upper.join("dir/sub/f").is_file());
    assert!(!upper.join("etc/b").exists());
}

#[test]
fn creating_and_removing_entries_matches_the_kernel() {
    let sandbox = Sandbox::new("fs-create");
    let seen = assert_same_as_kernel(
        &sandbox,
        &Scenario {
            name: "create",
            layers: BASE_LAYERS,
            ops: r#"
            step 'echo hello > new-file; mkdir -p new/deeper; ln -s new-file sym; ln new-file hard'
            step 'mkfifo fifo; python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind(\"sock\")"'
            step 'rm etc/c; ls etc'
            step 'rm -r dir/sub; ls dir'
            step 'rmdir var/cache'
            step 'rm -r var/cache; mkdir var/cache; ls -a var/cache'
            step 'rm etc/a; echo again > etc/a; cat etc/a'
            step 'rmdir opaque/old'
            step 'rm -r opaque; mkdir opaque; ls -a opaque'
            step 'touch etc/a/x'
            step 'mkdir etc'
            step 'ln dir hard-dir'
            step 'rm -rf usr; ls'
            "#,
        },
    );
    // OCI layer-diff form in the upper dir.
    let upper = seen.dir.join("u");
    assert!(
        upper.join("etc/.wh.c").is_file(),
        "whiteout for a lower file"
    );
    assert!(upper.join(".wh.usr").is_file(), "whiteout for a lower dir");
    assert!(
        upper.join("var/cache/.wh..wh..opq").is_file(),
        "a directory recreated over a lower one is opaque"
    );
}

#[test]
fn renames_across_layers_match_the_kernel() {
    let sandbox = Sandbox::new("fs-rename");
    assert_same_as_kernel(
        &sandbox,
        &Scenario {
            name: "rename",
            layers: BASE_LAYERS,
            ops: r#"
            step 'mv etc/c etc/c2 && cat etc/c2'
            step 'mv etc/a var/a && ls etc var'
            step 'mv dir dir2 && ls -R dir2'
            step 'mv var/cache opaque/cache && ls -R opaque'
            step 'mkdir empty; mv empty usr/bin && ls usr'
            step 'echo x > f1; echo y > f2; mv f1 f2; cat f2'
            step 'mkdir d1 d2; touch d2/x; mv d1 d2'
            step 'mv opaque usr/bin/tool'
            "#,
        },
    );
}

#[test]
fn rename_noreplace_and_exchange_match_the_kernel() {
    let sandbox = Sandbox::new("fs-rename2");
    let renameat2 = r#"
cat > /tmp/r2.py <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
flags = {"noreplace": 1, "exchange": 2}[sys.argv[1]]
r = libc.renameat2(-100, sys.argv[2].encode(), -100, sys.argv[3].encode(), flags)
print("ok" if r == 0 else os.strerror(ctypes.get_errno()))
PY
"#;
    let ops = format!(
        "{renameat2}\n{}",
        r#"
            step 'python3 /tmp/r2.py noreplace etc/a etc/c'
            step 'python3 /tmp/r2.py noreplace etc/a etc/a2; cat etc/a2'
            step 'python3 /tmp/r2.py exchange etc/a2 etc/c; cat etc/a2 etc/c'
            step 'mkdir -p x/one y/two; python3 /tmp/r2.py exchange x y; ls x y'
            step 'python3 /tmp/r2.py exchange etc/nothing etc/c'
            step 'python3 /tmp/r2.py noreplace etc/b etc/x'
            "#
    );
    assert_same_as_kernel(
        &sandbox,
        &Scenario {
            name: "rename2",
            layers: BASE_LAYERS,
            ops: &ops,
        },
    );
}

#[test]
fn big_merged_directories_list_every_entry_once_with_stable_offsets() {
    let sandbox = Sandbox::new("fs-bigdir");
    assert_same_as_kernel(
        &sandbox,
        &Scenario {
            name: "bigdir",
            layers: &[
                "mkdir big; cd big; seq 0 2 3999 | sed 's/^/f/' | xargs touch; for i in $(seq 1 50 3999); do wh f$i; done",
                "mkdir big; cd big; seq 0 1 3999 | sed 's/^/f/' | xargs touch",
            ],
            ops: r#"
            step 'ls big | wc -l; ls big | sort | md5sum'
            step 'python3 -c "
import os
fd = os.open(\"big\", os.O_RDONLY)
d = os.listdir(\"big\")
print(len(d), len(set(d)))
"'
            step 'perl -e "opendir(D, q{big}); for (1..100) { readdir(D) } \$p = telldir(D); @a = map { scalar readdir(D) } 1..5; seekdir(D, \$p); @b = map { scalar readdir(D) } 1..5; print join(q{,}, @a) eq join(q{,}, @b) ? qq{seek-stable\n} : qq{seek-broken\n}"'
            step 'rm big/f1 big/f3; touch big/new; ls big | wc -l'
            "#,
        },
    );
}

#[test]
fn programs_work_on_the_overlay_like_on_the_kernel_one() {
    let sandbox = Sandbox::new("fs-workload");
    assert_same_as_kernel(
        &sandbox,
        &Scenario {
            name: "workload",
            layers: BASE_LAYERS,
            ops: r#"
            step 'tar -cf /tmp/etc.tar -C / etc/ssl 2>/dev/null; mkdir untar && tar -xf /tmp/etc.tar -C untar && find untar | wc -l'
            step 'cp -a dir dir-copy && ls -la dir-copy | wc -l'
            step 'rm -rf var dir-copy untar && ls'
            step 'mkdir repo && cd repo && git init -q && git config user.email t@t && git config user.name t && echo a > a && git add a && git commit -qm first && echo b >> a && git commit -qam second && git log --format=%s && git fsck --no-progress 2>&1 | grep -v "^Checking" | head -3'
            step 'rm -rf repo'
            step 'dd if=/dev/urandom of=rand bs=64k count=40 2>/dev/null && sha256sum < rand > sum && cp rand rand2 && sha256sum < rand2 | cmp - sum && echo copy-ok'
            step 'rm rand rand2 sum'
            "#,
        },
    );
}

#[test]
fn open_files_stay_usable_after_unlink_like_on_the_kernel_one() {
    // dpkg-deb, databases and editors open a temporary file, unlink it and go on using
    // the descriptor: fstat, write, truncate, chmod, utime and close must all work.
    let sandbox = Sandbox::new("fs-unlinked");
    let script = |path: &str| {
        format!(
            r#"step 'python3 -c "
import os
fd = os.open(\"{path}\", os.O_RDWR | os.O_CREAT, 0o644)
os.unlink(\"{path}\")
os.write(fd, b\"hello unlinked\")
os.fsync(fd)
print(os.fstat(fd).st_size, os.fstat(fd).st_nlink)
os.ftruncate(fd, 5)
os.fchmod(fd, 0o600)
os.utime(fd, (1000000000, 1000000000))
st = os.fstat(fd)
print(st.st_size, oct(st.st_mode & 0o777), st.st_mtime)
print(os.pread(fd, 100, 0))
os.close(fd)
print(os.path.exists(\"{path}\"))
"'
"#
        )
    };
    let ops = format!("{}{}", script("tmpfile"), script("etc/c"));
    assert_same_as_kernel(
        &sandbox,
        &Scenario {
            name: "unlinked",
            layers: BASE_LAYERS,
            ops: &ops,
        },
    );
}

#[test]
fn owners_recorded_in_layers_are_shown_kept_and_updated() {
    // An unpacked layer whose owners the disk could not hold carries them in
    // user.containers.override_stat; the overlay shows them, keeps them through
    // copy-up, updates them on chmod/chown and hides the record. burrow-only (the
    // kernel overlay does not read the record). Runs in a user namespace with the
    // test user's subordinate ids mapped (`--map-auto`), so ids like 1000 exist.
    let sandbox = Sandbox::new("fs-owner");
    let seen = run_in(
        &sandbox,
        &Scenario {
            name: "owner",
            layers: &[r#"
            echo x > file; mkdir dir
            python3 -c "import os; os.setxattr('file', 'user.containers.override_stat', b'1000:1001:4750'); os.setxattr('dir', 'user.containers.override_stat', b'7:8:0700')"
            "#],
            ops: r#"
            step 'stat -c %u:%g:%a file dir'
            step 'python3 -c "import os; print(sorted(os.listxattr(\"file\")))"'
            step 'chmod 640 file && stat -c %u:%g:%a file'
            step 'chown 5:6 dir && stat -c %u:%g:%a dir'
            step 'python3 -c "import os; os.setxattr(\"file\", \"user.containers.override_stat\", b\"0:0:0777\")"'
            "#,
        },
        "oci",
        &["--map-auto", "--map-root-user", "--mount"],
    );
    seen.output.assert_success();
    let text = seen.text();
    for expected in [
        "1000:1001:4750\n7:8:700",
        "[]",
        "1000:1001:640",
        "5:6:700",
        "Operation not permitted",
    ] {
        assert!(
            text.contains(expected),
            "missing {expected:?}: {}",
            seen.output
        );
    }
    // The upper copy carries the updated record.
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import os,sys; print(os.getxattr(sys.argv[1], 'user.containers.override_stat').decode())")
        .arg(seen.dir.join("u/file"))
        .output()
        .expect("python3");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1000:1001:0640"
    );
}

#[test]
fn directories_from_lower_layers_can_be_exchanged() {
    // The kernel without redirect_dir answers EXDEV here (and fuse-overlayfs always);
    // burrow moves them. burrow-only.
    let sandbox = Sandbox::new("fs-exchange");
    let seen = run(
        &sandbox,
        &Scenario {
            name: "exchange",
            layers: BASE_LAYERS,
            ops: r#"
            step 'python3 -c "
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print(libc.renameat2(-100, b\"dir\", -100, b\"var/cache\", 2), ctypes.get_errno())
"'
            step 'ls dir var/cache; cat var/cache/sub/f; stat -c %h var/cache/hard1'
            "#,
        },
        "oci",
    );
    seen.output.assert_success();
    let text = seen.text();
    assert!(text.contains("0 0\n"), "renameat2 failed: {}", seen.output);
    assert!(text.contains("apt\n"), "{}", seen.output);
    assert!(text.contains("deep\n2\n"), "{}", seen.output);
}

#[test]
fn hard_links_stay_one_file_after_copy_up() {
    // The kernel without index=on breaks a lower hard link on copy-up; burrow keeps
    // both names on one node for the life of the mount. burrow-only.
    let sandbox = Sandbox::new("fs-hardlink");
    let seen = run(
        &sandbox,
        &Scenario {
            name: "hardlink",
            layers: BASE_LAYERS,
            ops: r#"
            step 'test $(stat -c %i dir/hard1) = $(stat -c %i dir/hard2) && echo same-ino'
            step 'echo two >> dir/hard1; cat dir/hard2'
            step 'test $(stat -c %i dir/hard1) = $(stat -c %i dir/hard2) && echo still-same'
            "#,
        },
        "oci",
    );
    seen.output.assert_success();
    let text = seen.text();
    assert!(text.contains("same-ino"), "{}", seen.output);
    assert!(text.contains("one\ntwo"), "{}", seen.output);
    assert!(text.contains("still-same"), "{}", seen.output);
}

#[test]
fn sparse_files_stay_sparse_through_copy_up() {
    let sandbox = Sandbox::new("fs-sparse");
    let seen = run(
        &sandbox,
        &Scenario {
            name: "sparse",
            layers: &["truncate -s 1G sparse; printf data | dd of=sparse bs=1 seek=4096 conv=notrunc 2>/dev/null"],
            ops: r#"
            step 'echo tail >> sparse; stat -c %s sparse'
            step 'python3 -c "
import os
fd = os.open(\"sparse\", os.O_RDONLY)
print(os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 4096, os.SEEK_HOLE) < 1 << 30)
"'
            "#,
        },
        "oci",
    );
    seen.output.assert_success();
    assert!(seen.text().contains("1073741829"), "{}", seen.output);
    assert!(
        seen.text().contains("0 True") || seen.text().contains("4096 True"),
        "{}",
        seen.output
    );
    let upper = std::fs::metadata(seen.dir.join("u/sparse")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert!(
        upper.blocks() * 512 < 16 << 20,
        "copy-up filled the holes: {} blocks",
        upper.blocks()
    );
}

#[test]
fn rm_rf_of_lower_trees_leaves_exactly_the_whiteouts_needed() {
    // Whiteouts are hard links to one shared empty file, directories listed from the
    // kernel's cache, a ctime-only setattr after an unlink copies nothing up: the
    // merged view must still match the kernel's, and the upper dir stay in OCI form.
    let layers: &[&str] = &[
        r#"
        mkdir -p tree/a tree/mixed
        for i in 1 2 3 4 5; do echo top$i > tree/a/t$i; done
        echo keep > tree/mixed/keep
        "#,
        r#"
        mkdir -p tree/a/deep tree/b tree/mixed
        for i in 1 2 3 4 5; do echo low$i > tree/a/l$i; echo b$i > tree/b/f$i; done
        echo d > tree/a/deep/f
        echo gone > tree/mixed/gone
        echo one > hard1 && ln hard1 hard2
        "#,
    ];
    let sandbox = Sandbox::new("fs-rm-rf");
    let seen = assert_same_as_kernel(
        &sandbox,
        &Scenario {
            name: "rm-rf",
            layers,
            ops: r#"
            step 'ls -R tree | wc -l; ls tree/a'
            step 'rm -rf tree/a tree/b; ls -a tree'
            step 'rm tree/mixed/gone; ls -a tree/mixed'
            step 'rm hard1; cat hard2; ls'
            step 'rm -rf tree; ls -a; test ! -e tree && echo no-tree'
            step 'mkdir tree; ls -a tree'
            "#,
        },
    );
    let upper = seen.dir.join("u");
    let names = |dir: &str| -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(upper.join(dir))
            .unwrap_or_else(|e| panic!("cannot list upper {dir}: {e}"))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        out.sort();
        out
    };
    // The recreated tree hides every lower entry with one marker; nothing of the old
    // tree's whiteouts is left in it.
    assert_eq!(names("tree"), [".wh..wh..opq"]);
    // hard2 was neither copied up nor touched by the unlink of hard1.
    assert_eq!(
        names("").iter().filter(|n| n.starts_with("hard")).count(),
        0
    );
    assert!(upper.join(".wh.hard1").is_file(), "whiteout for hard1");
    let whiteout = std::fs::metadata(upper.join(".wh.hard1")).unwrap();
    assert_eq!(whiteout.len(), 0, "whiteouts are empty files");
    // ...all links to the shared one in the work dir, not an inode each.
    use std::os::unix::fs::MetadataExt;
    assert!(whiteout.nlink() >= 2, "whiteout is not the shared file");
}
