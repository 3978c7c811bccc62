//! The per-layer progress display of `pull` and `push`, shaped like Docker's.
//!
//! Theory of operation: the display keeps one entry per layer, in the order the layers
//! first show up: its 12-character id, its status text (`Pulling fs layer`,
//! `Downloading`, `Pushed`, …) and, for transfer statuses, how many bytes of how many
//! are done. Commands feed it updates from the transfer threads; it draws them to a
//! writer in one of three shapes:
//! - [`Shape::Terminal`]: one line per layer, redrawn in place. The layer lines form a
//!   block at the bottom of the output; each redraw moves the cursor up over the block
//!   (`ESC [ N A`), then rewrites each line after erasing it (`ESC [ 2 K`). Transfer
//!   statuses get a 50-column bar and sizes (`Downloading [====>   ] 1.2MB/3.4MB`).
//!   Nothing is written when no line changed, so frequent byte counts cost little.
//! - [`Shape::Lines`]: output that is not a terminal gets one plain line
//!   (`ID: STATUS`) each time a layer's status changes, never bars nor redraws; the
//!   byte-count statuses (`Downloading`, `Pushing`, `Extracting`) are not printed.
//! - [`Shape::Quiet`]: nothing at all (`-q`).
//!
//! Text lines that are not a layer's (the headers and the closing `Digest:`/`Status:`
//! lines) go through [`Display::text`]; on a terminal they end the current block, so
//! later layers start a new one below them.

use std::io::Write;
use std::sync::Mutex;

/// How the display is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Terminal,
    Lines,
    Quiet,
}

impl Shape {
    /// Terminal when stdout is one, plain lines otherwise; nothing when `quiet`.
    pub fn for_stdout(quiet: bool) -> Shape {
        use std::io::IsTerminal;
        if quiet {
            Shape::Quiet
        } else if std::io::stdout().is_terminal() {
            Shape::Terminal
        } else {
            Shape::Lines
        }
    }
}

struct Layer {
    id: String,
    status: String,
    /// (done, total) bytes, for transfer statuses.
    bytes: Option<(u64, u64)>,
    /// The last text drawn for this layer (terminal), or printed (lines).
    shown: String,
}

struct State<W> {
    out: W,
    /// Layers of the current block, in order of appearance.
    layers: Vec<Layer>,
    /// Lines of the current block already on the terminal.
    drawn: usize,
}

/// A per-layer progress display writing to `W`.
pub struct Display<W: Write + Send> {
    shape: Shape,
    state: Mutex<State<W>>,
}

impl<W: Write + Send> Display<W> {
    pub fn new(shape: Shape, out: W) -> Display<W> {
        Display {
            shape,
            state: Mutex::new(State {
                out,
                layers: Vec::new(),
                drawn: 0,
            }),
        }
    }

    /// Sets layer `id`'s status (and byte count for a transfer status).
    pub fn update(&self, id: &str, status: &str, bytes: Option<(u64, u64)>) {
        if self.shape == Shape::Quiet {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let index = match state.layers.iter().position(|l| l.id == id) {
            Some(index) => index,
            None => {
                state.layers.push(Layer {
                    id: id.to_string(),
                    status: String::new(),
                    bytes: None,
                    shown: String::new(),
                });
                state.layers.len() - 1
            }
        };
        let layer = &mut state.layers[index];
        layer.status = status.to_string();
        layer.bytes = bytes;
        match self.shape {
            Shape::Terminal => redraw(&mut state),
            Shape::Lines => {
                let line = format!("{}: {}", layer.id, layer.status);
                if bytes.is_none() && line != layer.shown {
                    layer.shown = line.clone();
                    let _ = writeln!(state.out, "{line}");
                    let _ = state.out.flush();
                }
            }
            Shape::Quiet => {}
        }
    }

    /// Writes a line that is not a layer's; on a terminal it closes the layer block.
    pub fn text(&self, line: &str) {
        if self.shape == Shape::Quiet {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.layers.clear();
        state.drawn = 0;
        let _ = writeln!(state.out, "{line}");
        let _ = state.out.flush();
    }

    /// The writer back (for tests).
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.state
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .out
    }
}

/// Redraws the terminal block if any line changed.
fn redraw<W: Write>(state: &mut State<W>) {
    let lines: Vec<String> = state.layers.iter().map(terminal_line).collect();
    let changed = lines.len() != state.drawn
        || lines
            .iter()
            .zip(&state.layers)
            .any(|(line, layer)| *line != layer.shown);
    if !changed {
        return;
    }
    let mut buffer = String::new();
    if state.drawn > 0 {
        buffer.push_str(&format!("\x1b[{}A", state.drawn));
    }
    for (line, layer) in lines.into_iter().zip(state.layers.iter_mut()) {
        buffer.push_str("\x1b[2K");
        buffer.push_str(&line);
        buffer.push('\n');
        layer.shown = line;
    }
    state.drawn = state.layers.len();
    let _ = state.out.write_all(buffer.as_bytes());
    let _ = state.out.flush();
}

fn terminal_line(layer: &Layer) -> String {
    match layer.bytes {
        Some((done, total)) => format!(
            "{}: {} {} {}",
            layer.id,
            layer.status,
            bar(done, total),
            sizes(done, total)
        ),
        None => format!("{}: {}", layer.id, layer.status),
    }
}

/// Docker's 50-column bar: `[=====>      ]`.
fn bar(done: u64, total: u64) -> String {
    const WIDTH: usize = 50;
    let filled = if total == 0 {
        WIDTH
    } else {
        ((done.min(total) as u128 * WIDTH as u128) / total as u128) as usize
    };
    let mut bar = String::with_capacity(WIDTH + 2);
    bar.push('[');
    bar.push_str(&"=".repeat(filled));
    if filled < WIDTH {
        bar.push('>');
        bar.push_str(&" ".repeat(WIDTH - filled - 1));
    }
    bar.push(']');
    bar
}

fn sizes(done: u64, total: u64) -> String {
    format!("{}/{}", human(done), human(total))
}

/// A size in decimal units with four significant digits, as Docker prints them
/// (`512B`, `12.35kB`, `3.4MB`).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    let decimals = if value >= 1000.0 {
        0
    } else if value >= 100.0 {
        1
    } else if value >= 10.0 {
        2
    } else {
        3
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pull_steps(display: &Display<Vec<u8>>) {
        display.text("latest: Pulling from library/app");
        display.update("aaaaaaaaaaaa", "Already exists", None);
        display.update("bbbbbbbbbbbb", "Pulling fs layer", None);
        display.update("bbbbbbbbbbbb", "Downloading", Some((1_200_000, 3_400_000)));
        display.update("bbbbbbbbbbbb", "Downloading", Some((1_200_000, 3_400_000)));
        display.update("bbbbbbbbbbbb", "Downloading", Some((3_400_000, 3_400_000)));
        display.update("bbbbbbbbbbbb", "Verifying Checksum", None);
        display.update("bbbbbbbbbbbb", "Download complete", None);
        display.update("bbbbbbbbbbbb", "Extracting", None);
        display.update("bbbbbbbbbbbb", "Pull complete", None);
        display.text("Status: Downloaded newer image for app:latest");
    }

    #[test]
    fn plain_lines_print_each_status_change_once_without_bars() {
        let display = Display::new(Shape::Lines, Vec::new());
        pull_steps(&display);
        let out = String::from_utf8(display.into_inner()).unwrap();
        assert_eq!(
            out,
            "latest: Pulling from library/app\n\
             aaaaaaaaaaaa: Already exists\n\
             bbbbbbbbbbbb: Pulling fs layer\n\
             bbbbbbbbbbbb: Verifying Checksum\n\
             bbbbbbbbbbbb: Download complete\n\
             bbbbbbbbbbbb: Extracting\n\
             bbbbbbbbbbbb: Pull complete\n\
             Status: Downloaded newer image for app:latest\n"
        );
        assert!(!out.contains('\x1b') && !out.contains('['));
    }

    #[test]
    fn a_terminal_gets_the_block_redrawn_in_place_with_bars() {
        let display = Display::new(Shape::Terminal, Vec::new());
        pull_steps(&display);
        let out = String::from_utf8(display.into_inner()).unwrap();
        let frames: Vec<&str> = out.split("\x1b[").collect();
        // The header, then the first layer alone, then both lines redrawn after going
        // up over the one (then two) already drawn.
        assert!(
            out.starts_with(
                "latest: Pulling from library/app\n\x1b[2Kaaaaaaaaaaaa: Already exists\n"
            ),
            "{out:?}"
        );
        assert!(out.contains("\x1b[1A\x1b[2Kaaaaaaaaaaaa: Already exists\n\x1b[2Kbbbbbbbbbbbb: Pulling fs layer\n"), "{out:?}");
        let half = format!(
            "\x1b[2A\x1b[2Kaaaaaaaaaaaa: Already exists\n\x1b[2Kbbbbbbbbbbbb: Downloading [{}>{}] 1.2MB/3.4MB\n",
            "=".repeat(17),
            " ".repeat(32)
        );
        assert!(out.contains(&half), "{out:?}");
        // The repeated byte count drew nothing new.
        assert_eq!(out.matches("1.2MB/3.4MB").count(), 1, "{out:?}");
        assert!(out.contains(&format!("Downloading [{}] 3.4MB/3.4MB\n", "=".repeat(50))));
        assert!(out.ends_with("\x1b[2Kbbbbbbbbbbbb: Pull complete\nStatus: Downloaded newer image for app:latest\n"), "{out:?}");
        assert!(frames.len() > 8);
    }

    #[test]
    fn quiet_writes_nothing() {
        let display = Display::new(Shape::Quiet, Vec::new());
        pull_steps(&display);
        assert!(display.into_inner().is_empty());
    }

    #[test]
    fn sizes_read_like_dockers() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(512), "512B");
        assert_eq!(human(12_346), "12.35kB");
        assert_eq!(human(3_400_000), "3.4MB");
        assert_eq!(human(1_000_000_000), "1GB");
        assert_eq!(bar(0, 0), format!("[{}]", "=".repeat(50)));
        assert_eq!(bar(0, 10), format!("[>{}]", " ".repeat(49)));
    }
}
