//! A profile shaped like Docker's default: a deny-by-default list of several hundred
//! allowed names, applied to every ABI of the host, plus the conditional rules Docker
//! has for `personality`, `clone`, `clone3` and `socket`. Generated from the syscall
//! tables instead of vendored; what matters is its size and shape.

use std::collections::{BTreeSet, HashSet};

use serde_json::{json, Value};

use super::{build, errno, verdict, verdict_nr, ALLOW};
use crate::seccomp::arch::{Abi, Host};
use crate::seccomp::bpf::JUMP_ALWAYS;

/// Calls Docker's default profile leaves out of its allow list besides those it
/// blocks outright ([`crate::seccomp::DOCKER_BLOCKED`]): privileged, or with
/// conditional rules below.
const NOT_ALLOWED: &[&str] = &[
    "clone",
    "clone3",
    "personality",
    "setdomainname",
    "sethostname",
    "socket",
    "syslog",
    "vhangup",
];

fn denied(name: &str) -> bool {
    crate::seccomp::DOCKER_BLOCKED.contains(&name) || NOT_ALLOWED.contains(&name)
}

/// Every name of the x86, x86_64, arm and aarch64 tables (plus the ARM-private calls
/// Docker lists) that is not denied, as Docker lists names for all its arches at once.
pub(crate) fn allowed_names() -> BTreeSet<String> {
    let names = syscalls::x86_64::Sysno::iter()
        .map(|sysno| sysno.name())
        .chain(syscalls::x86::Sysno::iter().map(|sysno| sysno.name()))
        .chain(syscalls::aarch64::Sysno::iter().map(|sysno| sysno.name()))
        .chain(syscalls::arm::Sysno::iter().map(|sysno| sysno.name()))
        .chain(["breakpoint", "cacheflush", "set_tls"]);
    names
        .filter(|name| !denied(name))
        .map(str::to_string)
        .collect()
}

/// Linux `personality` values Docker allows, `clone` flags it refuses (namespaces).
const PERSONALITIES: [u64; 5] = [0, 8, 0x20000, 0x20008, 0xffff_ffff];
const CLONE_NAMESPACE_FLAGS: u64 = 0x7e02_0000;
const AF_VSOCK: u64 = 40;

/// The profile as JSON text, the way it sits in a bundle's config.json.
pub(crate) fn docker_like_json(architectures: &[&str]) -> String {
    let mut syscalls = vec![json!({"names": allowed_names(), "action": "SCMP_ACT_ALLOW"})];
    syscalls.extend(PERSONALITIES.iter().map(|persona| {
        json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 0, "value": persona, "op": "SCMP_CMP_EQ"}]})
    }));
    syscalls.push(json!({
        "names": ["clone"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0,
                  "op": "SCMP_CMP_MASKED_EQ"}]
    }));
    syscalls.push(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}));
    syscalls.push(json!({
        "names": ["socket"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": AF_VSOCK, "op": "SCMP_CMP_NE"}]
    }));
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": architectures,
        "syscalls": syscalls
    })
    .to_string()
}

fn docker_like(architectures: &[&str]) -> Value {
    serde_json::from_str(&docker_like_json(architectures)).expect("generated JSON parses")
}

const CONDITIONAL: [&str; 4] = ["personality", "clone", "clone3", "socket"];

/// Every allowed number is allowed, every other number in the table's range gets the
/// default EPERM, and the conditional rules behave like Docker's.
fn check_abi(program: &crate::seccomp::SeccompProgram, abi: Abi) {
    let allowed: HashSet<u32> = allowed_names()
        .iter()
        .filter_map(|name| abi.syscall_number(name))
        .collect();
    let conditional: HashSet<u32> = CONDITIONAL
        .iter()
        .filter_map(|name| abi.syscall_number(name))
        .collect();
    let base = abi.syscall_number("read").unwrap_or(0) & !0x3ff;
    let range = (base..base + 1024).chain(allowed.iter().copied());
    for nr in range.filter(|nr| !conditional.contains(nr)) {
        let expected = if allowed.contains(&nr) {
            ALLOW
        } else {
            errno(1)
        };
        let got = verdict_nr(program, abi.audit_arch(), nr, [0; 6]);
        assert_eq!(got, expected, "{abi:?} syscall {nr:#x}");
    }

    let call = |name, arg0| verdict(program, abi, name, [arg0, 0, 0, 0, 0, 0]);
    for persona in PERSONALITIES {
        assert_eq!(
            call("personality", persona),
            ALLOW,
            "{abi:?} personality {persona:#x}"
        );
    }
    assert_eq!(call("personality", 9), errno(1));
    let full_width = matches!(abi, Abi::X86_64 | Abi::Aarch64);
    let wide_persona = if full_width { errno(1) } else { ALLOW };
    assert_eq!(call("personality", 0x1_0000_0008), wide_persona);
    assert_eq!(call("clone", 0x11), ALLOW);
    assert_eq!(call("clone", 0x11 | 0x2000_0000), errno(1), "CLONE_NEWPID");
    assert_eq!(call("socket", 2), ALLOW);
    assert_eq!(call("socket", AF_VSOCK), errno(1));
    if abi.syscall_number("clone3").is_some() {
        assert_eq!(call("clone3", 0), errno(38));
    }
}

#[test]
fn docker_like_profile_on_x86_64() {
    let names = allowed_names().len();
    assert!(names > 400, "only {names} names");
    let architectures = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];
    let program = build(Host::X86_64, docker_like(&architectures));
    // Three tables of ~400 syscalls sharing a `ret` per run: ~1,130 instructions.
    assert!(program.len() < 1400, "{} instructions", program.len());
    // The x86 and x32 sections are more than 255 instructions away from the dispatch,
    // so the long-jump path is exercised (and verified by the checks below).
    assert!(program.instructions.iter().any(|i| i.code == JUMP_ALWAYS));
    for abi in [Abi::X86_64, Abi::X86, Abi::X32] {
        check_abi(&program, abi);
    }
}

#[test]
fn docker_like_profile_on_aarch64() {
    let architectures = ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"];
    let program = build(Host::Aarch64, docker_like(&architectures));
    assert!(program.len() < 900, "{} instructions", program.len());
    for abi in [Abi::Aarch64, Abi::Arm] {
        check_abi(&program, abi);
    }
    assert_eq!(verdict(&program, Abi::Arm, "set_tls", [0; 6]), ALLOW);
}
