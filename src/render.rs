//! Human-readable text for the terminal.

use outbox_engine::{JobView, Status};
use std::fmt::Write;

/// "what failed: because: because", on one line.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = match cause.downcast_ref::<outbox_engine::Error>() {
            // The command line's own way to start afresh, named.
            Some(outbox_engine::Error::CorruptDatabase { path, reason }) => format!(
                "the database {} is damaged or is not an Outbox database ({reason}); it was left untouched: `outbox repair --fresh-database` keeps it as a copy and starts a fresh one",
                path.display()
            ),
            _ => cause.to_string(),
        };
        // An error that prints its source already ("cannot open X: why")
        // is not followed by that source again.
        if !parts.last().is_some_and(|last| last.ends_with(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{:.1} s", ms as f64 / 1000.0),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

fn name_of(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

pub fn status(status: &Status) -> String {
    let c = &status.counts;
    let mut out =
        format!(
        "pending {}  processing {}  completed {}  failed {}  paused {}  cancelled {}  total {}{}\n",
        c.pending,
        c.processing,
        c.completed,
        c.failed,
        c.paused,
        c.cancelled,
        c.total,
        if status.queue_paused { "  (queue paused)" } else { "" }
    );
    let cost = status.cost;
    if cost.spent > 0.0 || cost.to_spend > 0.0 {
        let _ = writeln!(
            out,
            "AI images: {:.2} spent, {:.2} to spend",
            cost.spent, cost.to_spend
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    for cool in &status.cool_downs {
        let _ = writeln!(
            out,
            "cooling down: {} {} starts nothing for {} more, as its server asked: {}",
            cool.of,
            cool.name,
            duration((cool.until - now).max(0) as u64),
            cool.reason
        );
    }
    if !status.in_flight.is_empty() {
        out.push_str("now:\n");
        for job in &status.in_flight {
            let bytes = match job.bytes_total {
                Some(total) if total > 0 => format!("  {}/{} bytes", job.bytes_sent, total),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  job {:<6} {:<8} {} → {}  for {}{bytes}",
                job.id,
                job.phase.as_str(),
                name_of(&job.source),
                job.destination,
                duration(job.elapsed_ms)
            );
        }
    }
    if !status.batches.is_empty() {
        out.push_str("batches:\n");
        for b in &status.batches {
            let eta = b
                .eta_ms
                .map(|ms| format!(", about {} left", duration(ms)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  batch {:<4} {:?}: {}/{} finished ({} failed){}{}{}",
                b.id,
                b.name,
                b.counts.finished(),
                b.counts.total,
                b.counts.failed,
                if b.sequential { ", in order" } else { "" },
                if b.paused { ", paused" } else { "" },
                eta
            );
        }
    }
    out
}

pub fn job_line(job: &JobView) -> String {
    let detail = match (&job.remote, &job.error) {
        (Some(remote), _) if remote.url.is_some() => remote.url.clone().unwrap_or_default(),
        (_, Some(error)) => format!("{}: {}", error.class.as_str(), error.message),
        _ => String::new(),
    };
    format!(
        "job {:<6} {:<10} {} → {}  attempts {}/{}{}  {}",
        job.id,
        job.state.as_str(),
        name_of(&job.source),
        job.destination,
        job.attempts,
        job.max_attempts,
        if job.manual_retries > 0 {
            format!(" (+{} manual)", job.manual_retries)
        } else {
            String::new()
        },
        detail
    )
}
