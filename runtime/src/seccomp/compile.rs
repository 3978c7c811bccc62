//! From an OCI seccomp profile to a BPF program: rules are checked and normalised once,
//! then a syscall table is built and emitted per ABI (see the module docs for the layout).

use std::collections::HashMap;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompArg, LinuxSeccompOperator};

use super::actions::{self, Origin, BAD_ARCH_RETURN};
use super::arch::{self, Abi, Host, X32_SYSCALL_BIT};
use super::bpf::{self, Assembler, Cmp, Label, Target};
use super::{SeccompError, SeccompProgram};

/// Syscalls take at most six arguments (`seccomp_data.args`).
const SYSCALL_ARGS: usize = 6;

/// Unconditional syscalls sharing an action are tested in runs of at most this many
/// `jeq`s followed by one `ret`, so every branch to that `ret` fits in 8 bits.
const RUN_LENGTH: usize = 255;

/// Compiles `profile` for the machine burrow runs on.
pub fn compile(profile: &LinuxSeccomp) -> Result<SeccompProgram, SeccompError> {
    compile_for(Host::current()?, profile)
}

/// Compiles `profile` for `host`; separate from [`compile`] so tests cover every host.
pub(crate) fn compile_for(
    host: Host,
    profile: &LinuxSeccomp,
) -> Result<SeccompProgram, SeccompError> {
    let default = actions::return_value(
        profile.default_action(),
        profile.default_errno_ret(),
        Origin::DefaultAction,
    )?;
    let rules = normalise_rules(profile, default)?;
    let abis = arch::selected_abis(host, profile.architectures().as_deref());

    let mut asm = Assembler::new();
    emit_program(&mut asm, &abis, &rules, default);
    let instructions = asm
        .assemble()
        .map_err(|error| SeccompError::Internal(error.describe()))?;
    if instructions.len() > bpf::MAX_INSTRUCTIONS {
        return Err(SeccompError::TooLong {
            len: instructions.len(),
            max: bpf::MAX_INSTRUCTIONS,
        });
    }
    let flags = actions::filter_flags(profile.flags().as_deref().unwrap_or_default());
    Ok(SeccompProgram {
        instructions,
        flags,
    })
}

/// One profile rule after validation: the names it covers, the `SECCOMP_RET_*` value
/// it returns, and the argument conditions that must all hold.
struct Rule<'p> {
    names: &'p [String],
    ret: u32,
    conditions: Vec<Condition>,
}

#[derive(Clone, Copy, Debug)]
struct Condition {
    index: u32,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: u64,
}

/// Validates every rule and applies runc's rewrites: rules returning the default action
/// are dropped, and a rule naming one argument index twice becomes one rule per
/// condition (its conditions are ORed, not ANDed — runc's "old behaviour").
fn normalise_rules(profile: &LinuxSeccomp, default: u32) -> Result<Vec<Rule<'_>>, SeccompError> {
    let mut rules = Vec::new();
    for syscall in profile.syscalls().as_deref().unwrap_or_default() {
        let names = syscall.names().as_slice();
        let ret =
            actions::return_value(syscall.action(), syscall.errno_ret(), Origin::Rule(names))?;
        let conditions = syscall
            .args()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|arg| condition(names, arg))
            .collect::<Result<Vec<_>, _>>()?;
        if ret == default || names.is_empty() {
            continue;
        }
        if repeats_an_index(&conditions) {
            rules.extend(conditions.into_iter().map(|condition| Rule {
                names,
                ret,
                conditions: vec![condition],
            }));
        } else {
            rules.push(Rule {
                names,
                ret,
                conditions,
            });
        }
    }
    Ok(rules)
}

fn condition(names: &[String], arg: &LinuxSeccompArg) -> Result<Condition, SeccompError> {
    let index = arg.index();
    if index >= SYSCALL_ARGS {
        return Err(SeccompError::ArgIndexOutOfRange {
            syscalls: actions::rule_names(names),
            index,
        });
    }
    Ok(Condition {
        index: index as u32,
        op: arg.op(),
        value: arg.value(),
        // libseccomp's datum_b, used by SCMP_CMP_MASKED_EQ only; runc passes 0 when absent.
        value_two: arg.value_two().unwrap_or(0),
    })
}

fn repeats_an_index(conditions: &[Condition]) -> bool {
    let mut seen = [false; SYSCALL_ARGS];
    conditions
        .iter()
        .any(|condition| std::mem::replace(&mut seen[condition.index as usize], true))
}

/// The rules for one syscall number of one ABI, in profile order.
struct SyscallRules<'r, 'p> {
    number: u32,
    rules: Vec<&'r Rule<'p>>,
}

impl SyscallRules<'_, '_> {
    /// Whether the last rule matches unconditionally, making any later rule unreachable.
    fn is_closed(&self) -> bool {
        self.rules
            .last()
            .is_some_and(|rule| rule.conditions.is_empty())
    }
}

/// Groups the rules by syscall number for `abi`, in order of first appearance. Names the
/// ABI does not have are skipped, as runc skips names libseccomp cannot resolve.
fn syscall_table<'r, 'p>(abi: Abi, rules: &'r [Rule<'p>]) -> Vec<SyscallRules<'r, 'p>> {
    let mut table: Vec<SyscallRules<'r, 'p>> = Vec::new();
    let mut position: HashMap<u32, usize> = HashMap::new();
    for rule in rules {
        for number in rule
            .names
            .iter()
            .filter_map(|name| abi.syscall_number(name))
        {
            let index = *position.entry(number).or_insert_with(|| {
                table.push(SyscallRules {
                    number,
                    rules: Vec::new(),
                });
                table.len() - 1
            });
            let entry = &mut table[index];
            let repeated = entry
                .rules
                .last()
                .is_some_and(|last| std::ptr::eq(*last, rule));
            if !entry.is_closed() && !repeated {
                entry.rules.push(rule);
            }
        }
    }
    table
}

/// Arch dispatch, then one section per audit arch (x32 lives inside the x86_64 one).
fn emit_program(asm: &mut Assembler, abis: &[Abi], rules: &[Rule<'_>], default: u32) {
    let with_x32 = abis.contains(&Abi::X32);
    let sections: Vec<(Abi, Label)> = abis
        .iter()
        .filter(|abi| **abi != Abi::X32)
        .map(|abi| (*abi, asm.label()))
        .collect();

    asm.load(bpf::ARCH_OFFSET);
    for (abi, label) in &sections {
        asm.jump(Cmp::Eq, abi.audit_arch(), Target::To(*label), Target::Next);
    }
    asm.ret(BAD_ARCH_RETURN);

    for (abi, label) in sections {
        asm.bind(label);
        asm.load(bpf::NR_OFFSET);
        if abi == Abi::X86_64 {
            emit_x86_64_section(asm, with_x32, rules, default);
        } else {
            emit_dispatch(asm, abi, rules, default);
        }
    }
}

/// `AUDIT_ARCH_X86_64` carries both x86_64 and x32 syscalls; x32 numbers have
/// `X32_SYSCALL_BIT` set. They go to the x32 table if the profile lists
/// SCMP_ARCH_X32 and are killed as a bad arch otherwise, never to the x86_64 table.
/// The exception is nr == -1, which a tracer uses to skip a syscall: like libseccomp,
/// it goes through the x86_64 table and so gets the default action.
fn emit_x86_64_section(asm: &mut Assembler, with_x32: bool, rules: &[Rule<'_>], default: u32) {
    let native = asm.label();
    let x32 = with_x32.then(|| asm.label());
    asm.jump(Cmp::Ge, X32_SYSCALL_BIT, Target::Next, Target::To(native));
    asm.jump(
        Cmp::Eq,
        u32::MAX,
        Target::To(native),
        x32.map_or(Target::Next, Target::To),
    );
    if x32.is_none() {
        asm.ret(BAD_ARCH_RETURN);
    }
    asm.bind(native);
    emit_dispatch(asm, Abi::X86_64, rules, default);
    if let Some(x32) = x32 {
        asm.bind(x32);
        emit_dispatch(asm, Abi::X32, rules, default);
    }
}

/// The syscall table of one ABI; expects the syscall number in A and always returns.
fn emit_dispatch(asm: &mut Assembler, abi: Abi, rules: &[Rule<'_>], default: u32) {
    let table = syscall_table(abi, rules);
    let mut unconditional: Vec<(u32, Vec<u32>)> = Vec::new();
    let mut conditional = Vec::new();
    for entry in &table {
        match entry.rules.as_slice() {
            [only] if only.conditions.is_empty() => {
                match unconditional.iter_mut().find(|(ret, _)| *ret == only.ret) {
                    Some((_, numbers)) => numbers.push(entry.number),
                    None => unconditional.push((only.ret, vec![entry.number])),
                }
            }
            _ => conditional.push(entry),
        }
    }
    // Syscall numbers are distinct, so the order of the tests between syscalls does not
    // change the result; only the order of rules within one syscall matters.
    for (ret, numbers) in &unconditional {
        for run in numbers.chunks(RUN_LENGTH) {
            emit_run(asm, *ret, run);
        }
    }
    for entry in conditional {
        emit_syscall(asm, abi, entry, default);
    }
    asm.ret(default);
}

/// `jeq n1 → ret; jeq n2 → ret; …; jeq nk ? ret : past; ret action; past:`
fn emit_run(asm: &mut Assembler, ret: u32, numbers: &[u32]) {
    let Some((last, others)) = numbers.split_last() else {
        return;
    };
    let hit = asm.label();
    let miss = asm.label();
    for number in others {
        asm.jump(Cmp::Eq, *number, Target::To(hit), Target::Next);
    }
    asm.jump(Cmp::Eq, *last, Target::Next, Target::To(miss));
    asm.bind(hit);
    asm.ret(ret);
    asm.bind(miss);
}

/// A syscall with conditional rules: its rules in order, the first that matches returns,
/// and the default action when none does. A is clobbered inside, but every path out of
/// the block returns, and the skip branch leaves with A still holding the number.
fn emit_syscall(asm: &mut Assembler, abi: Abi, entry: &SyscallRules<'_, '_>, default: u32) {
    let next_syscall = asm.label();
    asm.jump(
        Cmp::Eq,
        entry.number,
        Target::Next,
        Target::To(next_syscall),
    );
    for rule in &entry.rules {
        let next_rule = asm.label();
        for condition in &rule.conditions {
            emit_condition(asm, abi, condition, next_rule);
        }
        asm.ret(rule.ret);
        asm.bind(next_rule);
    }
    if !entry.is_closed() {
        asm.ret(default);
    }
    asm.bind(next_syscall);
}

fn high(value: u64) -> u32 {
    (value >> 32) as u32
}

fn low(value: u64) -> u32 {
    value as u32
}

/// Falls through when the condition holds, jumps to `fail` otherwise. A 64-bit
/// comparison decides on the high words when they differ and on the low words when
/// they are equal; 32-bit ABIs compare the low word only, as libseccomp does.
fn emit_condition(asm: &mut Assembler, abi: Abi, condition: &Condition, fail: Label) {
    use LinuxSeccompOperator::*;
    let Condition {
        index,
        op,
        value,
        value_two,
    } = *condition;
    let offsets = bpf::arg_offsets(index);
    let fail = Target::To(fail);
    let pass = asm.label();

    if abi.has_64bit_args() {
        asm.load(offsets.high);
        match op {
            ScmpCmpEq => asm.jump(Cmp::Eq, high(value), Target::Next, fail),
            ScmpCmpNe => asm.jump(Cmp::Eq, high(value), Target::Next, Target::To(pass)),
            ScmpCmpGt | ScmpCmpGe => {
                asm.jump(Cmp::Gt, high(value), Target::To(pass), Target::Next);
                asm.jump(Cmp::Eq, high(value), Target::Next, fail);
            }
            ScmpCmpLt | ScmpCmpLe => {
                asm.jump(Cmp::Gt, high(value), fail, Target::Next);
                asm.jump(Cmp::Eq, high(value), Target::Next, Target::To(pass));
            }
            ScmpCmpMaskedEq => {
                asm.and(high(value));
                asm.jump(Cmp::Eq, high(value_two), Target::Next, fail);
            }
        }
    }

    asm.load(offsets.low);
    let (value, value_two) = (low(value), low(value_two));
    match op {
        ScmpCmpEq => asm.jump(Cmp::Eq, value, Target::Next, fail),
        ScmpCmpNe => asm.jump(Cmp::Eq, value, fail, Target::Next),
        ScmpCmpGt => asm.jump(Cmp::Gt, value, Target::Next, fail),
        ScmpCmpGe => asm.jump(Cmp::Ge, value, Target::Next, fail),
        ScmpCmpLt => asm.jump(Cmp::Ge, value, fail, Target::Next),
        ScmpCmpLe => asm.jump(Cmp::Gt, value, fail, Target::Next),
        ScmpCmpMaskedEq => {
            asm.and(value);
            asm.jump(Cmp::Eq, value_two, Target::Next, fail);
        }
    }
    asm.bind(pass);
}
