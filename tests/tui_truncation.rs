//! Truncation is explicit: in every console snapshot (every screen, en and
//! zh, 80×24 and 120×40), text that reaches a border or the terminal's edge
//! ends in `…`, or is a wrapped line (or a key bar line) that the next row
//! continues. Text cut by the frame without a mark — a hint, a footer, the
//! last line of a box — fails here. CJK text has no word boundaries, so the
//! rule is about the mark, not about where the cut falls.

use std::path::Path;

const BOX: &[char] = &['│', '┌', '┐', '└', '┘', '─', '├', '┤'];

/// The rendered rows of one insta snapshot: each line's text between its
/// first quote and its closing one (insta leaves inner quotes as they are).
fn rows(snapshot: &str) -> Vec<String> {
    snapshot
        .lines()
        .filter(|l| l.starts_with('"'))
        .map(|l| {
            let end = l
                .find("\" Hidden by multi-width symbols")
                .unwrap_or_else(|| l.rfind('"').unwrap_or(l.len()));
            l[1..end.max(1)].to_string()
        })
        .collect()
}

/// The parts of a row between vertical borders (a popup over a screen has
/// its own); every part but the last ends at a border, the last at the edge.
fn parts(row: &str) -> Vec<&str> {
    row.split('│').collect()
}

/// The index of the longest part (a popup's inside).
fn longest(parts: &[&str]) -> usize {
    (0..parts.len())
        .max_by_key(|&k| parts[k].chars().count())
        .unwrap_or(0)
}

/// Rows with text that reaches a border or the edge without `…` and is not
/// continued (the same part of the next row starts with text).
fn silent_cuts(rows: &[String]) -> Vec<String> {
    let mut cuts = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let here = parts(row);
        // A popup over a screen covers what is under it: only its own text counts.
        let plain =
            here.len() <= 2 || (here.len() == 3 && here[0].is_empty() && here[2].is_empty());
        let popup = (!plain).then(|| longest(&here));
        for (k, part) in here.iter().enumerate() {
            if popup.is_some_and(|p| p != k) {
                continue;
            }
            let last = part.chars().last().unwrap_or(' ');
            if last == ' ' || last == '…' || BOX.contains(&last) || part.trim().is_empty() {
                continue;
            }
            let continued = rows.get(i + 1).is_some_and(|next| {
                let next = parts(next);
                next.len() == here.len()
                    && next[k]
                        .chars()
                        .next()
                        .is_some_and(|c| c != ' ' && !BOX.contains(&c))
            });
            if !continued {
                cuts.push(row.clone());
            }
        }
    }
    cuts
}

#[test]
fn every_clipped_string_in_every_snapshot_ends_in_an_ellipsis() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests/snapshots") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("tui_snapshots__") || !name.ends_with(".snap") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read snapshot");
        let rows = rows(&text);
        assert!(!rows.is_empty(), "{name} has no rendered rows");
        checked += 1;
        for cut in silent_cuts(&rows) {
            failures.push(format!("{name}: {cut}"));
        }
    }
    assert!(checked >= 60, "only {checked} snapshots found");
    assert!(
        failures.is_empty(),
        "cut without `…`:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_rule_catches_a_cut_key_bar_and_spares_a_wrapped_paragraph() {
    let cut = vec![
        "r/F5 reset  u/F6 unlock  c/F7 calibrate  e/F4 emergency  x/F12 drill  g/F8 jou"
            .to_string(),
    ];
    assert_eq!(silent_cuts(&cut).len(), 1);
    let marked = vec![
        "r/F5 reset  u/F6 unlock  c/F7 calibrate  e/F4 emergency  x/F12 drill  g/F8 jo…"
            .to_string(),
    ];
    assert!(silent_cuts(&marked).is_empty());
    let wrapped = vec![
        "│• 登录失败锁定（3 次错误，2-3 分钟）保存在 Redis（PASSWORD_ERROR_CACHE_KEY+用户│"
            .to_string(),
        "│名）中；数据库无法解除。                                                      │"
            .to_string(),
    ];
    assert!(silent_cuts(&wrapped).is_empty());
    let last_line_cut = vec![
        "│the hidden one explains that status 2 means not activated, the only reason an│"
            .to_string(),
        "│                                                                              │"
            .to_string(),
    ];
    assert_eq!(silent_cuts(&last_line_cut).len(), 1);
}
