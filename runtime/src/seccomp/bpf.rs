//! A classic-BPF assembler for seccomp programs: symbolic labels in, `sock_filter`s out.
//!
//! The code generator writes straight-line code with forward jumps to labels and does not
//! have to care about distances. Classic BPF conditional jumps encode their targets as
//! 8-bit offsets, so [`Assembler::assemble`] lays the program out and, for every
//! conditional branch whose target is more than 255 instructions away, inserts an
//! unconditional `ja` (32-bit offset) right after the branch and points the branch at it.
//! Inserting a trampoline moves later code, which can push other branches out of range,
//! so layout repeats until nothing changes; a branch never goes back to short form, so
//! this terminates after at most one round per branch.
//!
//! Only the opcodes seccomp filters need are emitted: absolute 32-bit loads from
//! `seccomp_data`, `and` with a constant, `jeq`/`jgt`/`jge` against a constant, `ja`,
//! and `ret` of a constant.

use std::mem::offset_of;

use libc::sock_filter;

/// `BPF_LD | BPF_W | BPF_ABS`: A = 32-bit word at offset k of `seccomp_data`.
pub(crate) const LOAD_WORD: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
/// `BPF_ALU | BPF_AND | BPF_K`: A &= k.
pub(crate) const AND: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
/// `BPF_JMP | BPF_JA`: pc += k (32-bit offset; used for trampolines).
pub(crate) const JUMP_ALWAYS: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
/// `BPF_JMP | BPF_JEQ | BPF_K`: pc += (A == k) ? jt : jf.
pub(crate) const JUMP_EQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
/// `BPF_JMP | BPF_JGT | BPF_K`: pc += (A > k) ? jt : jf, unsigned.
pub(crate) const JUMP_GT: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
/// `BPF_JMP | BPF_JGE | BPF_K`: pc += (A >= k) ? jt : jf, unsigned.
pub(crate) const JUMP_GE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
/// `BPF_RET | BPF_K`: return k to the kernel.
pub(crate) const RETURN: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Longest program the kernel accepts (`BPF_MAXINSNS`).
pub(crate) const MAX_INSTRUCTIONS: usize = libc::BPF_MAXINSNS as usize;

/// Offset of the syscall number in `seccomp_data`.
pub(crate) const NR_OFFSET: u32 = offset_of!(libc::seccomp_data, nr) as u32;
/// Offset of the `AUDIT_ARCH_*` value in `seccomp_data`.
pub(crate) const ARCH_OFFSET: u32 = offset_of!(libc::seccomp_data, arch) as u32;
/// Size of `seccomp_data`; loads must stay inside it.
#[cfg(test)]
pub(crate) const SECCOMP_DATA_SIZE: u32 = std::mem::size_of::<libc::seccomp_data>() as u32;

/// The two 32-bit halves of syscall argument `index` (0–5) in `seccomp_data`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ArgOffsets {
    pub(crate) low: u32,
    pub(crate) high: u32,
}

pub(crate) fn arg_offsets(index: u32) -> ArgOffsets {
    let start = offset_of!(libc::seccomp_data, args) as u32 + 8 * index;
    if cfg!(target_endian = "little") {
        ArgOffsets {
            low: start,
            high: start + 4,
        }
    } else {
        ArgOffsets {
            low: start + 4,
            high: start,
        }
    }
}

/// An unsigned comparison of the accumulator with a constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Gt,
    Ge,
}

/// A position in the program, bound with [`Assembler::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Label(usize);

/// Where a branch goes: the following instruction, or a label further down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Next,
    To(Label),
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Load(u32),
    And(u32),
    Jump {
        cmp: Cmp,
        k: u32,
        on_true: Target,
        on_false: Target,
    },
    Return(u32),
    Bind(Label),
}

/// The assembler found a label problem; always a bug in the code generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AssembleError {
    UnboundLabel,
    LabelBoundTwice,
    BackwardJump,
    JumpPastEnd,
}

impl AssembleError {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::UnboundLabel => "jump to a label that was never bound",
            Self::LabelBoundTwice => "label bound twice",
            Self::BackwardJump => "backward jump (classic BPF only jumps forward)",
            Self::JumpPastEnd => "jump past the end of the program",
        }
    }
}

#[derive(Default)]
pub(crate) struct Assembler {
    ops: Vec<Op>,
    labels: usize,
}

/// A real instruction after label binding, with its targets as instruction indices.
#[derive(Clone, Copy)]
enum Resolved {
    Load(u32),
    And(u32),
    Jump {
        cmp: Cmp,
        k: u32,
        on_true: usize,
        on_false: usize,
    },
    Return(u32),
}

impl Assembler {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    pub(crate) fn bind(&mut self, label: Label) {
        self.ops.push(Op::Bind(label));
    }

    pub(crate) fn load(&mut self, offset: u32) {
        self.ops.push(Op::Load(offset));
    }

    pub(crate) fn and(&mut self, k: u32) {
        self.ops.push(Op::And(k));
    }

    pub(crate) fn jump(&mut self, cmp: Cmp, k: u32, on_true: Target, on_false: Target) {
        self.ops.push(Op::Jump {
            cmp,
            k,
            on_true,
            on_false,
        });
    }

    pub(crate) fn ret(&mut self, k: u32) {
        self.ops.push(Op::Return(k));
    }

    /// Resolves labels, widens out-of-range branches and encodes the program.
    pub(crate) fn assemble(self) -> Result<Vec<sock_filter>, AssembleError> {
        let program = self.resolve()?;
        let far = relax(&program);
        Ok(encode(&program, &far))
    }

    /// Maps labels to instruction indices and checks every jump goes forward in bounds.
    fn resolve(self) -> Result<Vec<Resolved>, AssembleError> {
        let mut label_index: Vec<Option<usize>> = vec![None; self.labels];
        let mut count = 0;
        for op in &self.ops {
            match op {
                Op::Bind(Label(id)) => {
                    if label_index[*id].replace(count).is_some() {
                        return Err(AssembleError::LabelBoundTwice);
                    }
                }
                _ => count += 1,
            }
        }

        let mut program = Vec::with_capacity(count);
        for op in self.ops {
            let here = program.len();
            let target = |target: Target| -> Result<usize, AssembleError> {
                let index = match target {
                    Target::Next => here + 1,
                    Target::To(Label(id)) => label_index[id].ok_or(AssembleError::UnboundLabel)?,
                };
                if index <= here {
                    Err(AssembleError::BackwardJump)
                } else if index >= count {
                    Err(AssembleError::JumpPastEnd)
                } else {
                    Ok(index)
                }
            };
            let resolved = match op {
                Op::Bind(_) => continue,
                Op::Load(offset) => Resolved::Load(offset),
                Op::And(k) => Resolved::And(k),
                Op::Jump {
                    cmp,
                    k,
                    on_true,
                    on_false,
                } => Resolved::Jump {
                    cmp,
                    k,
                    on_true: target(on_true)?,
                    on_false: target(on_false)?,
                },
                Op::Return(k) => Resolved::Return(k),
            };
            program.push(resolved);
        }
        Ok(program)
    }
}

/// Which branches of each conditional jump need a `ja` trampoline.
#[derive(Clone, Copy, Default)]
struct Far {
    on_true: bool,
    on_false: bool,
}

impl Far {
    fn trampolines(self) -> usize {
        usize::from(self.on_true) + usize::from(self.on_false)
    }
}

/// Address of every instruction (and one past the end) once trampolines are inserted.
fn addresses(program: &[Resolved], far: &[Far]) -> Vec<usize> {
    let mut addresses = Vec::with_capacity(program.len() + 1);
    let mut address = 0;
    for size in far.iter().map(|far| 1 + far.trampolines()) {
        addresses.push(address);
        address += size;
    }
    addresses.push(address);
    addresses
}

fn relax(program: &[Resolved]) -> Vec<Far> {
    let mut far = vec![Far::default(); program.len()];
    loop {
        let addresses = addresses(program, &far);
        let mut changed = false;
        for (index, instruction) in program.iter().enumerate() {
            let Resolved::Jump {
                on_true, on_false, ..
            } = *instruction
            else {
                continue;
            };
            let from = addresses[index] + 1;
            if !far[index].on_true && addresses[on_true] - from > usize::from(u8::MAX) {
                far[index].on_true = true;
                changed = true;
            }
            if !far[index].on_false && addresses[on_false] - from > usize::from(u8::MAX) {
                far[index].on_false = true;
                changed = true;
            }
        }
        if !changed {
            return far;
        }
    }
}

fn statement(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn encode(program: &[Resolved], far: &[Far]) -> Vec<sock_filter> {
    let addresses = addresses(program, far);
    // Offsets fit their fields: `relax` made every short branch < 256, and a program
    // longer than u32::MAX instructions cannot exist.
    let offset = |from: usize, to: usize| to - (from + 1);
    let mut code = Vec::with_capacity(addresses[program.len()]);
    for (index, instruction) in program.iter().enumerate() {
        let address = addresses[index];
        match *instruction {
            Resolved::Load(offset) => code.push(statement(LOAD_WORD, offset)),
            Resolved::And(k) => code.push(statement(AND, k)),
            Resolved::Return(k) => code.push(statement(RETURN, k)),
            Resolved::Jump {
                cmp,
                k,
                on_true,
                on_false,
            } => {
                let far = far[index];
                let true_trampoline = address + 1;
                let false_trampoline = address + 1 + usize::from(far.on_true);
                let jt = if far.on_true {
                    offset(address, true_trampoline)
                } else {
                    offset(address, addresses[on_true])
                };
                let jf = if far.on_false {
                    offset(address, false_trampoline)
                } else {
                    offset(address, addresses[on_false])
                };
                let opcode = match cmp {
                    Cmp::Eq => JUMP_EQ,
                    Cmp::Gt => JUMP_GT,
                    Cmp::Ge => JUMP_GE,
                };
                code.push(sock_filter {
                    code: opcode,
                    jt: jt as u8,
                    jf: jf as u8,
                    k,
                });
                if far.on_true {
                    let distance = offset(true_trampoline, addresses[on_true]);
                    code.push(statement(JUMP_ALWAYS, distance as u32));
                }
                if far.on_false {
                    let distance = offset(false_trampoline, addresses[on_false]);
                    code.push(statement(JUMP_ALWAYS, distance as u32));
                }
            }
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Follows branch `jt` (or `jf`) of the instruction at `pc`, through a `ja` if there is one.
    fn destination(code: &[sock_filter], pc: usize, taken: bool) -> usize {
        let offset = if taken { code[pc].jt } else { code[pc].jf };
        let landing = pc + 1 + usize::from(offset);
        if code[landing].code == JUMP_ALWAYS {
            landing + 1 + code[landing].k as usize
        } else {
            landing
        }
    }

    fn filler(asm: &mut Assembler, count: usize) {
        for value in 0..count {
            asm.ret(value as u32);
        }
    }

    #[test]
    fn short_branches_are_encoded_directly() {
        let mut asm = Assembler::new();
        let skip = asm.label();
        asm.load(NR_OFFSET);
        asm.jump(Cmp::Eq, 7, Target::Next, Target::To(skip));
        asm.ret(1);
        asm.bind(skip);
        asm.ret(2);
        let code = asm.assemble().expect("assembles");
        assert_eq!(code.len(), 4);
        assert_eq!(
            (code[1].code, code[1].jt, code[1].jf, code[1].k),
            (JUMP_EQ, 0, 1, 7)
        );
        assert_eq!(code[3].k, 2);
    }

    #[test]
    fn far_false_branch_gets_a_trampoline() {
        let mut asm = Assembler::new();
        let far = asm.label();
        asm.jump(Cmp::Gt, 3, Target::Next, Target::To(far));
        filler(&mut asm, 300);
        asm.bind(far);
        asm.ret(0xdead);
        let code = asm.assemble().expect("assembles");
        assert_eq!(code.len(), 1 + 1 + 300 + 1);
        // jt skips the trampoline and lands on the first filler instruction.
        assert_eq!(code[destination(&code, 0, true)].k, 0);
        assert_eq!(code[destination(&code, 0, false)].k, 0xdead);
    }

    #[test]
    fn both_branches_far() {
        let mut asm = Assembler::new();
        let (first, second) = (asm.label(), asm.label());
        asm.jump(Cmp::Ge, 3, Target::To(first), Target::To(second));
        filler(&mut asm, 256);
        asm.bind(first);
        asm.ret(0xaaaa);
        filler(&mut asm, 10);
        asm.bind(second);
        asm.ret(0xbbbb);
        let code = asm.assemble().expect("assembles");
        assert_eq!(code[destination(&code, 0, true)].k, 0xaaaa);
        assert_eq!(code[destination(&code, 0, false)].k, 0xbbbb);
    }

    #[test]
    fn branch_exactly_255_away_stays_short() {
        let mut asm = Assembler::new();
        let target = asm.label();
        asm.jump(Cmp::Eq, 0, Target::Next, Target::To(target));
        filler(&mut asm, 255);
        asm.bind(target);
        asm.ret(0xcccc);
        let code = asm.assemble().expect("assembles");
        assert_eq!(code.len(), 257);
        assert_eq!(code[0].jf, 255);
    }

    #[test]
    fn trampolines_that_push_other_branches_out_of_range_are_handled() {
        // Branch A reaches exactly 255; branch B's trampoline sits between A and its
        // target, pushing A to 256, so A must be widened in a second round.
        let mut asm = Assembler::new();
        let (a_target, b_target) = (asm.label(), asm.label());
        asm.jump(Cmp::Eq, 1, Target::Next, Target::To(a_target));
        asm.jump(Cmp::Eq, 2, Target::Next, Target::To(b_target));
        filler(&mut asm, 254);
        asm.bind(a_target);
        asm.ret(0xa);
        filler(&mut asm, 10);
        asm.bind(b_target);
        asm.ret(0xb);
        let code = asm.assemble().expect("assembles");
        assert_eq!(code[1].code, JUMP_ALWAYS, "branch A was widened");
        assert_eq!(code[destination(&code, 0, false)].k, 0xa);
        assert_eq!(code[destination(&code, 2, false)].k, 0xb);
    }

    #[test]
    fn label_errors_are_reported() {
        let mut asm = Assembler::new();
        let label = asm.label();
        asm.jump(Cmp::Eq, 0, Target::Next, Target::To(label));
        asm.ret(0);
        assert_eq!(asm.assemble().err(), Some(AssembleError::UnboundLabel));

        let mut asm = Assembler::new();
        let label = asm.label();
        asm.bind(label);
        asm.ret(0);
        asm.jump(Cmp::Eq, 0, Target::To(label), Target::Next);
        asm.ret(0);
        assert_eq!(asm.assemble().err(), Some(AssembleError::BackwardJump));

        let mut asm = Assembler::new();
        let label = asm.label();
        asm.ret(0);
        asm.jump(Cmp::Eq, 0, Target::Next, Target::To(label));
        asm.bind(label);
        assert_eq!(asm.assemble().err(), Some(AssembleError::JumpPastEnd));

        let mut asm = Assembler::new();
        let label = asm.label();
        asm.bind(label);
        asm.bind(label);
        asm.ret(0);
        assert_eq!(asm.assemble().err(), Some(AssembleError::LabelBoundTwice));
    }

    #[test]
    fn seccomp_data_offsets() {
        assert_eq!((NR_OFFSET, ARCH_OFFSET, SECCOMP_DATA_SIZE), (0, 4, 64));
        let last = arg_offsets(5);
        assert_eq!(last.low.max(last.high), 60);
        assert_eq!(arg_offsets(0).low.min(arg_offsets(0).high), 16);
    }
}
