//! Screenshots compared with committed references.
//!
//! Each screenshot is saved under `target/dashboard-screens/` and compared
//! with `gateway/tests/dashboard-screens/<name>.png`: the same size, and at
//! most [`TOLERANCE`] of the pixels differing by more than a little (text
//! that changes from run to run is blanked first: `data-volatile`).
//! `WASMCLAW_UPDATE_SCREENS=1` writes the references anew.

use super::webdriver::Browser;
use serde_json::json;
use std::path::PathBuf;

/// The share of pixels that may differ.
const TOLERANCE: f64 = 0.005;
/// How far a channel may be off before its pixel counts as different.
const CHANNEL_SLACK: u8 = 24;

fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8() | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Blanks the volatile text, takes a screenshot and compares it.
pub fn check(b: &Browser, name: &str) {
    b.exec(
        "document.querySelectorAll('[data-volatile]').forEach(e => e.textContent = '-'); return true;",
        json!([]),
    );
    let shot = b.screenshot();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("../target/dashboard-screens");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join(format!("{name}.png")), &shot).unwrap();
    let reference = root.join("tests/dashboard-screens").join(format!("{name}.png"));
    if std::env::var("WASMCLAW_UPDATE_SCREENS").as_deref() == Ok("1") {
        std::fs::create_dir_all(reference.parent().unwrap()).unwrap();
        std::fs::write(&reference, &shot).unwrap();
        return;
    }
    let Ok(expected) = std::fs::read(&reference) else {
        panic!(
            "no reference screenshot {}: run with WASMCLAW_UPDATE_SCREENS=1 and commit it",
            reference.display()
        );
    };
    let (w, h, got) = decode(&shot);
    let (ew, eh, want) = decode(&expected);
    assert_eq!((w, h), (ew, eh), "{name}: the screenshot's size changed");
    let differing = got
        .chunks(4)
        .zip(want.chunks(4))
        .filter(|(a, b)| a.iter().zip(b.iter()).any(|(x, y)| x.abs_diff(*y) > CHANNEL_SLACK))
        .count();
    let share = differing as f64 / f64::from(w * h);
    assert!(
        share <= TOLERANCE,
        "{name}: {:.2}% of the pixels differ from the reference (at most {:.2}%); see target/dashboard-screens/{name}.png",
        share * 100.0,
        TOLERANCE * 100.0
    );
}
