//! Redis-style glob matching (`*`, `?`, `[abc]`, `[^a-z]`, `\x`), as KEYS, SCAN MATCH and
//! CONFIG GET use it. Works on bytes: keys are binary.

/// True when `text` matches `pattern`.
///
/// Iterative with backtracking to the last `*` only: every other token consumes exactly
/// one byte, so this is O(len(pattern) * len(text)) and patterns like `a*a*a*a*b` cannot
/// blow up.
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                _ => {
                    if let Some(next) = match_one(&pattern[p..], text[t]) {
                        p += next;
                        t += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((star_p, star_t)) => {
                p = star_p + 1;
                t = star_t + 1;
                star = Some((star_p, star_t + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Matches one text byte against the token at the start of `p` (not `*`); returns how
/// many pattern bytes the token used.
fn match_one(p: &[u8], c: u8) -> Option<usize> {
    match p {
        [b'?', ..] => Some(1),
        [b'[', rest @ ..] => {
            let (matched, after) = match_class(rest, c);
            matched.then_some(p.len() - after.len())
        }
        [b'\\', e, ..] => (*e == c).then_some(2),
        [x, ..] => (*x == c).then_some(1),
        [] => None,
    }
}

/// Matches one character against a `[...]` class; returns the pattern after the class.
fn match_class(mut p: &[u8], c: u8) -> (bool, &[u8]) {
    let negate = p.first() == Some(&b'^');
    if negate {
        p = &p[1..];
    }
    let mut matched = false;
    loop {
        match p {
            [] => break,
            [b']', rest @ ..] => {
                p = rest;
                break;
            }
            [b'\\', e, rest @ ..] => {
                matched |= *e == c;
                p = rest;
            }
            [a, b'-', b, rest @ ..] if *b != b']' => {
                let (lo, hi) = if a <= b { (*a, *b) } else { (*b, *a) };
                matched |= (lo..=hi).contains(&c);
                p = rest;
            }
            [x, rest @ ..] => {
                matched |= *x == c;
                p = rest;
            }
        }
    }
    (matched != negate, p)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn redis_glob_semantics() {
        assert!(matches(b"*", b""));
        assert!(matches(b"h?llo", b"hello"));
        assert!(matches(b"h*llo", b"heeeello"));
        assert!(matches(b"h[ae]llo", b"hallo"));
        assert!(!matches(b"h[^e]llo", b"hello"));
        assert!(matches(b"h[a-b]llo", b"hbllo"));
        assert!(matches(b"h[b-a]llo", b"hallo"));
        assert!(matches(b"a\\*b", b"a*b"));
        assert!(!matches(b"a\\*b", b"axb"));
        assert!(!matches(b"foo", b"foobar"));
        assert!(matches(b"*bar", b"foobar"));
        assert!(!matches(b"[", b"a"));
        assert!(matches(b"user:*:name", b"user:42:name"));
    }

    #[test]
    fn pathological_patterns_terminate() {
        let pattern = b"a*a*a*a*a*a*a*a*a*a*a*a*b".to_vec();
        let text = vec![b'a'; 40];
        assert!(!matches(&pattern, &text));
    }
}
