//! The FUSE wire codec for the io_uring transport: what sits between a ring entry and
//! the overlay's operations.
//!
//! Theory of operation. The kernel lays a request in a ring entry as
//! `fuse_uring_args_to_ring` does: the request's first argument (its per-operation
//! struct, e.g. `fuse_read_in`; a zero-size argument for LOOKUP, UNLINK, RMDIR,
//! SYMLINK, READLINK, REMOVEXATTR ... since Linux 6.14) in the header area's `op_in`,
//! the remaining arguments (names with their NUL, write data, xattr values) back to
//! back in the payload area. `request.rs` decodes that into an [`request::Op`] with the
//! same arguments fuser would hand its `Filesystem` for the same bytes on /dev/fuse;
//! `dispatch.rs` runs the one protocol-neutral operation of `ops.rs` both transports
//! share and writes the reply's out-arguments back to back into the payload area,
//! exactly as the body of a /dev/fuse reply (the kernel checks fixed-size replies to
//! the byte); an error reply has no payload, and the transport writes the out header
//! from the reply's error and length. `abi.rs` holds the kernel's structures.
//!
//! Limits: INIT, FORGET, BATCH_FORGET and INTERRUPT never come through a ring (the
//! kernel keeps them on /dev/fuse, served by fuser); they and everything fuser does
//! not serve either (locks, ioctl, poll, bmap, tmpfile, statx, syncfs ...) are answered
//! ENOSYS. Malformed requests (a short argument, a name without its NUL, less data
//! than declared) are answered EINVAL.

pub mod abi;
mod dispatch;
pub mod request;
