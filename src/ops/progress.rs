//! One progress-bar style for every command that draws bars (import, export, fsck,
//! pull, sync): a label right-aligned in 8 columns, a 30-column `=> ` bar, then the
//! count — bytes with their rate and time left, or items as `done/total`:
//!
//! ```text
//!    bytes [=========>                    ] 312.50 MiB/1.02 GiB 84.12 MiB/s eta 9s
//!   images [=====>                        ] 3/17
//! ```
//!
//! Bars are drawn on stderr, and only when it is a terminal and the command's
//! output is not `--json`; otherwise they are hidden and cost nothing.

use std::io::IsTerminal as _;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// What a bar counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Items,
}

/// Whether bars are drawn: stderr is a terminal, and stdout is not a `--json` report.
pub fn shown(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// The style of every bar counting `unit`.
pub fn style(unit: Unit) -> ProgressStyle {
    let template = match unit {
        Unit::Bytes => "{prefix:>8} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        Unit::Items => "{prefix:>8} [{bar:30}] {pos}/{len}",
    };
    ProgressStyle::with_template(template)
        .expect("valid template")
        .progress_chars("=> ")
}

/// A bar labelled `label` counting `unit` up to `len` (0: set later), drawn on
/// stderr when `show`, else hidden.
pub fn bar(show: bool, label: &str, unit: Unit, len: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    b.set_style(style(unit));
    b.set_prefix(label.to_owned());
    b
}

/// Several bars drawn together (bytes and images), on stderr when `show`: add each
/// with [`add`]. Keep it alive as long as its bars.
pub fn group(show: bool) -> MultiProgress {
    MultiProgress::with_draw_target(if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    })
}

/// A bar of `group`, as [`bar`] makes it.
pub fn add(group: &MultiProgress, show: bool, label: &str, unit: Unit, len: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    group.add(bar(show, label, unit, len))
}
