//! What generated programs return, checked in the interpreter.

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompOperator};
use serde_json::json;

use super::{build, errno, profile, verdict, verdict_nr, ALLOW, KILL_PROCESS};
use crate::seccomp::arch::{Abi, Host, X32_SYSCALL_BIT};
use crate::seccomp::compile::compile_for;
use crate::seccomp::{compile, SeccompError};

const NO_ARGS: [u64; 6] = [0; 6];

/// Every instruction as a comparable tuple.
fn code(program: &crate::seccomp::SeccompProgram) -> Vec<(u16, u8, u8, u32)> {
    program
        .instructions
        .iter()
        .map(|i| (i.code, i.jt, i.jf, i.k))
        .collect()
}

#[test]
fn default_action_applies_to_unlisted_syscalls() {
    let program = build(Host::X86_64, json!({"defaultAction": "SCMP_ACT_ERRNO"}));
    assert_eq!(verdict(&program, Abi::X86_64, "read", NO_ARGS), errno(1));
    assert_eq!(
        verdict_nr(&program, Abi::X86_64.audit_arch(), 4000, NO_ARGS),
        errno(1)
    );

    let program = build(
        Host::X86_64,
        json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}),
    );
    assert_eq!(verdict(&program, Abi::X86_64, "read", NO_ARGS), errno(38));

    let program = build(Host::Aarch64, json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    assert_eq!(verdict(&program, Abi::Aarch64, "read", NO_ARGS), ALLOW);
}

#[test]
fn actions_and_their_data() {
    let program = build(
        Host::X86_64,
        json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 99,
            "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["chdir"], "action": "SCMP_ACT_TRACE"},
                {"names": ["fchdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 5},
                {"names": ["kill"], "action": "SCMP_ACT_KILL"},
                {"names": ["tkill"], "action": "SCMP_ACT_KILL_THREAD"},
                {"names": ["tgkill"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["rename"], "action": "SCMP_ACT_TRAP"},
                {"names": ["read"], "action": "SCMP_ACT_LOG", "errnoRet": 3},
                {"names": ["write"], "action": "SCMP_ACT_ALLOW"},
            ]
        }),
    );
    let expected = [
        ("mkdir", errno(1)),
        ("getcwd", errno(38)),
        ("chdir", 0x7ff0_0001),
        ("fchdir", 0x7ff0_0005),
        ("kill", 0),
        ("tkill", 0),
        ("tgkill", KILL_PROCESS),
        ("rename", 0x0003_0000),
        ("read", 0x7ffc_0000),
        ("write", ALLOW),
        ("close", errno(99)),
    ];
    for (name, action) in expected {
        assert_eq!(
            verdict(&program, Abi::X86_64, name, NO_ARGS),
            action,
            "{name}"
        );
    }
}

const OPERATORS: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

/// Values around the 32-bit boundary, so that high and low words disagree in every way.
const VALUES: [u64; 13] = [
    0,
    1,
    5,
    6,
    0x7fff_ffff,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0005,
    0x1_0000_0006,
    0x2_0000_0004,
    0xffff_ffff_0000_0000,
    0x8000_0000_0000_0005,
    u64::MAX,
];

/// What the operator means, straight from the runtime spec (libseccomp semantics).
fn reference(op: LinuxSeccompOperator, arg: u64, value: u64, value_two: u64) -> bool {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => arg != value,
        LinuxSeccompOperator::ScmpCmpLt => arg < value,
        LinuxSeccompOperator::ScmpCmpLe => arg <= value,
        LinuxSeccompOperator::ScmpCmpEq => arg == value,
        LinuxSeccompOperator::ScmpCmpGe => arg >= value,
        LinuxSeccompOperator::ScmpCmpGt => arg > value,
        LinuxSeccompOperator::ScmpCmpMaskedEq => arg & value == value_two,
    }
}

/// Every operator × value × argument against `reference`, on one ABI. On 32-bit ABIs
/// only the low words take part.
fn check_operators(host: Host, abi: Abi, architectures: &[&str]) {
    let matched = errno(7);
    let full_width = matches!(abi, Abi::X86_64 | Abi::Aarch64);
    let low = |value: u64| {
        if full_width {
            value
        } else {
            value & 0xffff_ffff
        }
    };
    for op_name in OPERATORS {
        let op: LinuxSeccompOperator = op_name.parse().expect("operator");
        for value in VALUES {
            let value_twos = [0, 5, value & 0x1_0000_0005, value];
            for value_two in value_twos {
                let program = build(
                    host,
                    json!({
                        "defaultAction": "SCMP_ACT_ALLOW",
                        "architectures": architectures,
                        "syscalls": [{
                            "names": ["getcwd"],
                            "action": "SCMP_ACT_ERRNO",
                            "errnoRet": 7,
                            "args": [{
                                "index": 2, "value": value, "valueTwo": value_two, "op": op_name
                            }]
                        }]
                    }),
                );
                for arg in VALUES {
                    // Noise in the other arguments must not matter.
                    let args = [u64::MAX, 0, arg, 1, 0x1_0000_0000, 6];
                    let expected = reference(op, low(arg), low(value), low(value_two));
                    let got = verdict(&program, abi, "getcwd", args) == matched;
                    assert_eq!(
                        got, expected,
                        "{abi:?}: {arg:#x} {op_name} {value:#x} (valueTwo {value_two:#x})"
                    );
                }
            }
        }
    }
}

#[test]
fn operators_on_x86_64() {
    check_operators(Host::X86_64, Abi::X86_64, &[]);
}

#[test]
fn operators_on_aarch64() {
    check_operators(Host::Aarch64, Abi::Aarch64, &[]);
}

#[test]
fn operators_on_32bit_abis_compare_the_low_word() {
    check_operators(Host::X86_64, Abi::X86, &["SCMP_ARCH_X86"]);
    check_operators(Host::X86_64, Abi::X32, &["SCMP_ARCH_X32"]);
    check_operators(Host::Aarch64, Abi::Arm, &["SCMP_ARCH_ARM"]);
}

#[test]
fn conditions_on_different_arguments_are_anded() {
    let program = build(
        Host::X86_64,
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{
                "names": ["openat"],
                "action": "SCMP_ACT_ERRNO",
                "args": [
                    {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                    {"index": 2, "value": 10, "op": "SCMP_CMP_GT"}
                ]
            }]
        }),
    );
    let openat = |a0, a2| verdict(&program, Abi::X86_64, "openat", [a0, 0, a2, 0, 0, 0]);
    assert_eq!(openat(1, 11), errno(1));
    assert_eq!(openat(1, 10), ALLOW);
    assert_eq!(openat(2, 11), ALLOW);
}

#[test]
fn conditions_repeating_an_argument_are_ored_like_runc() {
    let program = build(
        Host::X86_64,
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{
                "names": ["personality"],
                "action": "SCMP_ACT_ERRNO",
                "args": [
                    {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                    {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}
                ]
            }]
        }),
    );
    let personality = |a0| verdict(&program, Abi::X86_64, "personality", [a0, 0, 0, 0, 0, 0]);
    assert_eq!(personality(1), errno(1));
    assert_eq!(personality(2), errno(1));
    assert_eq!(personality(3), ALLOW);
}

#[test]
fn first_matching_rule_wins() {
    let program = build(
        Host::X86_64,
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                 "args": [{"index": 1, "value": 0x5401, "op": "SCMP_CMP_EQ"}]},
                {"names": ["read", "ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2,
                 "args": [{"index": 1, "value": 0x5400, "op": "SCMP_CMP_GE"}]},
                {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3},
                {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4,
                 "args": [{"index": 1, "value": 7, "op": "SCMP_CMP_EQ"}]}
            ]
        }),
    );
    let ioctl = |request| verdict(&program, Abi::X86_64, "ioctl", [3, request, 0, 0, 0, 0]);
    assert_eq!(ioctl(0x5401), errno(1));
    assert_eq!(ioctl(0x5402), errno(2));
    // Rule 3 is unconditional, so rule 4 is never reached.
    assert_eq!(ioctl(7), errno(3));
    assert_eq!(
        verdict(&program, Abi::X86_64, "read", [0, 0x5400, 0, 0, 0, 0]),
        errno(2)
    );
    assert_eq!(
        verdict(&program, Abi::X86_64, "read", [0, 1, 0, 0, 0, 0]),
        ALLOW
    );
}

#[test]
fn rules_returning_the_default_action_are_dropped_like_runc() {
    // runc skips the first rule (same action as the default), so personality(8)
    // reaches the unconditional ALLOW.
    let program = build(
        Host::X86_64,
        json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2,
                 "args": [{"index": 0, "value": 9, "op": "SCMP_CMP_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW"}
            ]
        }),
    );
    let personality = |a0| verdict(&program, Abi::X86_64, "personality", [a0, 0, 0, 0, 0, 0]);
    assert_eq!(personality(8), ALLOW);
    // A different errno is a different action and is kept.
    assert_eq!(personality(9), errno(2));
}

#[test]
fn architectures_decide_the_sections() {
    let rules = json!([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 17}]);
    let native_only = build(
        Host::X86_64,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}),
    );
    // An i386 syscall without SCMP_ARCH_X86 kills the process, as does an aarch64 one.
    assert_eq!(
        verdict(&native_only, Abi::X86, "mkdir", NO_ARGS),
        KILL_PROCESS
    );
    assert_eq!(
        verdict(&native_only, Abi::Aarch64, "getcwd", NO_ARGS),
        KILL_PROCESS
    );
    assert_eq!(
        verdict(&native_only, Abi::X86_64, "mkdir", NO_ARGS),
        errno(17)
    );

    let with_x86 = build(
        Host::X86_64,
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": rules
        }),
    );
    // i386 mkdir is 39, which is getpid on x86_64: the tables must not mix.
    assert_eq!(verdict(&with_x86, Abi::X86, "mkdir", NO_ARGS), errno(17));
    assert_eq!(verdict(&with_x86, Abi::X86_64, "getpid", NO_ARGS), ALLOW);
    assert_eq!(verdict(&with_x86, Abi::X86_64, "mkdir", NO_ARGS), errno(17));
    assert_eq!(verdict(&with_x86, Abi::X86, "getpid", NO_ARGS), ALLOW);
}

#[test]
fn architectures_of_other_machines_are_ignored() {
    let plain = build(Host::X86_64, json!({"defaultAction": "SCMP_ACT_LOG"}));
    let foreign = build(
        Host::X86_64,
        json!({
            "defaultAction": "SCMP_ACT_LOG",
            "architectures": ["SCMP_ARCH_S390X", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM",
                              "SCMP_ARCH_PPC64LE", "SCMP_ARCH_NATIVE", "SCMP_ARCH_X86_64"]
        }),
    );
    assert_eq!(code(&plain), code(&foreign));
}

#[test]
fn x32_numbers_never_match_x86_64_rules() {
    let rules = json!([
        {"names": ["rt_sigaction"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9},
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 10},
        {"names": ["uselib"], "action": "SCMP_ACT_ERRNO", "errnoRet": 11}
    ]);
    let x86_64 = Abi::X86_64.audit_arch();

    let without_x32 = build(
        Host::X86_64,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}),
    );
    let getpid_x32 = 39 | X32_SYSCALL_BIT;
    assert_eq!(
        verdict_nr(&without_x32, x86_64, getpid_x32, NO_ARGS),
        KILL_PROCESS
    );
    assert_eq!(
        verdict_nr(&without_x32, x86_64, 13 | X32_SYSCALL_BIT, NO_ARGS),
        KILL_PROCESS
    );
    // nr -1 (a tracer skipping the syscall) gets the default action, not bad-arch.
    assert_eq!(verdict_nr(&without_x32, x86_64, u32::MAX, NO_ARGS), ALLOW);

    let with_x32 = build(
        Host::X86_64,
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
            "syscalls": rules
        }),
    );
    assert_eq!(
        verdict(&with_x32, Abi::X86_64, "rt_sigaction", NO_ARGS),
        errno(9)
    );
    assert_eq!(
        verdict(&with_x32, Abi::X32, "rt_sigaction", NO_ARGS),
        errno(9)
    );
    assert_eq!(
        verdict_nr(&with_x32, x86_64, 512 | X32_SYSCALL_BIT, NO_ARGS),
        errno(9)
    );
    // x86_64's rt_sigaction number with the x32 bit is not rt_sigaction on x32.
    assert_eq!(
        verdict_nr(&with_x32, x86_64, 13 | X32_SYSCALL_BIT, NO_ARGS),
        ALLOW
    );
    assert_eq!(verdict(&with_x32, Abi::X32, "mkdir", NO_ARGS), errno(10));
    assert_eq!(verdict_nr(&with_x32, x86_64, getpid_x32, NO_ARGS), ALLOW);
    // uselib does not exist on x32.
    assert_eq!(
        verdict(&with_x32, Abi::X86_64, "uselib", NO_ARGS),
        errno(11)
    );
    assert_eq!(
        verdict_nr(&with_x32, x86_64, 134 | X32_SYSCALL_BIT, NO_ARGS),
        ALLOW
    );
    assert_eq!(verdict_nr(&with_x32, x86_64, u32::MAX, NO_ARGS), ALLOW);
}

#[test]
fn aarch64_host_with_arm_compat() {
    let program = build(
        Host::Aarch64,
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_X86"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["set_tls"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3}
            ]
        }),
    );
    assert_eq!(
        verdict(&program, Abi::Aarch64, "mkdirat", NO_ARGS),
        errno(1)
    );
    assert_eq!(
        verdict(&program, Abi::Aarch64, "getcwd", NO_ARGS),
        errno(38)
    );
    assert_eq!(verdict(&program, Abi::Arm, "mkdir", NO_ARGS), errno(1));
    assert_eq!(verdict(&program, Abi::Arm, "mkdirat", NO_ARGS), errno(1));
    assert_eq!(verdict(&program, Abi::Arm, "getcwd", NO_ARGS), errno(38));
    assert_eq!(verdict(&program, Abi::Arm, "set_tls", NO_ARGS), errno(3));
    // arm's getcwd number (183) is something else on aarch64.
    assert_eq!(
        verdict_nr(&program, Abi::Aarch64.audit_arch(), 183, NO_ARGS),
        ALLOW
    );
    // x86 cannot run on aarch64: ignored in the list, killed if it ever shows up.
    assert_eq!(verdict(&program, Abi::X86, "getcwd", NO_ARGS), KILL_PROCESS);
    assert_eq!(
        verdict(&program, Abi::X86_64, "getcwd", NO_ARGS),
        KILL_PROCESS
    );
}

#[test]
fn unknown_names_are_skipped() {
    let program = build(
        Host::X86_64,
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["not_a_syscall", "getcwd", "set_tls"], "action": "SCMP_ACT_KILL"},
                {"names": [], "action": "SCMP_ACT_KILL"}
            ]
        }),
    );
    assert_eq!(verdict(&program, Abi::X86_64, "getcwd", NO_ARGS), 0);
    assert_eq!(verdict(&program, Abi::X86_64, "read", NO_ARGS), ALLOW);
}

#[test]
fn notify_is_refused() {
    let as_rule = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    let error = compile(&as_rule).expect_err("notify rule");
    assert!(matches!(error, SeccompError::Unsupported(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "seccomp: SCMP_ACT_NOTIFY in the rule for mkdir is not supported yet \
         (burrow has no seccomp listener)"
    );

    let as_default = profile(json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
    let error = compile(&as_default).expect_err("notify default");
    assert!(
        error
            .to_string()
            .contains("SCMP_ACT_NOTIFY in defaultAction"),
        "{error}"
    );
}

#[test]
fn argument_index_out_of_range() {
    let bad = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read", "pread64"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]
    }));
    let error = compile_for(Host::X86_64, &bad).expect_err("index 6");
    assert_eq!(
        error.to_string(),
        "seccomp argument index 6 in the rule for read, pread64 is out of range (0-5)"
    );
}

#[test]
fn too_long_a_program_is_refused() {
    let rules: Vec<_> = (0..1000u64)
        .map(|value| {
            json!({"names": ["read"], "action": "SCMP_ACT_ERRNO",
                   "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}]})
        })
        .collect();
    let long = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}));
    let error = compile_for(Host::X86_64, &long).expect_err("too long");
    assert!(matches!(error, SeccompError::TooLong { len, max: 4096 } if len > 4096));
    assert!(
        error
            .to_string()
            .contains("more than the kernel limit of 4096"),
        "{error}"
    );
}

/// Names the runtime spec does not define are rejected when the bundle's config is
/// parsed, before `compile` ever sees them; this pins that down.
#[test]
fn unknown_strings_are_rejected_by_the_parser() {
    let parse = |json| serde_json::from_value::<LinuxSeccomp>(json).map(|_| ());
    let error = parse(json!({"defaultAction": "SCMP_ACT_ALLOW",
                             "architectures": ["SCMP_ARCH_VAX"]}))
    .expect_err("unknown arch");
    assert!(error.to_string().contains("SCMP_ARCH_VAX"), "{error}");
    let error = parse(json!({"defaultAction": "SCMP_ACT_ALLOW",
                             "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]}))
    .expect_err("unknown flag");
    assert!(
        error.to_string().contains("SECCOMP_FILTER_FLAG_BOGUS"),
        "{error}"
    );
    let error = parse(json!({"defaultAction": "SCMP_ACT_EXPLODE"})).expect_err("unknown action");
    assert!(error.to_string().contains("SCMP_ACT_EXPLODE"), "{error}");
}

#[test]
fn flags_are_passed_through() {
    let program = build(
        Host::X86_64,
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
        }),
    );
    assert_eq!(
        program.flags,
        libc::SECCOMP_FILTER_FLAG_TSYNC | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
    );
}
