//! The overlay's semantics, scenario by scenario, against the kernel's overlayfs in a
//! user namespace: same lowers, same operations, same observations (see `fs_support`).
//! Checks that only burrow can pass (the upper dir in OCI form, owners the disk cannot
//! hold, hard links kept through copy-up) follow the comparison in the same test.

mod fs_support;

use burrow_tests::Sandbox;
use fs_support::{
    assert_same_as_kernel, assert_same_as_kernel_in, run, run_in, run_with, Scenario, Setup,
};

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
fn setuid_and_setgid_bits_are_dropped_like_the_kernel_drops_them() {
    // chown drops setuid (and setgid with group execute); so do writes, truncates
    // and opens with O_TRUNC, in a user namespace even root's (the kernel asks for
    // CAP_FSETID in the initial namespace). Lower files (copied up by the change) and
    // upper ones; subordinate ids mapped so uid 1000 exists.
    let sandbox = Sandbox::new("fs-suid");
    let as_user = "setpriv --reuid=1000 --regid=1000 --clear-groups";
    let ops = format!(
        r#"
        for f in c1 c2 c3 c4 w1 w2 t1 t2 o1; do cp -p $f new-$f; done
        for p in "" new-; do
          step "chown 0:0 ${{p}}c1 ${{p}}c2 ${{p}}c3 && stat -c '%n %a' ${{p}}c1 ${{p}}c2 ${{p}}c3"
          step "chown 1000:1000 ${{p}}c4 && stat -c '%n %u %a' ${{p}}c4"
          step "echo root >> ${{p}}w1 && stat -c '%n %a' ${{p}}w1"
          step "{as_user} sh -c 'echo user >> ${{p}}w2' && stat -c '%n %a' ${{p}}w2"
          step "truncate -s 1 ${{p}}t1 && {as_user} truncate -s 2 ${{p}}t2 && stat -c '%n %a %s' ${{p}}t1 ${{p}}t2"
          step "{as_user} sh -c ': > ${{p}}o1' && stat -c '%n %a %s' ${{p}}o1"
        done
        "#
    );
    assert_same_as_kernel_in(
        &sandbox,
        &Scenario {
            name: "suid",
            layers: &[r#"
            for f in c1 c2 c3 c4 w1 w2 t1 t2 o1; do echo data > $f; done
            chmod 4755 c1; chmod 2755 c2; chmod 2745 c3; chmod 6755 c4
            chmod 6777 w1 w2 t1 t2 o1
            "#],
            ops: &ops,
        },
        &["--map-auto", "--map-root-user", "--mount"],
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

/// File operations programs rely on, each on a file from a lower layer (so it
/// goes through copy-up): shared writable mmap, O_APPEND, O_TRUNC, O_EXCL,
/// fallocate, flock and POSIX locks between processes, fsync of a directory,
/// statfs, and file capabilities.
const FILE_OPS_PY: &str = r#"
import errno, fcntl, mmap, os, subprocess, sys
op, path = sys.argv[1], sys.argv[2]
if op == "mmap":
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    m[0:1] = b"C"
    m.flush(); m.close(); os.close(fd)
    print(open(path).read().strip())
elif op == "append":
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, b"appended\n"); os.close(fd)
    print(open(path).read().strip().replace("\n", "|"))
elif op == "trunc":
    os.close(os.open(path, os.O_WRONLY | os.O_TRUNC))
    print(os.stat(path).st_size)
elif op == "excl":
    try:
        os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        print("created")
    except OSError as e:
        print(errno.errorcode[e.errno])
elif op == "fallocate":
    fd = os.open(path, os.O_RDWR)
    os.posix_fallocate(fd, 0, 1 << 20); os.close(fd)
    st = os.stat(path)
    print(st.st_size, st.st_blocks * 512 >= 1 << 20, open(path).read(4).strip())
elif op in ("flock", "lockf"):
    fd = os.open(path, os.O_RDWR)
    take = (lambda f, how: fcntl.flock(f, how)) if op == "flock" else (lambda f, how: fcntl.lockf(f, how))
    take(fd, fcntl.LOCK_EX)
    probe = "import fcntl,os,sys\nfd=os.open(sys.argv[2],os.O_RDWR)\ntry:\n (fcntl.flock if sys.argv[1]=='flock' else fcntl.lockf)(fd, fcntl.LOCK_EX|fcntl.LOCK_NB); print('got')\nexcept OSError as e: print('busy')\n"
    print(subprocess.run([sys.executable, "-c", probe, op, path], capture_output=True, text=True).stdout.strip())
    take(fd, fcntl.LOCK_UN)
    print(subprocess.run([sys.executable, "-c", probe, op, path], capture_output=True, text=True).stdout.strip())
elif op == "fsyncdir":
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd); os.close(fd); print("synced")
elif op == "statfs":
    st = os.statvfs(path)
    print(st.f_namemax, st.f_bsize > 0, st.f_blocks > 0, st.f_bavail <= st.f_blocks)
elif op == "fcaps":
    # VFS_CAP_REVISION_2, effective, permitted CAP_NET_BIND_SERVICE (bit 10).
    caps = (0x02000001).to_bytes(4, "little") + (1 << 10).to_bytes(4, "little") + bytes(12)
    os.setxattr(path, "security.capability", caps)
    back = os.getxattr(path, "security.capability")
    print(back[:8].hex(), len(back))
"#;

#[test]
fn file_operations_programs_rely_on_match_the_kernel() {
    let sandbox = Sandbox::new("fs-fileops");
    let ops = format!(
        r#"
        cat > "$base/ops.py" <<'PYEOF'
{FILE_OPS_PY}
PYEOF
        step "python3 ../ops.py mmap etc/c"
        step "python3 ../ops.py append var/cache/apt/pkg"
        step "python3 ../ops.py trunc etc/a"
        step "python3 ../ops.py excl dir/sub/f"
        step "python3 ../ops.py excl dir/sub/new"
        step "python3 ../ops.py fallocate dir/sub/f"
        step "python3 ../ops.py flock opaque/fresh"
        step "python3 ../ops.py lockf var/cache/apt/pkg"
        step "python3 ../ops.py fsyncdir dir/sub"
        step "python3 ../ops.py statfs ."
        step "python3 ../ops.py fcaps usr/bin/tool; stat -c %a usr/bin/tool"
        "#
    );
    assert_same_as_kernel(
        &sandbox,
        &Scenario {
            name: "fileops",
            layers: BASE_LAYERS,
            ops: &ops,
        },
    );
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

// ---- bad input -----------------------------------------------------------------

#[test]
fn names_over_name_max_fail_with_enametoolong_like_the_kernel() {
    let sandbox = Sandbox::new("fs-name-max");
    let seen = assert_same_as_kernel(
        &sandbox,
        &Scenario {
            name: "name-max",
            layers: BASE_LAYERS,
            ops: r#"
            long=$(printf 'n%.0s' $(seq 256))
            fits=$(printf 'k%.0s' $(seq 255))
            step "touch $long"
            step "mkdir $long"
            step "mknod $long p"
            step "ln -s etc/a $long"
            step "ln etc/c $long"
            step "mv etc/c $long"
            step "mv dir $long"
            step "stat -c %n etc/$long"
            step "cat etc/$long"
            step "touch $fits && ls | grep -c '^k'"
            step "mv $fits etc/$fits && ls etc | grep -c '^k'"
            step 'ls etc'
            "#,
        },
    );
    assert!(
        seen.text().contains("File name too long"),
        "no ENAMETOOLONG seen: {}",
        seen.text()
    );
}

#[test]
fn a_full_upper_gives_enospc_and_leaves_no_partial_copy_up() {
    // The upper and work dirs live on a 1 MiB tmpfs mounted inside the test's own
    // namespace; the lower holds a 3 MB file whose copy-up cannot fit.
    let layers: &[&str] = &[r#"
        head -c 3000000 /dev/urandom > big
        echo small > small
        mkdir -p "$base/small"
        mount -t tmpfs -o size=1m tmpfs "$base/small"
        mkdir "$base/small/u" "$base/small/w"
        ln -s small/u "$base/u"
        ln -s small/w "$base/w"
        "#];
    let sandbox = Sandbox::new("fs-enospc");
    let seen = run(
        &sandbox,
        &Scenario {
            name: "enospc",
            layers,
            ops: r#"
            step 'head -c 2000000 /dev/zero > fill'
            step 'rm -f fill && echo removed'
            step 'echo more >> big'
            if cmp -s big "$base/l0/big"; then echo big-intact; else echo big-changed; fi
            echo "leftovers: $(ls -A "$base/u" | grep -c burrow)"
            step 'echo fits > new && cat new'
            step 'cat small'
            "#,
        },
        "oci",
    );
    let text = seen.text();
    assert!(seen.output.success(), "scenario failed: {}", seen.output);
    assert!(
        text.matches("No space left on device").count() >= 2,
        "ENOSPC not reported for both the write and the copy-up: {text}"
    );
    assert!(
        text.contains("big-intact"),
        "a failed copy-up changed big: {text}"
    );
    assert!(
        text.contains("leftovers: 0"),
        "temp files in the upper: {text}"
    );
    assert!(
        text.contains("fits\nrc=0"),
        "no write after space was freed: {text}"
    );
    assert!(
        text.contains("small\nrc=0"),
        "the server did not survive: {text}"
    );
}

#[test]
fn a_write_over_quota_gives_edquot_like_the_kernel_and_leaves_no_partial_copy_up() {
    // The upper and work dirs live on a tmpfs with a 1 MiB quota per user, one per
    // overlay (the two runs must not share a quota); the lower holds a 3 MB file whose
    // copy-up cannot fit. The namespace's root is the test user, so the quota bites.
    let sandbox = Sandbox::new("fs-edquot");
    let mut seen = Vec::new();
    for form in ["kernel", "oci"] {
        let Some(quota) = burrow_tests::small_fs::SmallFs::mount_with_user_quota(
            &sandbox,
            &format!("quota-{form}"),
            64,
            1024,
        ) else {
            return;
        };
        let layer = format!(
            r#"
            yes burrow | head -c 3000000 > big
            echo small > small
            mkdir "{q}/u" "{q}/w"
            ln -s "{q}/u" "$base/u"
            ln -s "{q}/w" "$base/w"
            "#,
            q = quota.path().display()
        );
        let layers = [layer.as_str()];
        let scenario = Scenario {
            name: "edquot",
            layers: &layers,
            ops: r#"
            step 'head -c 2000000 /dev/zero > fill'
            step 'rm -f fill && echo removed'
            step 'echo more >> big'
            if cmp -s big "$base/l0/big"; then echo big-intact; else echo big-changed; fi
            echo "upper: $(ls -A "$base/u" | tr '\n' ' ')"
            step 'echo fits > new && cat new'
            step 'cat small'
            "#,
        };
        let run = run(&sandbox, &scenario, form);
        assert!(
            run.output.success(),
            "{form} failed the scenario: {}",
            run.output
        );
        seen.push((form, run.text().to_string()));
        drop(quota);
    }
    for (form, text) in &seen {
        // burrow's copy-up fails at open, straight from the upper: EDQUOT. Its
        // writes go through the kernel's FUSE writeback cache, which keeps a
        // failed writeback's error only as ENOSPC or EIO (`mapping_set_error`)
        // and reports it at close; the server answers a quota that runs out there
        // with ENOSPC, the nearest of the two.
        let quota = text.matches("Disk quota exceeded").count();
        let writeback = text.matches("No space left on device").count();
        let (edquot, wanted) = match *form {
            "kernel" => (
                quota >= 2 && writeback == 0,
                "EDQUOT for the write and the copy-up",
            ),
            _ => (
                quota >= 1 && quota + writeback >= 2,
                "EDQUOT for the copy-up and EDQUOT or the writeback's ENOSPC for the write",
            ),
        };
        assert!(edquot, "{form}: {wanted}: {text}");
        assert!(
            text.contains("big-intact"),
            "{form}: a failed copy-up changed big: {text}"
        );
        assert!(
            text.contains("fits\nrc=0"),
            "{form}: no write after the quota was freed: {text}"
        );
        assert!(
            text.contains("small\nrc=0"),
            "{form}: the overlay did not survive: {text}"
        );
    }
    // The same error at the same steps, the same exit codes, the same upper (only
    // `new`: no partial big, no temporary file) and the same merged tree. The wording
    // of a tool's message may differ (an error at write or at close), the errno not.
    let (kernel, burrow) = (quota_summary(&seen[0].1), quota_summary(&seen[1].1));
    assert_eq!(
        kernel,
        burrow,
        "burrow differs from the kernel overlay:\n{}",
        fs_support::diff(&kernel, &burrow)
    );
}

/// A scenario's output with each step's messages reduced to whether they name EDQUOT.
fn quota_summary(text: &str) -> String {
    let mut out = String::new();
    let mut in_step = false;
    for line in text.lines() {
        if line.starts_with("$ ") {
            in_step = true;
        } else if line.starts_with("rc=") {
            in_step = false;
        } else if in_step {
            // See above: the write's EDQUOT arrives as ENOSPC through FUSE writeback.
            if line.contains("Disk quota exceeded") || line.contains("No space left on device") {
                out.push_str("EDQUOT\n");
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn unreadable_lower_files_give_eacces_like_the_kernel_and_the_server_survives() {
    let sandbox = Sandbox::new("fs-eacces");
    if !sandbox.user().drop_privileges {
        eprintln!("needs root to make a lower file the namespace cannot read; not run");
        return;
    }
    // Files of a user outside the namespace (the test's root), not readable by others:
    // the namespace's root (and so the server) has no right to read them.
    let prepare = |dir: &std::path::Path| {
        let l0 = dir.join("l0");
        burrow_tests::fsutil::make_dir(&l0, 0o755, sandbox.user());
        std::fs::write(l0.join("secret"), "top secret\n").unwrap();
        burrow_tests::fsutil::set_mode(&l0.join("secret"), 0o600);
        std::fs::create_dir(l0.join("private")).unwrap();
        std::fs::write(l0.join("private/inner"), "inner\n").unwrap();
        burrow_tests::fsutil::set_mode(&l0.join("private"), 0o700);
    };
    let scenario = Scenario {
        name: "eacces",
        layers: &["echo open > readable"],
        ops: r#"
        step 'cat secret'
        step 'ls private'
        step 'cat private/inner'
        step 'echo more >> secret'
        step 'cat readable'
        step 'echo new > made && cat made'
        "#,
    };
    let setup = |form| {
        run_with(
            &sandbox,
            &scenario,
            form,
            &["-Urm"],
            Setup {
                prepare: Some(&prepare),
                ..Setup::default()
            },
        )
    };
    let kernel = setup("kernel");
    assert!(kernel.output.success(), "kernel: {}", kernel.output);
    let burrow = setup("oci");
    assert!(burrow.output.success(), "burrow: {}", burrow.output);
    assert_eq!(
        kernel.text(),
        burrow.text(),
        "burrow differs from the kernel:\n{}",
        fs_support::diff(kernel.text(), burrow.text())
    );
    assert!(
        burrow.text().contains("Permission denied"),
        "no EACCES: {}",
        burrow.text()
    );
}

#[test]
fn corrupt_ownership_records_are_ignored_with_a_warning() {
    let layers: &[&str] = &[r#"
        set_record() {
          python3 -c 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())' "$@"
        }
        for f in garbage short bigmode hugeid empty kind fo; do echo $f > $f; chmod 640 $f; done
        mkdir dir && chmod 750 dir
        set_record garbage user.containers.override_stat 'not a record'
        set_record short user.containers.override_stat '1:2'
        set_record bigmode user.containers.override_stat '0:0:177777'
        set_record hugeid user.containers.override_stat '99999999999:0:0644'
        set_record empty user.containers.override_stat ''
        set_record kind user.containers.override_stat '0:0:0644:char-x-y'
        set_record fo user.fuseoverlayfs.override_stat '::'
        set_record dir user.containers.override_stat '-1:0:0755'
        "#];
    let sandbox = Sandbox::new("fs-bad-xattr");
    let seen = run_with(
        &sandbox,
        &Scenario {
            name: "bad-xattr",
            layers,
            ops: r#"
            step 'stat -c "%n %u:%g %a %F" garbage short bigmode hugeid empty kind fo dir'
            step 'cat garbage kind fo'
            step 'chmod 600 garbage && chown 0:0 short && stat -c "%n %u:%g %a" garbage short'
            step 'echo more >> bigmode && cat bigmode'
            step 'ls dir && touch dir/new && ls dir'
            echo "warnings: $(grep -c 'override_stat' "$base/server.log")"
            "#,
        },
        "oci",
        &["-Urm"],
        Setup {
            foreground: true,
            ..Setup::default()
        },
    );
    let text = seen.text();
    assert!(seen.output.success(), "scenario failed: {}", seen.output);
    for name in ["garbage", "short", "hugeid", "empty", "kind", "fo"] {
        assert!(
            text.contains(&format!("{name} 0:0 640 regular file")),
            "{name}: the corrupt record was not ignored: {text}"
        );
    }
    assert!(text.contains("dir 0:0 750 directory"), "dir: {text}");
    assert!(
        text.contains("garbage 0:0 600"),
        "chmod after a bad record: {text}"
    );
    assert!(text.contains("bigmode\nmore\nrc=0"), "copy-up: {text}");
    assert!(text.contains("new\nrc=0"), "dir with a bad record: {text}");
    assert!(!text.contains("panicked"), "the server panicked: {text}");
    assert!(!text.contains("warnings: 0"), "no warning logged: {text}");
}

#[test]
fn a_lower_symlink_to_etc_passwd_resolves_inside_the_merged_root() {
    // A program chrooted into the merged tree (as a container is) follows the link to
    // the image's /etc/passwd; changing the link itself copies up the link, never the
    // file it names.
    let layers: &[&str] = &[r#"
        mkdir -p etc bin dir/sub
        echo 'container:x:0:0::/:/bin/sh' > etc/passwd
        cp /usr/bin/busybox bin/busybox
        ln -s /etc/passwd host-link
        ln -s ../../../../../../etc/passwd dir/sub/up-link
        "#];
    let sandbox = Sandbox::new("fs-passwd-link");
    let seen = assert_same_as_kernel(
        &sandbox,
        &Scenario {
            name: "passwd-link",
            layers,
            ops: r#"
            step 'chroot . /bin/busybox cat /host-link'
            step 'chroot . /bin/busybox cat /dir/sub/up-link'
            step 'chroot . /bin/busybox sh -c "echo added >> /host-link"'
            step 'cat etc/passwd; readlink host-link'
            step 'chown -h 0:0 host-link && touch -h host-link && readlink host-link'
            step 'cat host-link | grep -c container'
            "#,
        },
    );
    assert!(
        seen.text().contains("container:x:0:0::/:/bin/sh\nadded"),
        "the link was not resolved inside the merged root: {}",
        seen.text()
    );
    let upper = seen.dir.join("u");
    let link = std::fs::read_link(upper.join("host-link"))
        .unwrap_or_else(|e| panic!("host-link not copied up as a link: {e}"));
    assert_eq!(link, std::path::Path::new("/etc/passwd"));
    let passwd = std::fs::read_to_string(upper.join("etc/passwd")).unwrap();
    assert_eq!(passwd, "container:x:0:0::/:/bin/sh\nadded\n");
}

#[test]
fn killing_the_server_mid_writes_leaves_an_upper_a_new_mount_serves_whole() {
    // Writes, renames over existing names, copy-ups of lower files and renames of a
    // lower directory run in a loop while the server is killed with SIGKILL. A new
    // server on the same upper must show every name either as it was or as it became,
    // never half copied up, and no temporary name.
    let layers: &[&str] = &[r#"
        for i in 1 2 3 4 5 6 7 8; do head -c 300000 /dev/urandom > big$i; done
        mkdir tree && for i in 1 2 3; do echo leaf$i > tree/f$i; done
        "#];
    let sandbox = Sandbox::new("fs-crash");
    let seen = run_with(
        &sandbox,
        &Scenario {
            name: "crash",
            layers,
            ops: r#"
            (
              i=0
              while [ $i -lt 100000 ]; do
                i=$((i+1))
                printf 'data%s\n' $i > f$i.tmp && mv f$i.tmp f$((i % 20)) || exit 0
                [ $i -le 8 ] && echo appended >> big$i
                if [ -d tree ]; then mv tree tree2; else mv tree2 tree; fi
              done
            ) 2>/dev/null &
            writer=$!
            tries=0
            until [ -e f19 ] || [ $tries -gt 1200 ]; do tries=$((tries+1)); sleep 0.05; done
            kill -9 "$server"
            wait "$server"
            kill "$writer" 2>/dev/null; wait "$writer"
            cd "$base"
            umount m || umount -l m
            mount_burrow || echo remount-failed
            cd m
            for f in f*; do
              case "$f" in
                *.tmp) continue ;;
              esac
              n=$(cat "$f")
              case "$n" in
                data*) [ $(( ${n#data} % 20 )) = "${f#f}" ] || echo "BAD $f holds $n" ;;
                *) echo "BAD $f holds '$n'" ;;
              esac
            done
            for i in 1 2 3 4 5 6 7 8; do
              if cmp -s big$i "$base/l0/big$i"; then :
              elif head -c 300000 big$i | cmp -s - "$base/l0/big$i" \
                   && [ "$(tail -c 9 big$i)" = appended ]; then :
              else echo "BAD big$i is half copied up"; fi
            done
            echo "trees: $(ls -d tree tree2 2>/dev/null | wc -l) $(cat tree*/f1 tree*/f2 tree*/f3 | tr '\n' ' ')"
            echo "temp names: $(ls -A | grep -c '#burrow')"
            echo "files: $(ls f* | wc -l)"
            "#,
        },
        "oci",
        &["-Urm"],
        Setup {
            foreground: true,
            ..Setup::default()
        },
    );
    let text = seen.text();
    assert!(seen.output.success(), "scenario failed: {}", seen.output);
    assert!(!text.contains("remount-failed"), "no new mount: {text}");
    assert!(
        !text.contains("BAD"),
        "inconsistent after the crash: {text}"
    );
    assert!(
        text.contains("trees: 1 leaf1 leaf2 leaf3"),
        "the renamed directory: {text}"
    );
    assert!(text.contains("temp names: 0"), "{text}");
    assert!(!text.contains("files: 0"), "nothing was written: {text}");
}
