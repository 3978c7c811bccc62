//! The frames on an attach socket: a kind byte, a big-endian u32 length, the
//! payload.

use std::io::{self, Read, Write};

/// Client → supervisor: the first frame; payload one byte, 1 when the
/// client sends stdin.
pub const HELLO: u8 = 0;
/// Client → supervisor: bytes for the container's stdin.
pub const STDIN: u8 = 1;
/// Client → supervisor: the terminal's size, rows and columns as two
/// big-endian u16.
pub const RESIZE: u8 = 2;
/// Client → supervisor: end of input (the container's stdin is closed).
pub const STDIN_EOF: u8 = 3;
/// Supervisor → client: container output on stdout (all of it with a tty).
pub const STDOUT: u8 = 4;
/// Supervisor → client: container output on stderr.
pub const STDERR: u8 = 5;
/// Supervisor → client: the container exited; payload its exit code as a
/// big-endian i32. The last frame.
pub const EXIT: u8 = 6;

/// The largest payload accepted (a bigger length means a broken peer).
const MAX_PAYLOAD: usize = 1 << 20;

pub fn write_frame(out: &mut impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
    let mut frame = Vec::with_capacity(5 + payload.len());
    frame.push(kind);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    out.write_all(&frame)
}

/// The next frame; `None` at a clean end of the stream.
pub fn read_frame(input: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 5];
    match input.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("attach frame of {len} bytes"),
        ));
    }
    let mut payload = vec![0u8; len];
    input.read_exact(&mut payload)?;
    Ok(Some((header[0], payload)))
}

pub fn resize_payload(rows: u16, cols: u16) -> [u8; 4] {
    let [r0, r1] = rows.to_be_bytes();
    let [c0, c1] = cols.to_be_bytes();
    [r0, r1, c0, c1]
}

pub fn parse_resize(payload: &[u8]) -> Option<(u16, u16)> {
    match payload {
        [r0, r1, c0, c1] => Some((
            u16::from_be_bytes([*r0, *r1]),
            u16::from_be_bytes([*c0, *c1]),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut buf = Vec::new();
        write_frame(&mut buf, STDOUT, b"hello").unwrap();
        write_frame(&mut buf, RESIZE, &resize_payload(24, 80)).unwrap();
        let mut input = &buf[..];
        assert_eq!(
            read_frame(&mut input).unwrap(),
            Some((STDOUT, b"hello".to_vec()))
        );
        let (kind, payload) = read_frame(&mut input).unwrap().unwrap();
        assert_eq!((kind, parse_resize(&payload)), (RESIZE, Some((24, 80))));
        assert_eq!(read_frame(&mut input).unwrap(), None);
    }

    #[test]
    fn an_oversized_length_is_refused() {
        let mut input: &[u8] = &[STDIN, 0xff, 0xff, 0xff, 0xff];
        assert!(read_frame(&mut input).is_err());
    }
}
