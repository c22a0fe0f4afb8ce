//! Rewrites the results table of `benches/README.md` (between the
//! `<!-- results:begin -->` and `<!-- results:end -->` markers) from the
//! rows the benches recorded in `target/bench-results/`, with the machine
//! they ran on. `bash benches/run` runs the suite and then this.

use std::path::PathBuf;
use wasmclaw_benches::{Row, Status, results_dir};

const BEGIN: &str = "<!-- results:begin -->";
const END: &str = "<!-- results:end -->";

fn main() {
    if let Err(e) = run() {
        eprintln!("bench-report: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let dir = results_dir();
    let mut rows: Vec<Row> = Vec::new();
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("{}: {e} (run the benches first)", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut more: Vec<Row> =
                serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            rows.append(&mut more);
        }
    }
    if rows.is_empty() {
        return Err(format!("no result in {}", dir.display()));
    }
    rows.sort_by_key(|r| sort_key(&r.id));

    let mut table = String::new();
    table.push_str(&format!("{BEGIN}\n\n{}\n\n", machine()));
    table.push_str("| # | what | figure | baseline in the same run | ratio | goal | status |\n");
    table.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
    for r in &rows {
        let status = match r.status {
            Status::Met => "met",
            Status::Missed => "**missed**",
            Status::Reported => "reported",
        };
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.id, r.what, r.figure, r.baseline, r.ratio, r.goal, status
        ));
    }
    table.push_str(&format!("\n{END}"));

    let readme = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = std::fs::read_to_string(&readme).map_err(|e| format!("{}: {e}", readme.display()))?;
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        return Err(format!("{} has no {BEGIN} … {END} markers", readme.display()));
    };
    if e < b {
        return Err(format!("{}: the markers are out of order", readme.display()));
    }
    let new = format!("{}{}{}", &text[..b], table, &text[e + END.len()..]);
    std::fs::write(&readme, new).map_err(|e| format!("{}: {e}", readme.display()))?;
    println!("rewrote {} ({} rows)", readme.display(), rows.len());
    Ok(())
}

/// `"10b"` → (10, "b"), so rows sort by number, then letter.
fn sort_key(id: &str) -> (u32, String) {
    let digits: String = id.chars().take_while(char::is_ascii_digit).collect();
    (digits.parse().unwrap_or(u32::MAX), id[digits.len()..].to_string())
}

/// The machine and toolchain, one line.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_string())))
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or_else(|| "?".to_string(), |kib| format!("{:.0} GiB", kib as f64 / 1048576.0));
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "Machine: {cpu}, {cores} cores, {mem}, Linux {}, {rustc}, wasmtime 48.0.8; run {date}.",
        kernel.trim()
    )
}
