//! Reading merged directories while they change, against the kernel's overlayfs: a
//! name that stays for the whole of an iteration is returned exactly once whatever
//! other names another process adds or removes meanwhile, seekdir to a telldir value
//! resumes at the same name after a change, and a directory of 10,000 names lists
//! whole. POSIX leaves the names added or removed during an iteration unspecified, so
//! the scripts print only what it does specify.

// Shared with fs_overlay.rs; this file does not use every helper.
#[allow(dead_code)]
mod fs_support;

use burrow_tests::Sandbox;
use fs_support::{assert_same_as_kernel, run_with, Scenario, Setup};

/// `keep-NNNN` in two lower layers (one whited out), and names that will go.
const LAYERS: &[&str] = &[
    // top lower
    r#"
    mkdir d; cd d
    seq -w 0 2 1999 | sed 's/^/keep-/' | xargs touch
    seq -w 0 1 299 | sed 's/^/gone-/' | xargs touch
    wh keep-0001
    "#,
    // bottom lower
    r#"
    mkdir d; cd d
    seq -w 0 1 1999 | sed 's/^/keep-/' | xargs touch
    "#,
];

/// Reads `d` with getdents64 and a 1 KiB buffer (each call a new request to the
/// server), and between two calls has a child process add two names and remove two
/// others. Prints how the names that stay were returned.
const CHURN: &str = r#"
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_getdents64 = 217
stay = set(n for n in os.listdir("d") if n.startswith("keep-"))
# names made in the upper layer too, so the directory is merged from three layers
for i in range(500):
    open("d/up-%03d" % i, "w").close()
    stay.add("up-%03d" % i)
orders, done = os.pipe()
acks, ack = os.pipe()
child = os.fork()
if child == 0:
    os.close(done); os.close(acks)
    step = 0
    while os.read(orders, 1) == b"c":
        for j in range(2):
            open("d/new-%d-%d" % (step, j), "w").close()
        for victim in ("gone-%03d" % (2 * step), "new-%d-0" % (step - 3)):
            try:
                os.unlink("d/" + victim)
            except FileNotFoundError:
                pass
        step += 1
        os.write(ack, b"k")
    os._exit(0)
os.close(orders); os.close(ack)
fd = os.open("d", os.O_RDONLY | os.O_DIRECTORY)
buf = ctypes.create_string_buffer(1024)
seen = []
calls = 0
while True:
    got = libc.syscall(SYS_getdents64, fd, buf, len(buf))
    if got < 0:
        sys.exit("getdents64: errno %d" % ctypes.get_errno())
    if got == 0:
        break
    calls += 1
    raw = buf.raw
    pos = 0
    while pos < got:
        reclen = struct.unpack_from("H", raw, pos + 16)[0]
        seen.append(raw[pos + 19:pos + reclen].split(b"\0", 1)[0].decode())
        pos += reclen
    os.write(done, b"c")
    os.read(acks, 1)
os.write(done, b"q")
os.waitpid(child, 0)
# How many calls (and so changes) there were depends on the order of the names:
# the tree compared afterwards keeps only the names that stayed.
for name in os.listdir("d"):
    if name not in stay:
        os.unlink("d/" + name)
count = {}
for n in seen:
    count[n] = count.get(n, 0) + 1
print("names that stay:", len(stay))
print("missing:", sorted(stay - set(seen))[:5], len(stay - set(seen)))
print("returned twice:", sorted(n for n, c in count.items() if c > 1)[:5])
print("many calls:", calls > 50)
"#;

#[test]
fn names_that_stay_are_listed_once_while_another_process_adds_and_removes_names() {
    let sandbox = Sandbox::new("fs-rd-churn");
    let ops = format!("cat > \"$base/churn.py\" <<'PY'\n{CHURN}\nPY\nstep 'python3 ../churn.py'\n");
    let seen = assert_same_as_kernel(
        &sandbox,
        &Scenario {
            name: "churn",
            layers: LAYERS,
            ops: &ops,
        },
    );
    let text = seen.text();
    assert!(text.contains("names that stay: 2499\n"), "{text}");
    assert!(text.contains("missing: [] 0\n"), "{text}");
    assert!(text.contains("returned twice: []\n"), "{text}");
    assert!(text.contains("many calls: True\n"), "{text}");
}

/// telldir in the middle of the listing, names removed (some read before that point,
/// some after) and new names added, then seekdir back: the names read after the telldir that are
/// still there come again, in the same order, and none read before it comes back.
const SEEK: &str = r#"
use strict;
opendir(my $d, "d") or die "opendir: $!";
my @before = map { scalar readdir($d) } 1..700;
my $p = telldir($d);
my @after = map { scalar readdir($d) } 1..300;
# Names chosen by name, not by place, so both overlays end with the same tree:
# some were read before the telldir, some after.
my %gone;
for my $i (0..199) {
    my $name = sprintf("keep-%04d", $i * 10);
    unlink("d/$name") or die "unlink $name: $!";
    $gone{$name} = 1;
}
my %new;
for my $i (0..99) { open(my $f, ">", "d/fresh-$i") or die; $new{"fresh-$i"} = 1; }
seekdir($d, $p);
# The kernel overlay seeks in the snapshot it read (removed names included), burrow
# in the directory as it is now (new names included): both are allowed.
my @again = grep { !$new{$_} && !$gone{$_} } map { scalar readdir($d) } 1..450;
my @kept = grep { !$gone{$_} } @after;
my %early = map { $_ => 1 } grep { !$gone{$_} } @before;
my $prefix = join(",", @again[0 .. $#kept]) eq join(",", @kept);
my $back = grep { $early{$_} } @again;
print $prefix ? "same names after seekdir\n" : "different names after seekdir\n";
print "names from before the telldir again: $back\n";
"#;

#[test]
fn seekdir_to_a_telldir_value_resumes_at_the_same_name_after_a_change() {
    let sandbox = Sandbox::new("fs-rd-seek");
    let ops = format!("cat > \"$base/seek.pl\" <<'PL'\n{SEEK}\nPL\nstep 'perl ../seek.pl'\n");
    let seen = assert_same_as_kernel(
        &sandbox,
        &Scenario {
            name: "seek",
            layers: LAYERS,
            ops: &ops,
        },
    );
    let text = seen.text();
    assert!(text.contains("same names after seekdir\n"), "{text}");
    assert!(
        text.contains("names from before the telldir again: 0\n"),
        "{text}"
    );
}

#[test]
fn a_directory_of_ten_thousand_names_lists_every_name_once() {
    let sandbox = Sandbox::new("fs-rd-10k");
    assert_same_as_kernel(
        &sandbox,
        &Scenario {
            name: "tenk",
            layers: &[
                "mkdir big; cd big; seq 0 2 9999 | sed 's/^/name-with-some-length-/' | xargs touch; for i in $(seq 1 100 9999); do wh name-with-some-length-$i; done",
                "mkdir big; cd big; seq 0 1 9999 | sed 's/^/name-with-some-length-/' | xargs touch; mkdir sub-1 sub-2",
            ],
            ops: r#"
            step 'ls -f big | wc -l; ls -f big | sort | uniq -d | wc -l; ls big | md5sum'
            step 'for i in $(seq 0 99); do : > big/upper-$i; done; rm big/name-with-some-length-0 big/name-with-some-length-3; ls -f big | wc -l; ls -f big | sort | uniq -d | wc -l; ls big | md5sum'
            step 'find big -type f | wc -l; du -a big | wc -l'
            step 'python3 -c "import os; d = os.listdir(\"big\"); print(len(d), len(set(d)))"'
            "#,
        },
    );
}

#[test]
fn a_walk_then_unmount_leaves_the_server_to_exit_cleanly() {
    // Every entry readdirplus returns counts a lookup the kernel later forgets; a
    // walk of many directories followed by an unmount must end the foreground server
    // with status 0 and nothing in its log.
    let sandbox = Sandbox::new("fs-rd-walk");
    let seen = run_with(
        &sandbox,
        &Scenario {
            name: "walk",
            layers: &[
                "for i in $(seq 1 60); do mkdir -p t/d$i/e; for j in $(seq 1 40); do echo $j > t/d$i/f$j; done; : > t/d$i/e/leaf; done",
                "for i in $(seq 1 60); do mkdir -p t/d$i; for j in $(seq 30 70); do echo low > t/d$i/f$j; done; done",
            ],
            ops: r#"
            step 'find t -printf "%i %s %m\n" | wc -l; du -s t >/dev/null; find t -type f | wc -l'
            step 'ls -R t | md5sum; rm -r t/d1 t/d2; find t | wc -l'
            "#,
        },
        "oci",
        &["-Urm"],
        Setup {
            foreground: true,
            ..Setup::default()
        },
    );
    assert!(
        seen.output.success(),
        "the walk or the server's exit failed: {}",
        seen.output
    );
    let text = seen.text();
    assert!(text.contains("\n4381\n4260\n"), "entries walked: {text}");
    let log = std::fs::read_to_string(seen.dir.join("server.log")).unwrap_or_default();
    assert!(log.trim().is_empty(), "the server complained: {log}");
}
