//! Terminal cell widths: CJK characters take two cells (张三 is 4 cells wide),
//! so truncation and padding count cells with unicode-width, never bytes or chars.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` cut to at most `max` cells, ending in `…` when something was cut.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `s` truncated to `cells` and padded with spaces to exactly `cells`.
pub fn fit(s: &str, cells: usize) -> String {
    let mut out = truncate(s, cells);
    let w = width(&out);
    out.extend(std::iter::repeat_n(' ', cells.saturating_sub(w)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_counts_two_cells() {
        assert_eq!(width("张三"), 4);
        assert_eq!(fit("张三", 6), "张三  ");
        assert_eq!(truncate("欧阳娜娜华东", 7), "欧阳娜…");
        assert_eq!(width(&truncate("欧阳娜娜华东", 6)), 5);
        assert_eq!(truncate("Alexander", 5), "Alex…");
        assert_eq!(fit("abc", 2), "a…");
    }
}
