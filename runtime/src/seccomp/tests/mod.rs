//! Tests of the whole module: generated programs run in a BPF interpreter
//! (`semantics`, `long_profile`), and filters installed in forked children (`install`).

#[allow(unsafe_code)]
mod install;
mod interpreter;
mod long_profile;
mod semantics;

use oci_spec::runtime::LinuxSeccomp;
use serde_json::Value;

use super::arch::{Abi, Host};
use super::compile::compile_for;
use super::SeccompProgram;
use interpreter::SeccompData;

pub(crate) const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
pub(crate) const KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;

pub(crate) fn errno(value: u32) -> u32 {
    libc::SECCOMP_RET_ERRNO | value
}

/// Parses a profile the way the runtime gets it: from the JSON of `linux.seccomp`.
pub(crate) fn profile(json: Value) -> LinuxSeccomp {
    serde_json::from_value(json).expect("profile JSON parses")
}

/// Compiles for `host` and checks the program is one the kernel would load.
pub(crate) fn build(host: Host, json: Value) -> SeccompProgram {
    let program = compile_for(host, &profile(json)).expect("profile compiles");
    interpreter::check(&program.instructions);
    program
}

/// The action `program` returns for syscall `name` of `abi` with `args`.
pub(crate) fn verdict(program: &SeccompProgram, abi: Abi, name: &str, args: [u64; 6]) -> u32 {
    let nr = abi
        .syscall_number(name)
        .unwrap_or_else(|| panic!("{name} has no number on {abi:?}"));
    verdict_nr(program, abi.audit_arch(), nr, args)
}

pub(crate) fn verdict_nr(program: &SeccompProgram, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    interpreter::run(&program.instructions, &SeccompData { nr, arch, args })
}
