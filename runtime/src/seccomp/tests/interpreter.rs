//! A classic-BPF interpreter for the opcodes the generator emits, plus the load-time
//! checks the kernel applies to seccomp programs, so tests can run a program against
//! synthetic `seccomp_data` and fail on anything the kernel would reject.

use libc::sock_filter;

use crate::seccomp::bpf::{
    AND, JUMP_ALWAYS, JUMP_EQ, JUMP_GE, JUMP_GT, LOAD_WORD, MAX_INSTRUCTIONS, RETURN,
    SECCOMP_DATA_SIZE,
};

/// The fields of `struct seccomp_data` a filter can look at (the instruction pointer
/// is always 0 here).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SeccompData {
    pub(crate) nr: u32,
    pub(crate) arch: u32,
    pub(crate) args: [u64; 6],
}

impl SeccompData {
    /// The 32-bit word at `offset`, read from the C layout in native byte order.
    fn word(&self, offset: u32) -> u32 {
        let mut bytes = [0u8; SECCOMP_DATA_SIZE as usize];
        bytes[0..4].copy_from_slice(&self.nr.to_ne_bytes());
        bytes[4..8].copy_from_slice(&self.arch.to_ne_bytes());
        for (index, arg) in self.args.iter().enumerate() {
            let start = 16 + 8 * index;
            bytes[start..start + 8].copy_from_slice(&arg.to_ne_bytes());
        }
        let start = offset as usize;
        let mut word = [0u8; 4];
        word.copy_from_slice(&bytes[start..start + 4]);
        u32::from_ne_bytes(word)
    }
}

/// Panics unless the kernel would accept `program`: known opcodes, aligned loads inside
/// `seccomp_data`, every jump landing inside the program, a `ret` at the end.
pub(crate) fn check(program: &[sock_filter]) {
    assert!(!program.is_empty(), "empty program");
    assert!(
        program.len() <= MAX_INSTRUCTIONS,
        "{} instructions",
        program.len()
    );
    let in_program = |pc: usize, offset: usize| pc + 1 + offset < program.len();
    for (pc, instruction) in program.iter().enumerate() {
        match instruction.code {
            LOAD_WORD => {
                assert!(
                    instruction.k % 4 == 0 && instruction.k < SECCOMP_DATA_SIZE,
                    "bad load offset {} at {pc}",
                    instruction.k
                );
            }
            AND | RETURN => {}
            JUMP_ALWAYS => assert!(in_program(pc, instruction.k as usize), "ja out at {pc}"),
            JUMP_EQ | JUMP_GT | JUMP_GE => {
                assert!(
                    in_program(pc, usize::from(instruction.jt)),
                    "jt out at {pc}"
                );
                assert!(
                    in_program(pc, usize::from(instruction.jf)),
                    "jf out at {pc}"
                );
            }
            code => panic!("unexpected opcode {code:#x} at {pc}"),
        }
    }
    let last = program[program.len() - 1];
    assert_eq!(last.code, RETURN, "program does not end with ret");
}

/// Runs `program` on `data` and returns the `SECCOMP_RET_*` value.
pub(crate) fn run(program: &[sock_filter], data: &SeccompData) -> u32 {
    let mut accumulator = 0u32;
    let mut pc = 0;
    loop {
        let instruction = program
            .get(pc)
            .unwrap_or_else(|| panic!("ran off the end at {pc}"));
        let branch = |taken: bool| {
            pc + 1
                + usize::from(if taken {
                    instruction.jt
                } else {
                    instruction.jf
                })
        };
        pc = match instruction.code {
            LOAD_WORD => {
                accumulator = data.word(instruction.k);
                pc + 1
            }
            AND => {
                accumulator &= instruction.k;
                pc + 1
            }
            JUMP_ALWAYS => pc + 1 + instruction.k as usize,
            JUMP_EQ => branch(accumulator == instruction.k),
            JUMP_GT => branch(accumulator > instruction.k),
            JUMP_GE => branch(accumulator >= instruction.k),
            RETURN => return instruction.k,
            code => panic!("unexpected opcode {code:#x} at {pc}"),
        };
    }
}

#[test]
fn interpreter_reads_the_c_layout() {
    let data = SeccompData {
        nr: 7,
        arch: 0xc000_003e,
        args: [0x1111_1111_2222_2222, 0, 0, 0, 0, 0x5555_5555_6666_6666],
    };
    assert_eq!(data.word(0), 7);
    assert_eq!(data.word(4), 0xc000_003e);
    let first = crate::seccomp::bpf::arg_offsets(0);
    assert_eq!(
        (data.word(first.low), data.word(first.high)),
        (0x2222_2222, 0x1111_1111)
    );
    let last = crate::seccomp::bpf::arg_offsets(5);
    assert_eq!(
        (data.word(last.low), data.word(last.high)),
        (0x6666_6666, 0x5555_5555)
    );
    // The layout written by `word` is the one of the C struct.
    assert_eq!(
        std::mem::offset_of!(libc::seccomp_data, instruction_pointer),
        8
    );
    assert_eq!(std::mem::offset_of!(libc::seccomp_data, args), 16);
}
