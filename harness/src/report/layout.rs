//! Text geometry for the SVG: a deterministic estimate of how wide a label is,
//! so labels are placed (and tested) never to overlap without a font at hand.
//!
//! The estimate is per character in em of a sans-serif face, on the wide side
//! of common fonts (DejaVu Sans, Liberation Sans, Arial): narrow punctuation
//! 0.32, digits and lower case 0.62, upper case 0.74, `m`/`w`/`M`/`W` 0.92,
//! anything else (arrows, `·`, `µ`) 0.8. A label is boxed from 0.8 em above its
//! baseline to 0.25 em below it.

/// A label's box, in SVG user units (y grows downwards).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBox {
    /// Left edge.
    pub x0: f64,
    /// Top edge.
    pub y0: f64,
    /// Right edge.
    pub x1: f64,
    /// Bottom edge.
    pub y1: f64,
}

impl TextBox {
    /// The box of `text` drawn at (`x`, `y`) with this `size` and `text-anchor`
    /// (`start`, `middle` or `end`).
    pub fn of(text: &str, x: f64, y: f64, size: f64, anchor: &str) -> Self {
        let width = text_width(text, size);
        let x0 = match anchor {
            "middle" => x - width / 2.0,
            "end" => x - width,
            _ => x,
        };
        Self {
            x0,
            y0: y - 0.8 * size,
            x1: x0 + width,
            y1: y + 0.25 * size,
        }
    }

    /// Whether the two boxes share any area.
    pub fn overlaps(&self, other: &TextBox) -> bool {
        self.x0 < other.x1 && other.x0 < self.x1 && self.y0 < other.y1 && other.y0 < self.y1
    }
}

/// The estimated width of `text` at font size `size`.
pub fn text_width(text: &str, size: f64) -> f64 {
    text.chars().map(char_em).sum::<f64>() * size
}

fn char_em(c: char) -> f64 {
    match c {
        'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | ' ' | '(' | ')' | '['
        | ']' | 'f' | 't' | 'r' | '-' => 0.32,
        'm' | 'w' | 'M' | 'W' | '@' | '%' => 0.92,
        'A'..='Z' => 0.74,
        'a'..='z' | '0'..='9' => 0.62,
        c if c.is_ascii() => 0.62,
        _ => 0.8,
    }
}

/// `text` cut to fit `width` at `size`, ending in `…` if it was cut.
pub fn truncate(text: &str, width: f64, size: f64) -> String {
    if text_width(text, size) <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    let budget = width - text_width("…", size);
    for c in text.chars() {
        if text_width(&out, size) + char_em(c) * size > budget {
            break;
        }
        out.push(c);
    }
    let trimmed = out.trim_end();
    format!("{trimmed}…")
}

/// `text` broken at spaces into lines at most `width` wide (a word longer than
/// the width is cut, see [`truncate`]).
pub fn wrap(text: &str, width: f64, size: f64) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let candidate = if line.is_empty() {
            word.to_owned()
        } else {
            format!("{line} {word}")
        };
        if text_width(&candidate, size) <= width || line.is_empty() {
            line = candidate;
        } else {
            lines.push(std::mem::take(&mut line));
            line = word.to_owned();
        }
    }
    lines.push(line);
    lines
        .into_iter()
        .map(|l| truncate(&l, width, size))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_follow_the_anchor() {
        let start = TextBox::of("ab", 100.0, 50.0, 10.0, "start");
        let end = TextBox::of("ab", 100.0, 50.0, 10.0, "end");
        let middle = TextBox::of("ab", 100.0, 50.0, 10.0, "middle");
        assert_eq!((start.x0, start.x1), (100.0, 112.4));
        assert_eq!((end.x0, end.x1), (87.6, 100.0));
        assert!((middle.x0 - 93.8).abs() < 1e-9);
        assert!(start.overlaps(&middle) && !start.overlaps(&end));
        let below = TextBox::of("ab", 100.0, 61.0, 10.0, "start");
        assert!(
            !start.overlaps(&below),
            "11 units apart at size 10 do not touch"
        );
    }

    #[test]
    fn long_text_is_cut_or_wrapped_to_the_width() {
        let text = "step 0 · degrade between us-east, eu-west latency=0s→2s loss=0%→64%";
        let cut = truncate(text, 120.0, 11.0);
        assert!(
            cut.ends_with('…') && text_width(&cut, 11.0) <= 120.0,
            "{cut}"
        );
        assert_eq!(truncate("short", 120.0, 11.0), "short");
        let lines = wrap(text, 150.0, 11.0);
        assert!(lines.len() > 2, "{lines:?}");
        assert!(
            lines.iter().all(|l| text_width(l, 11.0) <= 150.0),
            "{lines:?}"
        );
        assert_eq!(lines.join(" "), text);
    }
}
