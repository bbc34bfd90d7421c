//! What the benchmarks print: the machine, progress lines, and the final
//! table of figures beside their references.
// Each benchmark uses its own part of this.
#![allow(dead_code)]

use std::time::Duration;

pub struct Figure {
    pub name: String,
    pub outbox: String,
    pub reference: String,
    /// outbox cost / reference cost; `None` when the reference was skipped.
    pub ratio: Option<f64>,
    pub target: &'static str,
    /// `None`: no target, or the reference was skipped.
    pub met: Option<bool>,
}

/// `  machine: N core(s) (nproc), CPU: model`.
pub fn machine_line() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    format!("  machine: {cores} core(s) (nproc), CPU: {cpu}")
}

pub fn print_table(figures: &[Figure]) {
    let head = ["figure", "outbox", "reference", "ratio", "target", "met?"];
    let rows: Vec<[String; 6]> = figures
        .iter()
        .map(|f| {
            [
                f.name.clone(),
                f.outbox.clone(),
                f.reference.clone(),
                f.ratio
                    .map(|r| format!("{r:.2}"))
                    .unwrap_or_else(|| "–".into()),
                f.target.to_string(),
                match f.met {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "–",
                }
                .to_string(),
            ]
        })
        .collect();
    let mut widths = head.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| {
                let pad = w.saturating_sub(c.chars().count());
                format!("{c}{}", " ".repeat(pad))
            })
            .collect();
        println!("{}", padded.join(" | ").trim_end());
    };
    line(&head.map(String::from));
    line(&widths.map(|w| "-".repeat(w)));
    for row in &rows {
        line(row);
    }
}

pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

pub fn progress(what: &str) {
    eprintln!("[bench] {what}");
}
