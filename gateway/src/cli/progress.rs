//! The progress display of the long commands (`store migrate`, `backup`,
//! `restore`): one line on stderr, drawn only when stderr is a terminal
//! and the command prints no JSON, so scripts and logs never see it.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Whether to draw: stderr is a terminal and `--json` was not given.
pub(crate) fn wanted(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// A progress line on stderr, or one that draws nothing (`visible` false);
/// it starts as a spinner labelled `prefix`.
pub(crate) fn line(visible: bool, prefix: &'static str) -> ProgressBar {
    let target = if visible { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(None, target);
    bar.set_style(spinner());
    bar.set_prefix(prefix);
    if visible {
        // Redrawn while a single step takes long (one large tenant, the
        // gateway writing a backup before the first byte).
        bar.enable_steady_tick(Duration::from_millis(200));
    }
    bar
}

/// A spinner, the time so far and a message: for a wait of unknown length.
pub(crate) fn spinner() -> ProgressStyle {
    style("{spinner} {prefix:8} {elapsed} {wide_msg}")
}

/// Bytes against a known total: the bar, the rate and the time left.
pub(crate) fn bytes() -> ProgressStyle {
    style(
        "{prefix:8} [{bar:20}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta} {wide_msg}",
    )
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}
